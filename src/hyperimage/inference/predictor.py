"""One way in for Python users: ``hyperimage.load(name_or_folder)`` gives a :class:`Predictor`.

A predictor scores and explains images in whatever form a Python program holds them, and
reads each exactly as ``hyperimage score FILE`` reads a file, so the numbers agree::

    import hyperimage
    iqa = hyperimage.load("iqa")                 # or "forgery", or a model folder
    iqa.score("photo.jpg")                       # a float, clipped to iqa.info.range
    iqa.score([pil_image, uint8_array, tensor])  # a list of floats
    e = iqa.explain("photo.jpg")                 # e.score, e.cells (U, V), e.heat (H, W), e.overlay

Every input becomes the model's ``(C, H, W)`` by the path a file takes: a Pillow image (any
mode, EXIF orientation applied) through :func:`hyperimage.data.io.image_array`, the
conversion :func:`~hyperimage.data.io.load_image` applies to every file; a uint8 array as the
Pillow image it is; a float array or tensor in [0, 1] by the same rules in floating point
(grey to RGB by repetition, RGB to grey by ITU-R 601-2 luma as Pillow does, alpha over
white); then :func:`~hyperimage.inference.model.image_tensor` scales it down to the model's
maximum size (Lanczos, as for files), the model's preprocessing runs image by image, and
images of one size are scored in one batch (:func:`~hyperimage.inference.scoring.score_tensors`).
Nothing is random: the same image always gets the same score.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Sequence, Union

import numpy as np
import torch
from PIL import Image

from hyperimage.data.io import ImageError, Mode, check_size, image_array, load_image
from hyperimage.distributed import local_device
from hyperimage.inference.explain import HeatScale, cell_values, heat_scale, render_overlay, save_png, to_pixels
from hyperimage.inference.model import HyperImageModel, ModelConfig, clip_range, image_tensor, read_model_json
from hyperimage.inference.scoring import same_size, score_tensors
from hyperimage.storage import CONFIG, FORENSIC_FORMAT, is_model_dir, model_format

if TYPE_CHECKING:
    from hyperimage.inference.evidence.model import ForensicModel
    from hyperimage.inference.evidence.predictor import ForensicPredictor

#: The models shipped inside the package, one folder per name.
SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "models"

#: Each shipped model's name and what it is for, in a few words; its score's name, range and
#: direction are read from its ``config.json`` (:func:`list_models`).
SHIPPED = {
    "iqa": "no-reference quality of photos, trained on LIVE In the Wild Challenge's human opinion scores",
    "forgery": "whether a photo is authentic or spliced / copy-moved, trained on CASIA v1",
    "forensic": "whether and where a photo was tampered, from forensic evidence read at its own size, "
                "trained on CASIA v1 re-saved alike at JPEG quality 75",
}

#: The model card a model folder may hold (its text is :attr:`ModelInfo.card`).
MODEL_CARD = "MODEL_CARD.md"

#: One image as :meth:`Predictor.score` takes it: a file path, an encoded file's bytes or an
#: open binary stream, a Pillow image, a NumPy array ``(H, W)`` / ``(H, W, C)`` or a tensor
#: ``(C, H, W)``; a tensor ``(B, C, H, W)`` or a list of these is several images.
Input = Union[str, os.PathLike, bytes, BinaryIO, Image.Image, np.ndarray, torch.Tensor]

#: Channels an array or tensor may have: grey, RGB, RGBA (alpha composited over white, as for files).
CHANNELS = (1, 3, 4)

#: ITU-R 601-2 luma weights, what Pillow's ``convert("L")`` applies to RGB.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def direction(config: ModelConfig) -> str:
    """``"higher is better"`` or ``"lower is better"``, for a model's score."""
    return "higher is better" if config.score.higher_is_better else "lower is better"


def describe(config: ModelConfig, score_range: tuple[float | None, float | None]) -> str:
    """One line saying what a model's score means: name, range (:attr:`HyperImageModel.score_range`),
    direction, method, preset."""
    low, high = score_range
    span = f"range [{low:.4g}, {high:.4g}]" if low is not None and high is not None else "no fixed range"
    return f"{config.score.name}: {span}, {direction(config)} ({config.method}, preset {config.preset})"


