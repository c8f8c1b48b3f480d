"""The Python API behind every CLI command: train, evaluate, score, explain.

Each function is one call, e.g.::

    import hyperimage.api as hi
    hi.make_synthetic("data/exp1", experiment=1, n=1000, seed=0)
    model = hi.train("data/exp1", "models/exp1", method="two-stage", seed=0)
    print(hi.evaluate("models/exp1", "data/exp1", split="test"))
    for p in hi.score("models/exp1", ["data/exp1/images"]):
        print(p.path, p.score)
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch

from . import datasets, presets
from .datasets import folder, synthetic
from .datasets.records import ImageRecord
from .explain import heat_map, save_overlay
from .io import ImageError
from .model import HyperImageModel
from .pipeline import PipelineConfig, read_image, train as train_records
from .protocol import FORGERY_SPLIT, IQA_SPLIT, SPLITS_FILE, apply_saved_splits, random_split, save_splits
from .scoring import ArchiveSummary, Prediction, evaluate_records, expand, score_archive, score_files, shard_from_env
from .storage import is_model_dir, write_json

#: Models shipped inside the package, one folder per task.
DEFAULT_MODELS = Path(__file__).parent / "models"


def make_synthetic(out: str | Path, experiment: int = 1, n: int = 1000, seed: int = 0, patches: int | None = None) -> Path:
    """Write a synthetic-task data set (Eq. 3) as a folder with ``labels.csv``."""
    images = synthetic.generate(experiment, n, seed=seed, patches=patches)
    return synthetic.write_folder(out, images, {"experiment": experiment, "seed": seed, "patches": patches})


#: The preset a data set gets when none is named: by published layout, else by the
#: ``task`` of a folder's ``meta.json`` (written by the project's generators).
LAYOUT_PRESETS = {"live": "live", "tid2013": "tid", "kadid10k": "tid", "casia2": "forgery"}
TASK_PRESETS = {"synthetic": "synthetic", "iqa": "tid", "forgery": "forgery"}


def _preset_for(data: Path, preset: str | None) -> str:
    if preset is not None:
        return preset
    layout = datasets.detect(data)
    task = LAYOUT_PRESETS.get(layout) or TASK_PRESETS.get(folder.meta(data).get("task"))
    if task is None:
        raise ValueError(f"{data}: cannot tell the task; pass a preset ({', '.join(presets.available())})")
    return task


def train(
    data: str | Path,
    out: str | Path,
    method: str = "two-stage",
    preset: str | None = None,
    seed: int = 0,
    settings: PipelineConfig | None = None,
    progress: bool = True,
    stage1_args: dict | None = None,
    half: bool = False,
) -> HyperImageModel:
    """Train a model on a data set folder and save it to ``out``.

    Images without a ``split`` are split by group with ``seed`` (60/20/20, or 2/3-1/6-1/6
    for classification as in the paper's forgery experiment); the assignment is
    saved as ``out/splits.csv`` so ``evaluate`` can use the same test set. Checkpoints go to
    ``out/checkpoints`` during training; rerunning an interrupted command resumes there.
    ``stage1_args`` go to the stage-1 network's factory (e.g. ``{"conv_width": 0.25}``);
    ``half`` saves the weights as float16 (:meth:`HyperImageModel.save`).
    """
    data, out = Path(data), Path(out)
    config = presets.get(_preset_for(data, preset), method)
    config.stage1_args.update(stage1_args or {})
    fractions = FORGERY_SPLIT if config.task == "classification" else IQA_SPLIT
    records = random_split(datasets.load(data), seed=seed, fractions=fractions)
    config.score = replace(config.score, higher_is_better=datasets.higher_is_better(data))
    model, result = train_records(records, config, settings, workdir=out, seed=seed, progress=progress)
    model.save(out, half=half)
    save_splits(out / SPLITS_FILE, records, data)
    write_json(
        out / "training.json",
        {
            "data": str(data.resolve()),
            "seed": seed,
            "n_train": result.n_train,
            "n_val": result.n_val,
            "skipped": result.skipped,
            "stage1": asdict(result.stage1),
            "stage2": asdict(result.stage2) if result.stage2 else None,
        },
    )
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return model


def load_model(path: str | Path) -> HyperImageModel:
    """Load a model folder (``model.safetensors`` + ``config.json``)."""
    return HyperImageModel.load(path)


def default_model(task: str = "iqa") -> HyperImageModel:
    """The model shipped inside the package for ``task``."""
    folder = DEFAULT_MODELS / task
    if not is_model_dir(folder):
        raise ValueError(f"no default {task} model is installed ({folder}); pass a model folder")
    return load_model(folder)


def explain(
    model: str | Path | HyperImageModel, image: str | Path, out: str | Path, readout: str = "patch"
) -> float:
    """Write a heat map of where ``model`` sees damage in ``image`` to ``out``; returns the score."""
    net = model if isinstance(model, HyperImageModel) else load_model(model)
    x = read_image(ImageRecord(path=Path(image), target=0.0), net.config, net.grid)[None]
    heat = heat_map(net, x, readout)[0, 0].numpy()
    with torch.no_grad():
        value = float(net.clip(net(x))[0])
    shown = x[0].permute(1, 2, 0).numpy()
    label = "tampering evidence" if net.config.task == "classification" else "damage evidence"
    title = f"{Path(image).name}: score {value:.3f}\n{describe(net)}"
    save_overlay(out, shown[..., 0] if shown.shape[2] == 1 else shown, heat, title, label)
    return value


def _with_model_splits(records: Sequence[ImageRecord], data: Path, model_dir: Path | None) -> list[ImageRecord]:
    if all(r.split is not None for r in records) or model_dir is None or not (model_dir / SPLITS_FILE).is_file():
        return list(records)
    return apply_saved_splits(records, model_dir / SPLITS_FILE, data)


def evaluate(model: str | Path | HyperImageModel, data: str | Path, split: str = "test") -> dict:
    """SROCC, PLCC and KROCC of ``model`` on ``data``.

    ``split`` is ``train`` / ``val`` / ``test`` (taken from the data's ``split`` column, else
    from the split the model was trained with) or ``all``.
    """
    data = Path(data)
    model_dir = None if isinstance(model, HyperImageModel) else Path(model)
    net = model if isinstance(model, HyperImageModel) else load_model(model)
    records = datasets.load(data)
    if split != "all":
        records = [r for r in _with_model_splits(records, data, model_dir) if r.split == split]
        if not records:
            raise ValueError(f"{data}: no images in split {split!r} (use --split all, or a data set with a split column)")
    result = evaluate_records(net, records)
    return {"split": split, "score": asdict(net.config.score), **result}


def score(
    model: str | Path | HyperImageModel, paths: Iterable[str | Path], batch_size: int = 16, workers: int = 0
) -> Iterator[Prediction]:
    """Score image files and folders (walked lazily); yields one :class:`Prediction` per file, in order.

    ``workers`` processes decode and preprocess the images while the model scores (0: all
    in this process).
    """
    net = model if isinstance(model, HyperImageModel) else load_model(model)
    return score_files(net, list(paths), batch_size, workers)


def score_to_file(
    model: str | Path | HyperImageModel,
    paths: Sequence[str | Path],
    output: str | Path | None = None,
    fmt: str = "csv",
    resume: bool = False,
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = False,
    on_error: Callable[[str], None] | None = None,
) -> ArchiveSummary:
    """``hyperimage score``: stream rows of files and folders of any size into ``output`` (CSV
    or JSON lines; None: stdout), resumable, interruptible, sharded under ``torchrun``.

    See :func:`hyperimage.scoring.score_archive`; the shard comes from ``RANK`` and
    ``WORLD_SIZE`` (:func:`~hyperimage.scoring.shard_from_env`).
    """
    net = model if isinstance(model, HyperImageModel) else load_model(model)
    rank, world = shard_from_env()
    extra = {} if on_error is None else {"on_error": on_error}
    return score_archive(
        net, paths, None if output is None else Path(output), fmt, resume, batch_size, workers, progress,
        rank=rank, world=world, **extra,
    )


def describe(model: HyperImageModel) -> str:
    """One line saying what a model's score means."""
    s = model.config.score
    direction = "higher is better" if s.higher_is_better else "lower is better"
    return f"{s.name}: range [{s.low:.4g}, {s.high:.4g}], {direction} ({model.config.method}, preset {model.config.preset})"

