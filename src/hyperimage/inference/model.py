"""The two-stage hyper-image model (Eq. 1) and its patch-averaging baseline.

``forward`` is the method in four steps: preprocess the image, cut the Eq. 2 patch grid,
compute stage-1 features of every patch and lay them on the grid (the hyper-image), and
run stage 2. The patch-averaging baseline replaces stage 2 with the mean of the stage-1
patch scores over the grid, so both are trained and evaluated by the same code.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hyperimage import __version__, lock
from hyperimage.data.io import load_image
from hyperimage.inference import networks, preprocess, tasks
from hyperimage.inference.grid import PatchGrid, gather_windows
from hyperimage.inference.hyper_image import chunk_size, lay_on_grid, stage1_features
from hyperimage.inference.precision import check_precision, computing_in
from hyperimage.storage import (
    CONFIG, FORENSIC_FORMAT, WEIGHTS, load_tensors, looks_like_model_dir, write_model_folder,
)

#: Method name -> whether it runs stage 2: ``two-stage`` runs stage 2 over the hyper-image (Eq. 1);
#: ``patch-average`` is the paper's baseline that averages stage 1's cell scores instead.
METHODS = {"two-stage": True, "patch-average": False}

#: The version of the saved model format: 2 keeps what training fits (:class:`Fitted`) apart
#: from the configuration; a folder without a version (format 1) still loads (:func:`read_model_json`).
FORMAT_VERSION = 2

#: Bounds a saved config must keep to be loaded (inclusive): the patch side, the grid's
#: cells per side and the largest image side, in pixels (16384^2 is :data:`io.MAX_PIXELS`).
#: They keep a damaged or hostile ``config.json`` from asking for terabytes.
PATCH_BOUNDS = (1, 1024)
GRID_BOUNDS = (1, 256)
SIZE_BOUNDS = (1, 16384)


@dataclass
class ScoreSpec:
    """What a model's score means: its range and direction.

    Scores are clipped to ``[low, high]``: the task's own range where it has one, else
    (``None``) the range of the training targets, so a model never reports values outside
    what it learnt.
    """

    name: str = "score"
    low: float | None = None
    high: float | None = None
    higher_is_better: bool = True


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json`` beside its weights.

    What a user chooses (a preset writes it; :class:`Fitted` holds what training then fits).
    ``method``: one of :data:`METHODS`. ``task``: ``"regression"`` (a score, e.g. quality) or
    ``"classification"`` (stage 2 gives a logit; the score is the probability of class 1,
    e.g. "authentic" for forgery); :mod:`hyperimage.inference.tasks`.
    ``stage1_data``: the training phase stage 1 learns from by default
    (:mod:`hyperimage.training.phases`), e.g. ``"windows"`` (grid windows labelled by the
    ``window_labels`` rule), ``"contour-pairs"`` (the forgery experiment's Siamese ranking of
    authentic/tampered patch pairs cut along the tampering's contour) or ``"cells"`` (every
    grid cell of whole images through the fast path, for a stage 1 over a pre-trained trunk).
    ``score``: its name and direction, and its range where the task fixes one.
    """

    method: str = "two-stage"
    task: str = "regression"
    stage1_data: str = "windows"
    stage1: str = "synthetic-stage1"
    stage1_args: dict[str, Any] = field(default_factory=dict)
    stage2: str = "synthetic-stage2"
    stage2_args: dict[str, Any] = field(default_factory=dict)
    patch: int = 32
    grid: tuple[int, int] = (10, 10)
    max_size: tuple[int, int] = (128, 128)
    channels: int = 1
    preprocess: str = "none"
    window_labels: str = "image"
    window_label_args: dict[str, Any] = field(default_factory=dict)
    score: ScoreSpec = field(default_factory=ScoreSpec)
    preset: str = "synthetic"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {tuple(METHODS)}, got {self.method!r}")
        if self.task not in tasks.available():
            raise ValueError(f"task must be one of {tuple(tasks.available())}, got {self.task!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        self.grid = tuple(self.grid)
        self.max_size = tuple(self.max_size)
        if isinstance(self.score, dict):
            self.score = ScoreSpec(**self.score)

    @property
    def image_mode(self) -> str:
        """Pillow mode images are read in: ``"L"`` or ``"RGB"``."""
        return "L" if self.channels == 1 else "RGB"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return cls(**data)


@dataclass
class Fitted:
    """What training fits from its data, apart from what a user configures (:class:`ModelConfig`).

    ``stage1_norm`` / ``stage2_norm``: the ``(shift, scale)`` that map each stage's outputs
    back to target units (training standardises the targets; for classification stage 2
    keeps ``(0, 1)``); ``score_range``: the training targets' ``(low, high)``, what scores
    are clipped to where the task declares no range of its own (``ScoreSpec.low/high``).
    """

    stage1_norm: tuple[float, float] = (0.0, 1.0)
    stage2_norm: tuple[float, float] = (0.0, 1.0)
    score_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        self.stage1_norm = tuple(self.stage1_norm)
        self.stage2_norm = tuple(self.stage2_norm)
        self.score_range = None if self.score_range is None else tuple(self.score_range)


def clip_range(score: ScoreSpec, fitted: Fitted) -> tuple[float | None, float | None]:
    """``(low, high)`` scores are clipped to: ``score``'s declared range, else the training
    targets' (:attr:`Fitted.score_range`); an end is None where neither gives one."""
    trained = fitted.score_range or (None, None)
    return (score.low if score.low is not None else trained[0], score.high if score.high is not None else trained[1])


#: Metadata key of ``model.safetensors``: the parts whose weights come from the package.
SHIPPED = "shipped"


class HyperImageModel(nn.Module):
    """Stage 1 + hyper-image + stage 2 (or patch averaging), built from a :class:`ModelConfig`
    and, once trained, what training fitted (:class:`Fitted`)."""

    def __init__(self, config: ModelConfig, fitted: Fitted | None = None):
        super().__init__()
        self.config = config
        self.fitted = fitted or Fitted()
        self.task = tasks.get(config.task)
        self.preprocess = preprocess.get(config.preprocess)
        self.stage1 = networks.create_stage1(config.stage1, in_channels=config.channels, patch=config.patch, **config.stage1_args)
        self.grid = PatchGrid(config.patch, config.grid, config.max_size, align=getattr(self.stage1, "grid_step", 1))
        self.precision = "float32"
        self.stage2: nn.Module | None = None
        if METHODS[config.method]:
            self.stage2 = networks.create(
                config.stage2, in_features=self.stage1.num_features, grid=config.grid, **config.stage2_args
            )

    def patch_average(self) -> "HyperImageModel":
        """The paper's patch-averaging baseline over a copy of this model's stage 1: each image
        scored by the mean of its cell scores, in window-label units until ``stage2_norm`` is
        fitted to map that mean to the targets (the ranking of images needs no fit)."""
        baseline = HyperImageModel(replace(self.config, method="patch-average"), copy.deepcopy(self.fitted))
        baseline.fitted.stage2_norm = (0.0, 1.0)
        baseline.stage1.load_state_dict(self.stage1.state_dict())
        return baseline.eval()

    @property
    def score_range(self) -> tuple[float | None, float | None]:
        """``(low, high)`` scores are clipped to: the task's declared range, else the training
        targets' (:attr:`Fitted.score_range`); an end is None where neither gives one."""
        return clip_range(self.config.score, self.fitted)

    @property
    def device(self) -> torch.device:
        """Where the weights are (inputs must be moved there)."""
        return next(self.parameters()).device

    def set_precision(self, name: str) -> "HyperImageModel":
        """Score in ``name`` (:data:`~hyperimage.inference.precision.PRECISIONS`) from now on,
        on the device the model is on; float32 unless set. Not saved with the model."""
        self.precision = check_precision(name, self.device)
        return self

    def grid_features(self, x: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
        """Stage-1 features of the patches at ``rows`` x ``cols`` of preprocessed images.

        ``(B, C, H, W)`` -> ``(B, U, V, D)``. A :class:`~hyperimage.inference.networks.GridStage1`
        computes them in one fully convolutional pass (the fast path); otherwise the
        patches are cut out a few images at a time (as many as fill one stage-1 chunk, at
        least one: a 15 x 15 grid of 64-px RGB patches is 11 MB per image) and pushed
        through stage 1 in channels-last chunks (:func:`~hyperimage.inference.hyper_image.stage1_features`).
        """
        if isinstance(self.stage1, networks.GridStage1):
            return self.stage1.grid_features(x, torch.as_tensor(rows), torch.as_tensor(cols))
        p = self.grid.patch
        per = max(1, chunk_size(x.shape[1] * p * p) // (len(rows) * len(cols)))
        return torch.cat([stage1_features(self.stage1, gather_windows(x[i : i + per], rows, cols, p)) for i in range(0, x.shape[0], per)])

    def hyper_image(self, images: torch.Tensor, preprocessed: bool = False) -> torch.Tensor:
        """Images ``(B, C, H, W)`` (all one size) -> hyper-image ``(B, D, U, V)``.

        ``preprocessed``: the images already went through :attr:`preprocess` (which works
        image by image), e.g. in the decoding workers of :func:`~hyperimage.inference.scoring.score_files`.
        """
        rows, cols = self.grid.origins(images.shape[2], images.shape[3])
        with computing_in(self.precision, self.device):
            features = self.grid_features(images if preprocessed else self.preprocess(images), rows, cols)
        return lay_on_grid(features.float())

    def cell_scores(self, hyper: torch.Tensor) -> torch.Tensor:
        """Stage-1 patch scores of every grid cell, in window-label units.

        Hyper-image ``(B, D, U, V)`` -> ``(B, U, V)``; this is also the heat map of where
        stage 1 sees artefacts.
        """
        b, d, u, v = hyper.shape
        shift, scale = self.fitted.stage1_norm
        return shift + scale * self.stage1.head(hyper.permute(0, 2, 3, 1).reshape(-1, d)).view(b, u, v)

    def aggregate_raw(self, hyper: torch.Tensor) -> torch.Tensor:
        """Stage-2 output (normalised units), or the mean patch score for patch averaging."""
        if self.stage2 is None:
            return self.cell_scores(hyper).mean(dim=(1, 2))
        return self.stage2(hyper)

    def aggregate(self, hyper: torch.Tensor) -> torch.Tensor:
        """Image score ``(B,)`` from a hyper-image: in the units of the training targets, or
        for classification the probability of class 1 (the sigmoid of the stage-2 logit)."""
        shift, scale = self.fitted.stage2_norm
        with computing_in(self.precision, self.device):
            raw = self.aggregate_raw(hyper)
        out = shift + scale * raw.float()
        return self.task.activate(out)

    def forward(self, images: torch.Tensor, preprocessed: bool = False) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> raw image scores ``(B,)`` (Eq. 1); ``preprocessed`` as in :meth:`hyper_image`."""
        return self.aggregate(self.hyper_image(images, preprocessed))

    def clip(self, scores: torch.Tensor) -> torch.Tensor:
        """Clip raw scores to the model's declared range."""
        return scores.clamp(*self.score_range)

    def save(self, folder: str | Path, half: bool = False, extras: Callable[[Path], Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``folder``, whole.

        The folder is written as one (:func:`~hyperimage.storage.write_model_folder`): ``extras``,
        if given, adds files (splits, a training report) to the new folder before it
        replaces the old one, so a reader never sees weights without their config or
        splits of another model. Other files already in ``folder`` (a model card) are kept.
        ``half`` stores floating-point weights as float16: half the file, for shipping a
        model; they are read back into float32, so scores move only slightly (the model
        cards give the measured change). A part whose weights are still exactly the
        package's own (a frozen ImageNet trunk, :meth:`shipped_parts`) is not copied: the
        file names it and :meth:`load` takes its weights from the package (an 18 MB trunk
        then adds nothing to a model file).
        """
        shipped = [name for name, part in self.shipped_parts().items() if _holds(part, part.shipped_weights())]
        state = {
            k: (v.half() if half and v.is_floating_point() else v).cpu()
            for k, v in self.state_dict().items() if not _under(k, shipped)
        }
        config = {"format": "hyperimage", "format_version": FORMAT_VERSION, "version": __version__, **self.config.to_dict(), "fitted": asdict(self.fitted)}
        return write_model_folder(folder, state, {"format": "hyperimage", "version": __version__, SHIPPED: shipped}, config, extras)

    @classmethod
    def load(cls, folder: str | Path) -> "HyperImageModel":
        """Rebuild a model saved by :meth:`save`, checking everything first; no pickle is involved.

        Raises
        ------
        ValueError
            One line naming the folder or file: not a model folder, a folder being written
            by a training run or left incomplete by one, a config that breaks the schema or
            :data:`GRID_BOUNDS` etc., or weights that are not a whole safetensors file of
            finite floating-point tensors of the shapes the config needs.
        """
        folder = Path(folder)
        check_model_folder(folder)
        config, fitted = read_model_json(folder / CONFIG)
        try:
            model = cls(config, fitted)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{folder / CONFIG}: cannot build this model ({err})") from None
        tensors, meta = load_tensors(folder / WEIGHTS, kind="model file")
        parts = model.shipped_parts()
        shipped = meta.get(SHIPPED, [])
        if not isinstance(shipped, list) or not all(isinstance(n, str) and n in parts for n in shipped):
            raise ValueError(f"{folder / WEIGHTS}: not a valid model file (it refers to package weights {shipped!r}; "
                             f"this model's parts with package weights are {sorted(parts)})")
        for name in shipped:
            parts[name].load_state_dict(parts[name].shipped_weights())
        expected = {k: v for k, v in model.state_dict().items() if not _under(k, shipped)}
        check_weights(folder / WEIGHTS, tensors, expected)
        model.load_state_dict(tensors, strict=False)  # exactly ``expected``: the rest came from the package
        return model.eval()

    def shipped_parts(self) -> dict[str, nn.Module]:
        """Sub-modules that can give the weights the package ships for them (``shipped_weights()``), by name."""
        return {name: m for name, m in self.named_modules() if callable(getattr(m, "shipped_weights", None))}


def check_model_folder(folder: Path) -> None:
    """Refuse, with one line naming it, a folder that is no model folder, one a training run
    is writing (:func:`~hyperimage.lock.check_free`) or one without its config and weights."""
    if not looks_like_model_dir(folder):
        raise ValueError(f"{folder}: not a hyperimage model folder (needs {CONFIG} and {WEIGHTS})")
    lock.check_free(folder)
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise ValueError(f"incomplete model folder {folder}: no {name} (was the training run interrupted?)")


def _under(key: str, parts: list[str]) -> bool:
    """Whether state-dict ``key`` belongs to one of the sub-modules named ``parts``."""
    return any(key.startswith(f"{name}.") for name in parts)


def _holds(part: nn.Module, tensors: dict[str, torch.Tensor]) -> bool:
    """Whether ``part``'s state is exactly ``tensors`` (same names, values bit for bit)."""
    own = part.state_dict()
    return own.keys() == tensors.keys() and all(torch.equal(own[k].cpu(), tensors[k]) for k in own)


def read_image(path: str | Path, config: ModelConfig, grid: PatchGrid) -> torch.Tensor:
    """One validated image as ``(C, H, W)`` in the model's colour mode, scaled down to the
    grid's maximum size if needed: what scoring and training both feed the model."""
    return image_tensor(load_image(Path(path), mode=config.image_mode, min_size=grid.min_size), grid)


def image_tensor(image: np.ndarray, grid: PatchGrid) -> torch.Tensor:
    """A float image ``(H, W)`` or ``(H, W, C)`` in [0, 1] as the model's input ``(C, H', W')``:
    scaled down isotropically to the grid's maximum size if larger (:meth:`PatchGrid.fit_image`).

    The last step of :func:`read_image`, and of every in-memory image
    (:mod:`hyperimage.inference.predictor`), so both reach the model alike.
    """
    t = torch.from_numpy(np.ascontiguousarray(grid.fit_image(image)))
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def check_value(key: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot stand where ``default`` is, or None if it can (the schema is
    the type of each default, e.g. of :class:`ModelConfig`)."""
    if is_dataclass(default):
        if not isinstance(value, dict):
            return f"{key} must be an object, got {value!r}"
        known = {f.name: getattr(default, f.name) for f in fields(default)}
        for k, v in value.items():
            if k not in known:
                return f"unknown key {key}.{k}"
            if (why := check_value(f"{key}.{k}", v, known[k])) is not None:
                return why
        return None
    if isinstance(default, tuple):
        ok = isinstance(value, list) and len(value) == len(default)
        if ok and all(check_value(key, v, d) is None for v, d in zip(value, default)):
            return None
        kind = "whole numbers" if isinstance(default[0], int) else "finite numbers"
        return f"{key} must be a list of {len(default)} {kind}, got {value!r}"
    expected = {bool: (bool, "true or false"), str: (str, "a string"), dict: (dict, "an object"), int: (int, "a whole number")}
    if isinstance(default, (float, type(None))):
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if number or (default is None and value is None):
            return None
        return f"{key} must be a finite number{' or null' if default is None else ''}, got {value!r}"
    kind, words = expected[type(default)]
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return None
    return f"{key} must be {words}, got {value!r}"


def read_config(path: Path) -> ModelConfig:
    """The :class:`ModelConfig` of a model's ``config.json`` (:func:`read_model_json`)."""
    return read_model_json(path)[0]


def read_model_json(path: Path) -> tuple[ModelConfig, Fitted]:
    """Read and check a model's ``config.json``: every key known, of the schema's type,
    sizes within :data:`PATCH_BOUNDS`, :data:`GRID_BOUNDS` and :data:`SIZE_BOUNDS`; the
    configuration and, under ``fitted``, what training fitted.

    A file of format 1 (no ``format_version``: before :class:`Fitted` was kept apart) has the
    stage norms among the configuration and the training targets' range as the score's
    declared one; it reads as the same model.

    Raises ValueError: one line naming the file and the key.
    """
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    if data.get("format") == FORENSIC_FORMAT:
        raise ValueError(f"{path}: a forensic evidence model, not a two-stage one (hyperimage.load and `hyperimage score --model` read it)")
    version = data.pop("format_version", 1)
    if version not in (1, FORMAT_VERSION):
        raise ValueError(f"{path}: model format {version!r}; this hyperimage reads formats 1 to {FORMAT_VERSION} (a newer release wrote it?)")
    data = {k: v for k, v in data.items() if k not in ("format", "version")}
    fitted = _read_fitted(path, data.pop("fitted", {}) if version > 1 else
                          {k: data.pop(k) for k in ("stage1_norm", "stage2_norm") if k in data})
    defaults = ModelConfig()
    known = {f.name for f in fields(ModelConfig)}
    for key, value in data.items():
        why = f"unknown key {key!r}" if key not in known else check_value(key, value, getattr(defaults, key))
        if why is not None:
            raise ValueError(f"{path}: {why}")
    for key, bounds in (("patch", PATCH_BOUNDS), ("grid", GRID_BOUNDS), ("max_size", SIZE_BOUNDS)):
        values = data.get(key, getattr(defaults, key))
        if not all(bounds[0] <= v <= bounds[1] for v in (values if isinstance(values, (list, tuple)) else [values])):
            raise ValueError(f"{path}: {key} {values} is outside the bounds {bounds[0]}-{bounds[1]}")
    try:
        return ModelConfig.from_dict(data), fitted
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def _read_fitted(path: Path, data: Any) -> Fitted:
    """The ``fitted`` object of a ``config.json``, checked like the configuration."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: fitted must be an object, got {data!r}")
    defaults = {"stage1_norm": (0.0, 1.0), "stage2_norm": (0.0, 1.0), "score_range": (0.0, 1.0)}
    for key, value in data.items():
        if key not in defaults:
            raise ValueError(f"{path}: unknown key fitted.{key}")
        if not (key == "score_range" and value is None) and (why := check_value(f"fitted.{key}", value, defaults[key])):
            raise ValueError(f"{path}: {why}")
    return Fitted(**data)


def check_weights(path: Path, tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Check loaded weights against the tensors the config's model has: the same names and
    shapes, floating point where the model's are (else the same dtype), all finite.

    Raises ValueError: ``PATH: not a valid model file (reason)``, naming the first bad tensor.
    """

    def invalid(reason: str) -> ValueError:
        return ValueError(f"{path}: not a valid model file ({reason})")

    if missing := sorted(set(expected) - set(tensors)):
        raise invalid(f"no tensor {missing[0]!r}{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}; "
                      "made for another architecture?")
    if extra := sorted(set(tensors) - set(expected)):
        raise invalid(f"unexpected tensor {extra[0]!r}; made for another architecture?")
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape:
            raise invalid(f"tensor {name!r} has shape {list(got.shape)}, the config needs {list(want.shape)}")
        if want.is_floating_point() != got.is_floating_point() or (not want.is_floating_point() and got.dtype != want.dtype):
            raise invalid(f"tensor {name!r} is {str(got.dtype).removeprefix('torch.')}, "
                          f"needs {'floating point' if want.is_floating_point() else want.dtype}")
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise invalid(f"tensor {name!r} holds NaN or infinity")