@dataclass(frozen=True)
class ModelInfo:
    """What a model's score means, for a program to read (:attr:`Predictor.info`).

    ``range`` is ``(low, high)``, what scores are clipped to (an end is None where the model
    declares none); ``card`` is the text of the folder's ``MODEL_CARD.md``, where it has one;
    ``threshold`` is the score from which a classifier calls an image class 1 (authentic)
    where the model chose one on validation images (a forensic model), None otherwise.
    """

    name: str
    task: str
    score_name: str
    range: tuple[float | None, float | None]
    higher_is_better: bool
    preset: str
    method: str
    description: str
    card: str | None = None
    folder: Path | None = None
    threshold: float | None = None

    @property
    def direction(self) -> str:
        """``"higher is better"`` or ``"lower is better"``."""
        return "higher is better" if self.higher_is_better else "lower is better"


@dataclass(frozen=True, eq=False)
class Explanation:
    """Where a model sees damage (or tampering) in one image, and its score.

    ``cells`` is the ``(U, V)`` grid of :func:`~hyperimage.inference.explain.cell_values` in
    the model's units and direction, ``heat`` the ``(H, W)`` map of :func:`to_pixels` (NaN
    outside the grid) and ``image`` the ``(H, W)`` or ``(H, W, 3)`` picture in [0, 1] that the
    model saw: the input upright and scaled down to the model's maximum size if larger, so
    ``heat`` lies on ``image`` pixel for pixel. ``scale`` is the fixed colour scale of the
    model and read-out (:func:`~hyperimage.inference.explain.heat_scale`).
    """

    score: float
    cells: np.ndarray
    heat: np.ndarray
    image: np.ndarray
    scale: HeatScale
    readout: str
    description: str
    name: str | None = None

    @property
    def title(self) -> str:
        """The overlay's title: the image's name (where known), its score and what the score means."""
        head = f"{self.name}: score {self.score:.3f}" if self.name else f"score {self.score:.3f}"
        return f"{head}\n{self.description}"

    @cached_property
    def overlay(self) -> Image.Image:
        """The heat map drawn over the image with its colour bar, as an RGB Pillow image.

        Drawn on first use (matplotlib, about 0.1 s), so that a program wanting only the
        arrays does not pay for it; :func:`~hyperimage.inference.explain.render_overlay`
        draws it, as ``hyperimage explain`` does.
        """
        return render_overlay(self.image, self.heat, self.scale, self.title)

    def save(self, path: str | os.PathLike) -> Path:
        """Write :attr:`overlay` as a PNG to ``path``."""
        return save_png(path, self.overlay)


def _device(device: str | torch.device | None) -> torch.device:
    return device if isinstance(device, torch.device) else local_device(device)


def input_name(x: Any) -> str | None:
    """The file name an input carries: a path's, an open file's, or a Pillow image's read from a file."""
    if isinstance(x, (str, os.PathLike)):
        return Path(x).name
    if isinstance(x, Image.Image):
        name = getattr(x, "filename", None)
    elif hasattr(x, "read"):
        name = getattr(x, "name", None)
    else:
        return None
    return Path(name).name if isinstance(name, str) and name else None


def _kind(x: Any) -> str:
    """What errors call an input held in memory: its kind, and its file name where it has one."""
    if isinstance(x, Image.Image):
        kind = "PIL image"
    elif isinstance(x, np.ndarray):
        kind = "array"
    elif isinstance(x, torch.Tensor):
        kind = "tensor"
    elif isinstance(x, (bytes, bytearray)):
        kind = "bytes"
    elif hasattr(x, "read"):
        kind = "stream"
    else:
        kind = type(x).__name__
    name = input_name(x)
    return f"{kind} {name}" if name else kind


