"""A forensic model: stage 2 over evidence channels, as a product that is saved, loaded and used.

The evidence channels (:mod:`hyperimage.inference.evidence`) need no training; what is trained
is how their cells combine: :class:`~hyperimage.inference.networks.evidence.EvidenceStage2`
over the forensic hyper-image, its inputs standardised per feature with statistics of the
training cells. A :class:`ForensicModel` holds all of it: the channels by name, the grid
cell, the standardisation ``(mean, std)``, the stage 2 and the operating threshold chosen on
validation images. Its score is the shipped forgery model's: the probability that the image
is authentic, in [0, 1], higher is better (authentic); its map is every cell's probability
of being tampered, on the image's stored grid at its own size.

Saved as a model folder: ``model.safetensors`` (stage 2's weights and the ``mean`` / ``std``
tensors) and ``config.json`` (``format: hyperimage-forensic``; the channels with their feature
names and, for a channel that reads a shipped model's weights, that model's name and the
SHA-256 of its weights file; the cell; stage 2's width and sharpness; the score's name, range
and direction; the threshold). A model whose ``learned`` channel reads a stage 1 of its own
(``hyperimage train-evidence --learned-model``, e.g. one learned from tampering made on the
fly) keeps that forgery model's ``config.json`` and ``model.safetensors`` in its folder, under
:data:`LEARNED_FOLDER`, with their SHA-256 in the config: such a model needs no shipped model
and outlives a new release of it. :meth:`ForensicModel.load` checks every part against what
this installation gives (no pickle): a channel that is no longer registered, one whose
features changed, a shipped model whose weights changed, a kept stage 1 that is missing or
changed, or tensors of other shapes is one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from hyperimage import __version__
from hyperimage.inference.evidence import CELL, CHANNELS, CellGrid, Channel, ChannelReading, Evidence, figures, read_channels, stack
from hyperimage.inference.evidence.learned import LearnedChannel
from hyperimage.inference.model import ScoreSpec, check_model_folder, check_value, check_weights
from hyperimage.inference.networks.evidence import EvidenceStage2
from hyperimage.inference.scoring import same_size
from hyperimage.storage import CONFIG, FORENSIC_FORMAT, WEIGHTS, load_tensors, write_model_folder

#: The version of the forensic model format (2: stage 2 may hold several members; 3: the
#: ``learned`` channel may read a stage 1 kept in the folder; folders of formats 1 and 2 still load).
FORMAT_VERSION = 3

#: The folder, inside a forensic model's, of the forgery model whose stage 1 its ``learned``
#: channel reads when it was trained with one of its own; it keeps that model's config and weights.
LEARNED_FOLDER = "learned-stage1"

#: The score of every forensic model: the probability that the image is authentic, as the shipped forgery model's.
SCORE = ScoreSpec(name="probability authentic", low=0.0, high=1.0, higher_is_better=True)

#: Bounds a saved config must keep (inclusive): the cell side in pixels, stage 2's width and members.
CELL_BOUNDS = (8, 1024)
WIDTH_BOUNDS = (1, 1024)
MEMBERS_BOUNDS = (1, 64)

#: Hyper-images scored in one batch (of one grid size).
BATCH = 32

#: Feature standardisation: ``(mean, std)`` per feature, each ``(D,)``.
Norm = tuple[np.ndarray, np.ndarray]


def standardise(hypers: Sequence[np.ndarray], norm: Norm) -> torch.Tensor:
    """Hyper-images ``(D, U, V)`` of one grid size as stage 2's input ``(B, D, U, V)``: each
    feature less its training mean, over its training standard deviation."""
    mean, std = (np.asarray(x, np.float32)[:, None, None] for x in norm)
    return torch.from_numpy(np.stack([(h - mean) / std for h in hypers]).astype(np.float32))


def predict(net: EvidenceStage2, norm: Norm, hypers: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probability authentic of each hyper-image ``(D, U, V)`` (any grid sizes), and its cells'
    probability tampered ``(U, V)``; those of one size go through ``net`` together."""
    scores, maps = np.zeros(len(hypers)), [np.zeros(0)] * len(hypers)
    net.eval()
    with torch.no_grad():
        for members in same_size(hypers):
            for start in range(0, len(members), BATCH):
                idx = members[start : start + BATCH]
                image, cells = net.outputs(standardise([hypers[k] for k in idx], norm).to(_device(net)))
                scores[idx] = torch.sigmoid(-image).cpu().numpy()
                for k, m in zip(idx, torch.sigmoid(cells).cpu().numpy()):
                    maps[k] = m
    return scores, maps