def labelled_inputs(images: Input | Sequence[Input]) -> tuple[list[tuple[str, Any]], bool]:
    """``(label, image)`` of every image in ``images``, and whether it was a single image.

    A list (or tuple) or a ``(B, C, H, W)`` tensor is several images; a 4-D tensor in a list
    adds its ``B`` images. Labels are what errors name: the path for a file, else the input's
    kind, numbered in a list (``input 2 (array)``).
    """
    single = not isinstance(images, (list, tuple)) and not (isinstance(images, torch.Tensor) and images.ndim == 4)
    parts = [images] if single or isinstance(images, torch.Tensor) else list(images)
    items: list[Any] = []
    for part in parts:
        items.extend(part.unbind(0) if isinstance(part, torch.Tensor) and part.ndim == 4 else [part])
    labelled = []
    for i, x in enumerate(items):
        if isinstance(x, (str, os.PathLike)):
            labelled.append((str(x), x))
        else:
            labelled.append((_kind(x) if single else f"input {i} ({_kind(x)})", x))
    return labelled, single


def _float_image(arr: np.ndarray, mode: str) -> np.ndarray:
    """A float ``(H, W, C)`` image in [0, 1] (C 1, 3 or 4) in ``mode`` (``L``: (H, W); ``RGB``: (H, W, 3)),
    by Pillow's rules in floating point: alpha over white, grey repeated, RGB to luma."""
    if arr.shape[2] == 4:
        alpha = arr[..., 3:]
        arr = arr[..., :3] * alpha + (1.0 - alpha)
    if arr.shape[2] == 1:
        return arr[..., 0] if mode == "L" else np.repeat(arr, 3, axis=2)
    return arr @ LUMA if mode == "L" else arr


def image_of(x: Input, label: str = "image", mode: Mode = "RGB", min_size: tuple[int, int] = (1, 1), orient: bool = True) -> np.ndarray:
    """One input as a float image in [0, 1], ``(H, W)`` (``mode`` ``L``) or ``(H, W, 3)``, at its
    own size: a file, bytes or a stream through :func:`~hyperimage.data.io.load_image`, a
    Pillow image through :func:`~hyperimage.data.io.image_array`, a uint8 array as the Pillow
    image it is, a float array or tensor in [0, 1] by the same rules in floating point.
    ``orient``: apply the EXIF orientation (forensic evidence reads the pixels as stored).

    Raises :class:`~hyperimage.data.io.ImageError` (a ValueError; one line naming ``label``,
    or the file) for a bad image or one smaller than ``min_size``, TypeError for a type it
    cannot read.
    """
    if isinstance(x, (str, os.PathLike)):
        return load_image(Path(x), mode, min_size, orient=orient)
    if isinstance(x, (bytes, bytearray)):
        x = io.BytesIO(bytes(x))
    if hasattr(x, "read") and hasattr(x, "seek"):
        return load_image(x, mode, min_size, name=label, orient=orient)
    if isinstance(x, Image.Image):
        return image_array(x, mode, min_size, label, orient)
    if isinstance(x, torch.Tensor):
        if x.ndim != 3 or x.shape[0] not in CHANNELS:
            raise ImageError(label, f"tensor of shape {tuple(x.shape)}; give (C, H, W) or (B, C, H, W) with C 1, 3 or 4")
        x = x.detach().cpu()
        if x.dtype not in (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ImageError(label, f"tensor of dtype {str(x.dtype).removeprefix('torch.')}; give float in [0, 1] (or uint8 in 0-255)")
        x = (x if x.dtype in (torch.uint8, torch.float32, torch.float64) else x.float()).permute(1, 2, 0).numpy()
        return _array(x, label, "tensor", mode, min_size)
    if isinstance(x, np.ndarray):
        if x.ndim == 2:
            x = x[..., None]
        elif x.ndim != 3 or x.shape[2] not in CHANNELS:
            hint = "; channels first? use arr.transpose(1, 2, 0)" if x.ndim == 3 and x.shape[0] in CHANNELS else ""
            many = "; for several images pass a list" if x.ndim == 4 else ""
            raise ImageError(label, f"array of shape {x.shape}; give (H, W) or (H, W, C) with C 1, 3 or 4{hint}{many}")
        return _array(x, label, "array", mode, min_size)
    raise TypeError(
        f"{label}: cannot score a {type(x).__name__}; give a path, bytes, a binary stream, a PIL image, "
        "a NumPy array (H, W[, C]) or a tensor (C, H, W) / (B, C, H, W), or a list of these"
    )


def _array(arr: np.ndarray, label: str, kind: str, mode: Mode, min_size: tuple[int, int]) -> np.ndarray:
    """An ``(H, W, C)`` array (from an array or a tensor): uint8 as the Pillow image it is,
    float in [0, 1] by the same rules in floating point."""
    if arr.dtype == np.uint8:
        return image_array(Image.fromarray(np.ascontiguousarray(arr[..., 0] if arr.shape[2] == 1 else arr)), mode, min_size, label)
    if not np.issubdtype(arr.dtype, np.floating):
        hint = " (16-bit? divide by 65535.0, or pass it as a PIL image)" if arr.dtype == np.uint16 else ""
        raise ImageError(label, f"{kind} of dtype {arr.dtype}; give uint8 (0-255) or float (0-1){hint}")
    check_size(arr, min_size, label)
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ImageError(label, f"{kind} holds NaN or infinity")
    low, high = float(arr.min()), float(arr.max())
    if low < 0.0 or high > 1.0:
        hint = "; 0-255 values? divide by 255.0 or pass uint8" if high > 1.0 and high <= 255.0 and low >= 0.0 else ""
        raise ImageError(label, f"float {kind} with values {low:g} to {high:g}; give values in [0, 1]{hint}")
    return _float_image(arr, mode)


class Predictor:
    """A loaded model that scores and explains images given as files, Pillow images, arrays or tensors.

    Made by :func:`load` (``hyperimage.load``). Calling it is :meth:`score`. ``info`` says what
    the score means; ``higher_is_better`` / ``lower_better`` its direction (as pyiqa's metrics
    carry ``lower_better``); ``model`` is the :class:`HyperImageModel` itself.

    Thread safety: a predictor holds one model; use it from one thread at a time (the web
    server keeps a lock per model).
    """

    def __init__(self, model: HyperImageModel, name: str | None = None, folder: str | os.PathLike | None = None):
        self.model = model.eval()
        self.folder = None if folder is None else Path(folder)
        self.name = name or (str(self.folder) if self.folder is not None else model.config.preset)

    def __repr__(self) -> str:
        return f"Predictor({self.name!r}: {describe(self.model.config, self.model.score_range)}; {self.device})"

    @property
    def device(self) -> torch.device:
        """Where the model's weights are; inputs are moved there."""
        return self.model.device

    def to(self, device: str | torch.device | None) -> "Predictor":
        """Move the model to ``device`` (``cpu``, ``cuda``, ``mps``, ``auto``/None); returns ``self``."""
        self.model.to(_device(device))
        return self

    @property
    def higher_is_better(self) -> bool:
        """Whether a higher score means a better image (or for forgery, more likely authentic)."""
        return self.model.config.score.higher_is_better

    @property
    def lower_better(self) -> bool:
        """``not higher_is_better``, under the name pyiqa's metrics use."""
        return not self.higher_is_better

    @cached_property
    def info(self) -> ModelInfo:
        """Task, score name, range, direction, preset, method and model card of this model."""
        c = self.model.config
        card = self.folder / MODEL_CARD if self.folder is not None else None
        return ModelInfo(
            name=self.name,
            task=c.task,
            score_name=c.score.name,
            range=self.model.score_range,
            higher_is_better=c.score.higher_is_better,
            preset=c.preset,
            method=c.method,
            description=describe(c, self.model.score_range),
            card=card.read_text(encoding="utf-8") if card is not None and card.is_file() else None,
            folder=self.folder,
        )

    # --- inputs ---------------------------------------------------------------------

    def prepare(self, x: Input, label: str = "image") -> torch.Tensor:
        """One input as the model's ``(C, H, W)`` float tensor, before preprocessing, as a file would be read.

        Raises :class:`~hyperimage.data.io.ImageError` (a ValueError; one line naming
        ``label``, or the file) for a bad image, TypeError for a type it cannot score.
        """
        return image_tensor(image_of(x, label, self.model.config.image_mode, self.model.grid.min_size), self.model.grid)

    # --- scoring ----------------------------------------------------------------------

    def score(self, images: Input | Sequence[Input], batch_size: int = 16) -> float | list[float]:
        """The model's score of one image (a float) or of several (a list of floats, in order).

        ``images``: a path, an encoded file's bytes or a binary stream, a Pillow image, an
        array ``(H, W)`` / ``(H, W, C)`` (uint8 in 0-255 or float in 0-1; C 1, 3 or 4), a
        tensor ``(C, H, W)`` (one image) or ``(B, C, H, W)`` (several), or a list of these.
        Scores are clipped to ``info.range`` and equal ``hyperimage score FILE`` on the same
        file. Up to ``batch_size`` images are decoded at a time; those of one size are scored
        in one batch.

        Raises
        ------
        ImageError
            (a ValueError) one line naming the bad image (the file, or ``input 2 (array)``)
            and what is wrong: unreadable, too small for one patch, a dtype, shape or value
            range it cannot take. Nothing is scored then.
        TypeError
            An input of a type it cannot score.
        """
        items, single = labelled_inputs(images)
        prep = self.model.preprocess
        scores: list[float] = []
        for start in range(0, len(items), max(1, batch_size)):
            chunk = [prep(self.prepare(x, label)[None])[0] for label, x in items[start : start + batch_size]]
            scores += score_tensors(self.model, chunk)
        return scores[0] if single else scores

    __call__ = score

    def explain(
        self, images: Input | Sequence[Input], readout: str = "patch", batch_size: int = 16
    ) -> Explanation | list[Explanation]:
        """Score and heat map of one image (an :class:`Explanation`) or of several (a list).

        ``readout``: ``patch`` (each grid cell's stage-1 score) or ``gradient`` (each cell's
        pull on the stage-2 score), as ``hyperimage explain --readout``; inputs as in
        :meth:`score`, whose scores these equal.
        """
        items, single = labelled_inputs(images)
        model, scale = self.model, heat_scale(self.model, readout)
        description = describe(model.config, model.score_range)
        out: list[Explanation] = []
        for start in range(0, len(items), max(1, batch_size)):
            chunk = items[start : start + batch_size]
            tensors = [self.prepare(x, label) for label, x in chunk]
            found: dict[int, Explanation] = {}
            for members in same_size(tensors):
                x = torch.stack([tensors[i] for i in members])
                with torch.no_grad():
                    hyper = model.hyper_image(x.to(model.device))
                    values = model.clip(model.aggregate(hyper)).tolist()
                cells = cell_values(model, hyper, readout).cpu()
                heat = to_pixels(model, cells, x.shape[2], x.shape[3])[:, 0].numpy()
                for k, i in enumerate(members):
                    shown = x[k].permute(1, 2, 0).numpy()
                    found[i] = Explanation(
                        score=float(values[k]), cells=cells[k].numpy(), heat=heat[k],
                        image=shown[..., 0] if shown.shape[2] == 1 else shown, scale=scale, readout=readout,
                        description=description, name=input_name(chunk[i][1]),
                    )
            out += [found[i] for i in range(len(chunk))]
        return out[0] if single else out


def shipped_folder(name: str) -> Path:
    """The folder of the shipped model ``name`` (``iqa``, ``forgery``, ``forensic``); ValueError if it is not installed."""
    if name not in SHIPPED:
        raise ValueError(f"unknown model {name!r}: the shipped models are {', '.join(SHIPPED)}")
    folder = SHIPPED_MODELS / name
    if not is_model_dir(folder):
        raise ValueError(f"no default {name} model is installed ({folder}); pass a model folder")
    return folder


def load(
    name_or_folder: "str | os.PathLike | HyperImageModel | ForensicModel", device: str | torch.device | None = None, precision: str = "float32"
) -> "Predictor | ForensicPredictor":
    """A :class:`Predictor` for a shipped model (``"iqa"``, ``"forgery"``, ``"forensic"``) or a model folder.

    A string that names a shipped model (:func:`list_models`) is that model; anything else
    is a folder (``Path("iqa")`` or ``"./iqa"`` for a folder of that name), checked before
    use (:meth:`HyperImageModel.load`). A folder of a forensic evidence model (its
    ``config.json`` says ``format: hyperimage-forensic``, as ``hyperimage train-evidence``
    writes it) gives a :class:`~hyperimage.inference.evidence.predictor.ForensicPredictor`,
    used alike. A :class:`HyperImageModel` or forensic model already loaded is wrapped as it is. ``device``:
    ``cpu``, ``cuda``, ``mps`` or ``auto`` / None (CUDA where available, else the CPU); None
    leaves a given model where it is. ``precision``: ``float32``, or ``bfloat16`` where the
    device has it natively (:mod:`~hyperimage.inference.precision`; two-stage models only).

    Raises
    ------
    ValueError
        One line: a path that is no folder, not a model folder, or a broken one; a precision
        the device or the model cannot score in.
    """
    from hyperimage.inference.evidence.model import ForensicModel
    from hyperimage.inference.evidence.predictor import ForensicPredictor

    if isinstance(name_or_folder, HyperImageModel):
        predictor = Predictor(name_or_folder)
        predictor = predictor if device is None else predictor.to(device)
        predictor.model.set_precision(precision)
        return predictor
    if isinstance(name_or_folder, ForensicModel):
        name_or_folder.set_precision(precision)
        forensic = ForensicPredictor(name_or_folder)
        return forensic if device is None else forensic.to(device)
    if isinstance(name_or_folder, str) and name_or_folder in SHIPPED:
        name, folder = name_or_folder, shipped_folder(name_or_folder)
    else:
        folder = Path(name_or_folder)
        name = str(folder)
        if not folder.exists():
            shipped = f", and not a shipped model ({', '.join(SHIPPED)})" if isinstance(name_or_folder, str) else ""
            raise ValueError(f"{folder}: no such model folder{shipped}")
    model = load_folder(folder)
    if isinstance(model, HyperImageModel):
        predictor = Predictor(model, name, folder).to(device)
        predictor.model.set_precision(precision)
        return predictor
    model.set_precision(precision)
    return ForensicPredictor(model, name, folder).to(device)


def load_folder(folder: str | os.PathLike) -> "HyperImageModel | ForensicModel":
    """The model saved in ``folder``, checked before use: a forensic evidence model where its
    ``config.json`` says ``format: hyperimage-forensic``
    (:meth:`~hyperimage.inference.evidence.model.ForensicModel.load`), else a two-stage one
    (:meth:`HyperImageModel.load`). ValueError with one line if anything is wrong."""
    if model_format(folder) == FORENSIC_FORMAT:
        from hyperimage.inference.evidence.model import ForensicModel

        return ForensicModel.load(folder)
    return HyperImageModel.load(folder)


def list_models() -> dict[str, str]:
    """The shipped models, name -> one line: what each is for, its score, range and direction.

    Read from each model's ``config.json`` alone (no weights are loaded); a model missing
    from this installation is left out. ``hyperimage models`` prints them.
    """
    out = {}
    for name, purpose in SHIPPED.items():
        folder = SHIPPED_MODELS / name
        if not is_model_dir(folder):
            continue
        if model_format(folder) == FORENSIC_FORMAT:
            from hyperimage.inference.evidence.model import describe_forensic, read_forensic_json

            args = read_forensic_json(folder / CONFIG)
            out[name] = f"{purpose}; {describe_forensic(args['channels'], args['threshold'], args['learned_model'] is not None)}"
        else:
            config, fitted = read_model_json(folder / CONFIG)
            out[name] = f"{purpose}; {describe(config, clip_range(config.score, fitted))}"
    return out


__all__ = [
    "Explanation", "Input", "ModelInfo", "Predictor", "describe", "direction", "list_models", "load", "load_folder", "shipped_folder",
]