def given_tampered(score: float, cells: np.ndarray) -> np.ndarray:
    """Each cell's probability of being tampered given that the image is, ``(U, V)`` in [0, 1]:
    ``P(cell tampered) / P(image tampered)`` with ``P(image tampered) = 1 - score``. A cell is
    tampered only in a tampered image, so Bayes' rule reduces to that ratio; it is clipped to 1
    where stage 2's image and cell heads disagree. It says where the tampering is apart from
    how sure stage 2 is that there is any, which is what pixel F1 over tampered images asks
    (``benchmarks/evidence_casia.py``: on CASIA v1 re-saved at 75 it localises better than
    the probabilities themselves)."""
    return np.clip(np.asarray(cells, np.float32) / max(1.0 - float(score), 1e-6), 0.0, 1.0)


def describe_forensic(channels: Sequence[str], threshold: float, own_stage1: bool) -> str:
    """One line saying what a forensic model's score means (its channels, whether its ``learned``
    channel reads a stage 1 of its own, its threshold), as
    :func:`~hyperimage.inference.predictor.describe` says a two-stage model's."""
    own = " (its own stage 1)" if own_stage1 else ""
    return (f"{SCORE.name}: range [0, 1], higher is better (forensic evidence: stage 2 over "
            f"{', '.join(channels)}{own}; authentic from {threshold:.4g})")


def hyper_of(readings: Sequence[ChannelReading], shape: tuple[int, int]) -> np.ndarray:
    """The hyper-image ``(D, U, V)`` of channel readings on a grid of ``shape`` ``(U, V)``."""
    return stack(readings, shape).transpose(2, 0, 1)


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@lru_cache(maxsize=None)
def shipped_fingerprint(name: str) -> str:
    """SHA-256 of the weights file of the shipped model ``name``: what a channel reading its
    weights saw, recorded in a forensic model so that a changed model is noticed."""
    from hyperimage.inference.predictor import shipped_folder

    return hashlib.sha256((shipped_folder(name) / WEIGHTS).read_bytes()).hexdigest()


def fingerprint(path: Path) -> str:
    """SHA-256 of the file at ``path``, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def channel_entry(name: str, learned_model: Path | None = None) -> dict[str, Any]:
    """How ``config.json`` records the registered channel ``name``: its features and the shipped
    model it reads or, for ``learned`` with a stage 1 of its own (``learned_model``, a model
    folder), where the model folder keeps that stage 1 and the SHA-256 of its weights."""
    channel = CHANNELS.get(name)
    shipped = None if learned_model is not None and name == "learned" else channel.shipped_model
    entry = {
        "name": name,
        "features": list(channel.features),
        "shipped_model": None if shipped is None else {"name": shipped, "sha256": shipped_fingerprint(shipped)},
    }
    if learned_model is not None and name == "learned":
        entry["model"] = stage1_record(fingerprint(learned_model / WEIGHTS))
    return entry


def stage1_record(sha256: object) -> dict[str, Any]:
    """How ``config.json`` records a stage 1 kept in the model folder: where, and its weights' SHA-256."""
    return {"folder": LEARNED_FOLDER, "sha256": sha256}


#: The field of a ``hyperimage score --format json`` row that holds the evidence channels' figures.
ROW_FIELD = "channels"


def channel_row(path: Path, channels: Sequence[str], grid: CellGrid = CellGrid()) -> dict[str, Any]:
    """The extra fields of a scored file's JSON row: the named channels' image-level figures
    (:meth:`~hyperimage.inference.evidence.ChannelReading.figures`) under :data:`ROW_FIELD`,
    the file read as stored (:meth:`Evidence.read`)."""
    return {ROW_FIELD: figures(read_channels(Evidence.read(path), channels, grid))}


@dataclass(frozen=True)
class ForensicFiles:
    """A forensic model's :class:`~hyperimage.inference.scoring.FileScorer`: a file as its
    hyper-image (the channels read it as stored, in the decoding worker) and, where
    ``channels`` are named, their figures under :data:`ROW_FIELD` in its row (each channel
    read once, whether the model uses it or not)."""

    model: "ForensicModel"
    channels: tuple[str, ...] = ()

    def read(self, path: Path) -> tuple[np.ndarray, dict[str, Any] | None]:
        hyper, readings = self.model.read(Evidence.read(path), self.channels)
        return hyper, {ROW_FIELD: figures(readings)} if self.channels else None

    def score(self, items: Sequence[np.ndarray]) -> list[float]:
        return self.model.predict([np.asarray(h) for h in items])[0].tolist()  # the DataLoader hands arrays over as tensors


class ForensicModel(nn.Module):
    """Stage 2 over the named evidence ``channels`` (see the module docstring).

    ``norm``: the feature standardisation (zeros and ones until trained); ``threshold``: an
    image is called authentic when its score is at least this; ``cell``: the grid's cell side
    in pixels; ``width``, ``sharpness`` and ``members``: stage 2's
    (:class:`~hyperimage.inference.networks.evidence.EvidenceStage2`); ``learned_model``: the
    folder of a forgery model (a ``forgery-fast`` design) whose stage 1 the ``learned`` channel
    reads instead of the shipped model's, kept in the model's folder when it is saved.
    """

    def __init__(
        self, channels: Sequence[str], norm: Norm | None = None, threshold: float = 0.5, cell: int = CELL,
        width: int = 32, sharpness: float = 4.0, members: int = 1, learned_model: str | Path | None = None,
    ):
        super().__init__()
        if not channels:
            raise ValueError("a forensic model needs at least one evidence channel")
        if len(set(channels)) < len(channels):
            raise ValueError(f"evidence channels named twice: {', '.join(channels)}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"the threshold is a probability in [0, 1], got {threshold}")
        self.channels = tuple(channels)
        self.grid = CellGrid(cell)
        self.learned_model = None if learned_model is None else Path(learned_model)
        self.readers: dict[str, Channel] = {}
        if self.learned_model is not None:
            if "learned" not in self.channels:
                raise ValueError(f"a stage 1 for the learned channel was given ({self.learned_model}), but the model does not read that channel")
            self.readers["learned"] = LearnedChannel(self.learned_model)
            self.readers["learned"].stage1()  # refuses a folder without a 64-px fast path now, naming it
        depth = sum(len(CHANNELS.get(name).features) for name in self.channels)
        self.stage2 = EvidenceStage2(depth, width, sharpness, members=members)
        self.width, self.sharpness, self.members, self.threshold = width, sharpness, members, float(threshold)
        mean, std = norm if norm is not None else (np.zeros(depth, np.float32), np.ones(depth, np.float32))
        if np.shape(mean) != (depth,) or np.shape(std) != (depth,):
            raise ValueError(f"the standardisation needs {depth} means and deviations, got {np.shape(mean)} and {np.shape(std)}")
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))
        self.eval()

    @property
    def norm(self) -> Norm:
        """The feature standardisation ``(mean, std)`` as arrays ``(D,)``."""
        return self.mean.cpu().numpy(), self.std.cpu().numpy()

    @property
    def score_range(self) -> tuple[float, float]:
        """``(0, 1)``: a probability."""
        return SCORE.low, SCORE.high

    def set_precision(self, name: str) -> "ForensicModel":
        """As :meth:`~hyperimage.inference.model.HyperImageModel.set_precision`, but only
        ``float32``: the channels' features are NumPy's, and stage 2 is too small to gain."""
        if name != "float32":
            raise ValueError(f"--precision {name}: a forensic evidence model computes in float32 only, not {name}")
        return self

    @property
    def device(self) -> torch.device:
        """Where stage 2's weights are (the channels run on the CPU)."""
        return _device(self)

    @property
    def description(self) -> str:
        """One line saying what the score means, as :func:`~hyperimage.inference.predictor.describe` says a two-stage model's."""
        return describe_forensic(self.channels, self.threshold, self.learned_model is not None)

    def read(self, evidence: Evidence, channels: Sequence[str] = ()) -> tuple[np.ndarray, list[ChannelReading]]:
        """The forensic hyper-image ``(D, U, V)`` stage 2 reads, and the readings of the named
        ``channels`` besides (each channel reads ``evidence`` once, whether the model uses it or not;
        the model's own ``learned`` channel where it has one, the registered channels otherwise)."""
        needed = list(dict.fromkeys([*self.channels, *channels]))
        readings = dict(zip(needed, read_channels(evidence, [self.readers.get(n, n) for n in needed], self.grid)))
        return hyper_of([readings[n] for n in self.channels], self.grid.shape(*evidence.size)), [readings[n] for n in channels]

    def hyper_image(self, evidence: Evidence) -> np.ndarray:
        """The forensic hyper-image ``(D, U, V)`` stage 2 reads."""
        return self.read(evidence)[0]

    def predict(self, hypers: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores and cell maps of hyper-images ``(D, U, V)`` (:func:`predict`)."""
        return predict(self.stage2, self.norm, hypers)

    def forward(self, hyper: torch.Tensor) -> torch.Tensor:
        """Standardised hyper-images ``(B, D, U, V)`` -> probability authentic ``(B,)``."""
        return torch.sigmoid(self.stage2(hyper))

    def save(self, folder: str | Path, extras: Callable[[Path], Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``folder``, whole, as
        :meth:`HyperImageModel.save <hyperimage.inference.model.HyperImageModel.save>` writes
        a model (``extras`` adds files, e.g. the splits and the training report, to the new
        folder before it replaces the old one; a stage 1 of the model's own goes to
        :data:`LEARNED_FOLDER` first)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        config = {
            "format": FORENSIC_FORMAT, "format_version": FORMAT_VERSION, "version": __version__,
            "channels": [channel_entry(name, self.learned_model) for name in self.channels],
            "cell": self.grid.cell, "width": self.width, "sharpness": self.sharpness, "members": self.members,
            "score": asdict(SCORE), "threshold": self.threshold,
        }

        def with_stage1(tmp: Path) -> None:
            if self.learned_model is not None:
                (tmp / LEARNED_FOLDER).mkdir()
                for name in (CONFIG, WEIGHTS):
                    shutil.copyfile(self.learned_model / name, tmp / LEARNED_FOLDER / name)
            if extras is not None:
                extras(tmp)

        return write_model_folder(folder, state, {"format": FORENSIC_FORMAT, "version": __version__}, config, with_stage1)

    @classmethod
    def load(cls, folder: str | Path) -> "ForensicModel":
        """Rebuild a model saved by :meth:`save`, checking everything first; no pickle is involved.

        Raises
        ------
        ValueError
            One line naming the folder or file: not a model folder or an incomplete one, a
            ``config.json`` that is no JSON or breaks the schema, a channel this installation
            does not have or whose features (or shipped weights) changed since the model was
            trained, a stage 1 of its own that is missing or changed, or weights that are not a whole safetensors file of finite tensors of
            the shapes the config needs.
        """
        folder = Path(folder)
        check_model_folder(folder)
        args = read_forensic_json(folder / CONFIG)
        try:
            model = cls(**args)
        except ValueError as err:
            raise ValueError(f"{folder / CONFIG}: cannot build this model ({err})") from None
        tensors, _ = load_tensors(folder / WEIGHTS, kind="model file")
        if "stage2.bias" in tensors and tensors["stage2.bias"].ndim == 0:  # format 1: one member, a scalar bias
            tensors["stage2.bias"] = tensors["stage2.bias"].reshape(1)
        check_weights(folder / WEIGHTS, tensors, model.state_dict())
        if (tensors["std"] <= 0).any():
            raise ValueError(f"{folder / WEIGHTS}: not a valid model file (tensor 'std' holds a deviation <= 0)")
        model.load_state_dict(tensors)
        return model.eval()


def read_forensic_json(path: Path) -> dict[str, Any]:
    """Read and check a forensic model's ``config.json``; the arguments of :class:`ForensicModel`.

    Raises ValueError: one line naming the file and what is wrong.
    """

    def bad(why: str) -> ValueError:
        return ValueError(f"{path}: {why}")

    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad(f"not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORENSIC_FORMAT:
        raise bad(f"not a forensic model's config (its format must be {FORENSIC_FORMAT!r})")
    if data.get("format_version") not in range(1, FORMAT_VERSION + 1):
        raise bad(f"forensic model format {data.get('format_version')!r}; this hyperimage reads formats 1 to {FORMAT_VERSION}")
    schema = {"channels": [], "cell": 0, "width": 0, "sharpness": 0.0, "score": SCORE, "threshold": 0.0}
    own = path.parent / LEARNED_FOLDER
    if data["format_version"] > 1:
        schema["members"] = 0
    if unknown := sorted(set(data) - set(schema) - {"format", "format_version", "version"}):
        raise bad(f"unknown key {unknown[0]!r}")
    for key, default in schema.items():
        if key not in data:
            raise bad(f"no {key!r}")
        if not isinstance(default, list) and (why := check_value(key, data[key], default)):
            raise bad(why)
    if ScoreSpec(**data["score"]) != SCORE:
        raise bad(f"score must be {asdict(SCORE)}: a forensic model gives the probability that an image is authentic")
    for key, bounds in (("cell", CELL_BOUNDS), ("width", WIDTH_BOUNDS), ("members", MEMBERS_BOUNDS)):
        if key in data and not bounds[0] <= data[key] <= bounds[1]:
            raise bad(f"{key} {data[key]} is outside the bounds {bounds[0]}-{bounds[1]}")
    if not data["sharpness"] > 0 or not 0.0 <= data["threshold"] <= 1.0:
        raise bad(f"sharpness must be positive and threshold in [0, 1], got {data['sharpness']} and {data['threshold']}")
    channels = data["channels"]
    if not isinstance(channels, list) or not channels:
        raise bad("channels must be a non-empty list")
    for entry in channels:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad(f"each channel must be an object with a name, got {entry!r}")
        name = entry["name"]
        if name not in CHANNELS:
            raise bad(f"unknown evidence channel {name!r} (this installation has {', '.join(CHANNELS.available())})")
        if "model" in entry:
            kept = entry["model"]
            if name != "learned" or data["format_version"] < 3:
                raise bad(f"channel {name!r}: only the learned channel of a format-3 model keeps a stage 1 of its own")
            if not isinstance(kept, dict) or kept != stage1_record(kept.get("sha256")):
                raise bad(f"channel {name!r}: its stage 1 must be recorded as {{'folder': {LEARNED_FOLDER!r}, 'sha256': ...}}")
            if not (own / WEIGHTS).is_file() or not (own / CONFIG).is_file():
                raise bad(f"channel {name!r} reads the stage 1 kept in {own}, which is missing or incomplete")
        expected = channel_entry(name, own if "model" in entry else None)
        if entry.get("model") != expected.get("model"):
            raise bad(f"channel {name!r}: {own / WEIGHTS} is not the stage 1 the model was trained with (its SHA-256 differs)")
        if entry.get("features") != expected["features"]:
            raise bad(f"channel {name!r} was trained on features {entry.get('features')!r}; the installed channel gives "
                      f"{expected['features']} (train the model again)")
        if entry.get("shipped_model") != expected["shipped_model"]:
            raise bad(f"channel {name!r} read the shipped model {entry.get('shipped_model')!r}; this installation's is "
                      f"{expected['shipped_model']!r} (train the model again)")
        if set(entry) - set(expected):
            raise bad(f"unknown key channels.{sorted(set(entry) - set(expected))[0]}")
    return {
        "channels": [entry["name"] for entry in channels], "threshold": data["threshold"], "cell": data["cell"],
        "width": data["width"], "sharpness": data["sharpness"], "members": data.get("members", 1),
        "learned_model": own if any("model" in entry for entry in channels) else None,
    }
