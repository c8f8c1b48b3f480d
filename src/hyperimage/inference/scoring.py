"""Scoring images with a trained model: deterministic, streaming, and tolerant of bad files.

Every image is read and validated on its own; a file that cannot be used gets an error
line naming it and the rest are still scored. There are no random crops, so the same image
always gets the same score.

Archives of any size (:func:`score_archive`, behind ``hyperimage score``): folders are
walked lazily (:func:`expand`), images are decoded and preprocessed in worker processes
(:class:`DecodedImages`) while the model scores the previous batch, every row is written
and flushed as soon as its batch is scored, ``resume`` skips the rows an output file
already holds, SIGINT (or SIGTERM) stops after the batch in flight, and under ``torchrun``
each rank scores every ``WORLD_SIZE``-th file into a part file that rank 0 merges.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, TextIO

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.io import ImageError, walk_images
from hyperimage.distributed import local_world_size
from hyperimage.inference import preprocess
from hyperimage.inference.model import HyperImageModel, read_image

FORMATS = ("csv", "json")
CSV_HEADER = ["image", "score"]


@dataclass(frozen=True)
class Prediction:
    """The score of one file, or why it has none; ``extra``: further fields of its JSON row
    (e.g. ``{"channels": ...}``, each evidence channel's figures), None where there are none."""

    path: Path
    score: float | None
    error: str | None = None
    extra: dict[str, Any] | None = None


class FileScorer(Protocol):
    """What scoring files needs of a model: :meth:`read` one file into what :meth:`score`
    takes (in a decoding worker, so the costly part of reading runs there), and score a list
    of those. A two-stage model's is :class:`ModelFiles`; a forensic model's reads the
    evidence channels (:class:`~hyperimage.inference.evidence.model.ForensicFiles`)."""

    def read(self, path: Path) -> tuple[Any, dict[str, Any] | None]:
        """One file as what :meth:`score` takes, and the extra fields of its row (None: none);
        :class:`~hyperimage.data.io.ImageError` for a file that cannot be used."""
        ...

    def score(self, items: Sequence[Any]) -> list[float]:
        """Scores of what :meth:`read` gave, in order."""
        ...


@dataclass(frozen=True)
class ModelFiles:
    """A two-stage model's :class:`FileScorer`: a file as the model's preprocessed ``(C, H, W)``
    (:func:`~hyperimage.inference.model.read_image`, then its preprocessing), scored by
    :func:`score_tensors`; ``extra(path)``, where given, adds fields to each row."""

    model: HyperImageModel
    extra: Callable[[Path], dict[str, Any]] | None = None

    def read(self, path: Path) -> tuple[torch.Tensor, dict[str, Any] | None]:
        image = read_image(path, self.model.config, self.model.grid)
        return preprocess.get(self.model.config.preprocess)(image[None])[0], None if self.extra is None else self.extra(path)

    def score(self, items: Sequence[torch.Tensor]) -> list[float]:
        return score_tensors(self.model, items)


def file_scorer(model: HyperImageModel | FileScorer) -> FileScorer:
    """``model`` as a :class:`FileScorer`: a two-stage model in eval mode as :class:`ModelFiles`, a scorer as it is."""
    return ModelFiles(model.eval()) if isinstance(model, HyperImageModel) else model


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files stay as they are; folders become the image files under them, walked lazily
    in sorted order (:func:`~hyperimage.data.io.walk_images`)."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from walk_images(p)
        else:
            yield p


def cores_per_rank() -> int:
    """CPU cores this process may use, shared among the ranks ``torchrun`` starts on this node."""
    return max(1, len(os.sched_getaffinity(0)) // local_world_size())


def default_workers() -> int:
    """Decoding processes for this machine: all cores but one (at least 1, at most 4)."""
    return max(1, min(4, cores_per_rank() - 1))


def scoring_workers() -> int:
    """Decoding processes ``score`` starts by default: none on 2 cores or fewer, else
    :func:`default_workers`.

    On 2 idle cores the model's second thread is worth more than a decoding worker: 300 PNGs of
    512 x 384 scored by the shipped ``livec-imagenet`` model at 27.8 images/s serially against
    17.9 with one worker and a one-thread model (``benchmarks/score_archive.py``, malloc's
    thresholds fixed as every command fixes them).
    """
    return 0 if cores_per_rank() <= 2 else default_workers()


@contextmanager
def _model_threads(workers: int) -> Iterator[None]:
    """The model's intra-op threads: the cores the decoding workers leave (at least 1).

    One busy thread per core: with 2 model threads beside a decoding worker on 2 cores,
    the threads' barriers waited for each other and the model took 3-4x the CPU time and
    twice the wall time per image of 1 thread (measured on a loaded 2-core machine).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, cores_per_rank() - workers) if workers else before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _ignore_sigint(_: int) -> None:
    """Decoding workers leave SIGINT to the main process, which stops them when it is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: One decoded file: its path, what the model scores (None for a bad file), why it has none, its row's extra fields.
Decoded = tuple[Path, Any, "str | None", "dict[str, Any] | None"]


class DecodedImages(IterableDataset):
    """The images of a lazy walk, decoded and preprocessed, in blocks of ``batch_size``.

    Each block is a list of ``(path, item, None, extra)`` or ``(path, None, error, None)``
    (``item`` and ``extra`` as :meth:`FileScorer.read` gives them): a bad file travels as a
    value and never stops the others. The walk keeps every ``world``-th file
    from ``rank`` on (the shard of one ``torchrun`` rank) and leaves out the paths in
    ``skip`` (rows already written); of the blocks that remain, DataLoader worker ``w`` of
    ``W`` decodes blocks ``w, w + W, ...``. The DataLoader takes blocks from its workers in
    turn, so they come out in walk order. Every worker walks the folders itself (a walk is
    one ``scandir`` per folder, cheap next to decoding), so nothing is listed up front.
    """

    def __init__(
        self,
        model: HyperImageModel | FileScorer,
        paths: Sequence[str | Path],
        batch_size: int = 16,
        skip: frozenset[str] | set[str] = frozenset(),
        rank: int = 0,
        world: int = 1,
    ):
        self.scorer = file_scorer(model)
        self.paths, self.batch_size, self.skip, self.rank, self.world = list(paths), batch_size, skip, rank, world

    def walk(self) -> Iterator[Path]:
        """This shard's files, less those in ``skip``, in walk order."""
        for i, path in enumerate(expand(self.paths)):
            if i % self.world == self.rank and str(path) not in self.skip:
                yield path

    def decode(self, path: Path) -> Decoded:
        """One file as what the model scores (a preprocessed ``(C, H, W)`` tensor for a
        two-stage model) with the extra fields of its row, or the reason it has none."""
        try:
            item, extra = self.scorer.read(path)
        except ImageError as err:
            return path, None, str(err), None
        return path, item, None, extra

    def __iter__(self) -> Iterator[list[Decoded]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        block: list[Path] = []
        count = 0
        for path in self.walk():
            block.append(path)
            if len(block) == self.batch_size:
                if count % workers == worker:
                    yield [self.decode(p) for p in block]
                block, count = [], count + 1
        if block and count % workers == worker:
            yield [self.decode(p) for p in block]


def same_size(images: Sequence[torch.Tensor]) -> list[list[int]]:
    """Indices of ``images`` grouped by shape, each group in order: the batches one forward pass can take."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(tuple(image.shape), []).append(i)
    return list(by_shape.values())


def score_tensors(model: HyperImageModel, images: Sequence[torch.Tensor]) -> list[float]:
    """Clipped scores of preprocessed images ``(C, H, W)``, in their order.

    Images of one size are stacked and scored in one batch ``(B, C, H, W)``; each score is
    clipped to the model's range (:meth:`HyperImageModel.clip`). What every scoring path
    ends in: files (:func:`score_block`) and images in memory
    (:class:`~hyperimage.inference.predictor.Predictor`).
    """
    out: list[float] = [0.0] * len(images)
    with torch.inference_mode():
        for members in same_size(images):
            batch = torch.stack([images[i] for i in members]).to(model.device)
            for i, s in zip(members, model.clip(model(batch, preprocessed=True)).tolist()):
                out[i] = float(s)
    return out


def score_block(model: HyperImageModel | FileScorer, block: Sequence[Decoded]) -> list[Prediction]:
    """Scores of a decoded block, in its order (:meth:`FileScorer.score`; a two-stage model
    scores images of one size together, :func:`score_tensors`)."""
    good = [i for i, (_, item, error, _) in enumerate(block) if error is None]
    scores = dict(zip(good, file_scorer(model).score([block[i][1] for i in good])))
    return [
        Prediction(path, scores[i], None, extra) if i in scores else Prediction(path, None, error)
        for i, (path, _, error, extra) in enumerate(block)
    ]


def score_files(
    model: HyperImageModel | FileScorer,
    paths: Iterable[str | Path],
    batch_size: int = 16,
    workers: int = 0,
    skip: frozenset[str] | set[str] = frozenset(),
    rank: int = 0,
    world: int = 1,
    stop: Callable[[], object] | None = None,
) -> Iterator[Prediction]:
    """Score image files and folders in walk order, one :class:`Prediction` per file as batches finish.

    ``workers`` decoding processes (0: decode in this process) run ahead of the model by
    two blocks each; ``skip``, ``rank`` and ``world`` select the files as in
    :class:`DecodedImages`. ``stop`` is asked after every batch: when it says so, no
    further batch is scored (the decoding workers are shut down). ``model``: a two-stage
    model or any :class:`FileScorer` (a forensic model's, or one adding fields to each row).
    """
    data = DecodedImages(model, list(paths), batch_size, skip, rank, world)
    loader = DataLoader(
        data, batch_size=None, num_workers=workers, worker_init_fn=_ignore_sigint if workers else None
    )
    blocks = iter(loader)
    try:
        while not (stop is not None and stop()):
            try:
                block = next(blocks)
            except StopIteration:
                return
            except RuntimeError:  # a worker killed by the signal that set ``stop``
                if stop is not None and stop():
                    return
                raise
            yield from score_block(data.scorer, block)
    finally:
        del blocks  # shuts the workers down


# --- output files -------------------------------------------------------------------


class RowWriter:
    """Rows ``image, score`` as CSV (with a header) or JSON lines (with a file's extra fields,
    :attr:`Prediction.extra`), each flushed when written."""

    def __init__(self, stream: TextIO, fmt: str, header: bool):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.stream, self.fmt = stream, fmt
        self._csv = csv.writer(stream, lineterminator="\n")
        if header and fmt == "csv":
            self._csv.writerow(CSV_HEADER)
            stream.flush()

    def write(self, image: str, score: str, extra: dict[str, Any] | None = None) -> None:
        """One row; ``score`` as text (``%.6f`` in CSV, the float's repr in JSON); ``extra``
        fields join a JSON row (a CSV row has none: ValueError)."""
        if self.fmt == "csv":
            if extra:
                raise ValueError(f"rows with {', '.join(extra)} need JSON (--format json)")
            self._csv.writerow([image, score])
        else:
            self.stream.write(json.dumps({"image": image, "score": float(score), **(extra or {})}) + "\n")
        self.stream.flush()

    def write_prediction(self, pred: Prediction) -> None:
        """The row of a scored file."""
        self.write(str(pred.path), f"{pred.score:.6f}" if self.fmt == "csv" else repr(pred.score), pred.extra)


def drop_partial_line(path: Path) -> None:
    """Cut a half-written last line (no newline: the process was killed while writing it)."""
    with open(path, "rb+") as f:
        size = f.seek(0, io.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        keep = size
        while keep > 0:  # back to the last newline, in steps of 64 KiB
            start = max(0, keep - (1 << 16))
            f.seek(start)
            chunk = f.read(keep - start)
            end = chunk.rfind(b"\n")
            if end >= 0:
                keep = start + end + 1
                break
            keep = start
        f.truncate(keep)


def read_rows(path: Path, fmt: str) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """``(image, score text, extra fields)`` of every row of an output file of :class:`RowWriter`
    (the extra fields of a JSON row, None where it has none or in CSV).

    Raises ValueError naming the file and line when it is not such a file (wrong format,
    or a line that is not a row).
    """
    with open(path, newline="", encoding="utf-8") as f:
        if fmt == "csv":
            for n, row in enumerate(csv.reader(f), start=1):
                if n == 1:
                    if row != CSV_HEADER:
                        raise ValueError(f"{path}: not a CSV file of `hyperimage score` (first line {','.join(row)!r})")
                    continue
                if len(row) != 2:
                    raise ValueError(f"{path}: line {n} is not an 'image,score' row")
                yield row[0], row[1], None
        else:
            for n, line in enumerate(f, start=1):
                try:
                    row = json.loads(line)
                    image, score = str(row.pop("image")), repr(float(row.pop("score")))
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise ValueError(f"{path}: line {n} is not a JSON row of `hyperimage score`") from None
                yield image, score, row or None


def done_images(path: Path, fmt: str) -> set[str]:
    """Images an output file already scored, after cutting a half-written last line."""
    if not path.is_file():
        return set()
    drop_partial_line(path)
    return {image for image, *_ in read_rows(path, fmt)}


# --- archives: progress, interruption, shards --------------------------------------


@dataclass
class ArchiveSummary:
    """What :func:`score_archive` did: rows written, files that failed, and how it ended.

    ``signal`` is the number of the signal that interrupted it (None: it ran to the end);
    ``merged`` says that the rank-0 process merged the part files into the output.
    """

    rows: int = 0
    errors: int = 0
    skipped: int = 0
    signal: int | None = None
    merged: bool = False


def part_file(output: Path, rank: int) -> Path:
    """Rank ``rank``'s rows: ``OUTPUT.partR``."""
    return output.with_name(f"{output.name}.part{rank}")


def _done_marker(output: Path, rank: int) -> Path:
    return output.with_name(f"{output.name}.part{rank}.done")


@contextmanager
def _stop_on_signals() -> Iterator[Callable[[], int | None]]:
    """SIGINT and SIGTERM set a flag (read by calling the yielded function) instead of
    killing the process; a second SIGINT raises KeyboardInterrupt as usual."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield lambda: None
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _count_in_background(data: DecodedImages, bar: tqdm) -> None:
    """Walk the files once more in a daemon thread and give the bar its total (for the time left)."""

    def count() -> None:
        total = sum(1 for _ in data.walk())
        with bar.get_lock():
            bar.total = total
        bar.refresh()

    threading.Thread(target=count, daemon=True, name="hyperimage-count").start()


def merge_parts(output: Path, paths: Sequence[str | Path], world: int, fmt: str, include_output: bool) -> int:
    """Rank 0's merge: the rows of every part file (and of ``output`` itself if
    ``include_output``, a resumed run's earlier rows) into ``output``, in walk order.

    Each source holds its rows in walk order, so one more walk merges them streaming: a
    file's row is taken from whichever source has it next. Rows of a file that did not
    come in order (a file that failed and was rescored on resume) are appended at the end,
    never dropped. The merged file replaces ``output`` atomically, then the part files and
    their completion markers are removed. Returns the number of rows.
    """
    sources = ([output] if include_output and output.is_file() else []) + [part_file(output, r) for r in range(world)]
    readers = [read_rows(s, fmt) for s in sources if s.is_file()]
    heads = [next(r, None) for r in readers]
    tmp = output.with_name(f"{output.name}.merging")
    rows = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = RowWriter(f, fmt, header=True)
        for path in expand(paths):
            key = str(path)
            for i, head in enumerate(heads):
                if head is not None and head[0] == key:
                    writer.write(*head)
                    heads[i] = next(readers[i], None)
                    rows += 1
                    break
        for i, head in enumerate(heads):
            while head is not None:
                writer.write(*head)
                rows += 1
                head = next(readers[i], None)
    os.replace(tmp, output)
    for r in range(world):
        part_file(output, r).unlink(missing_ok=True)
        _done_marker(output, r).unlink(missing_ok=True)
    return rows


def score_archive(
    model: HyperImageModel | FileScorer,
    paths: Sequence[str | Path],
    output: Path | None = None,
    fmt: str = "csv",
    resume: bool = False,
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = False,
    on_error: Callable[[str], None] = lambda message: print(f"error: {message}", file=sys.stderr),
    rank: int = 0,
    world: int = 1,
) -> ArchiveSummary:
    """Score files and folders of any size into ``output`` (or stdout), row by row.

    Parameters
    ----------
    model : a two-stage model, or any :class:`FileScorer` (a forensic model's; one whose
        rows carry extra fields, which need ``fmt`` ``json``).
    output : CSV or JSON-lines file (``fmt``); None writes to stdout. Rows are flushed one
        by one, so a killed run keeps every finished row.
    resume : skip every image ``output`` already holds (a half-written last line is cut
        and its image scored again); without it ``output`` is written afresh.
    workers : decoding processes (None: :func:`scoring_workers`; 0: decode here); the
        model then runs on the cores they leave (:func:`_model_threads`).
    progress : a tqdm bar on stderr with the rate and, once a background walk has counted
        the files, the time left.
    on_error : called with ``"PATH: reason"`` for each file that cannot be scored.
    rank, world : the shard of a ``torchrun`` process (:func:`~hyperimage.distributed.torchrun_env`). With
        ``world > 1`` rows go to ``OUTPUT.partR``; a rank that finishes leaves a completion
        marker, and rank 0, once every marker is there, merges the parts into ``output``
        in walk order (:func:`merge_parts`); the other ranks return once the merge is
        done. Needs an ``output`` on a file system all ranks share.

    SIGINT or SIGTERM stops it after the batch in flight, every finished row kept; the
    summary's ``signal`` says so (rank 0 then merges nothing).
    """
    if world > 1 and output is None:
        raise ValueError("scoring under torchrun (WORLD_SIZE > 1) needs --output FILE")
    if resume and output is None:
        raise ValueError("--resume needs --output FILE")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    paths = [Path(p) for p in paths]
    target = None if output is None else (part_file(output, rank) if world > 1 else output)
    done: set[str] = set()
    if resume:
        done = done_images(target, fmt) | (done_images(output, fmt) if world > 1 else set())
    if world > 1:
        _done_marker(output, rank).unlink(missing_ok=True)
    summary = ArchiveSummary(skipped=len(done))
    workers = scoring_workers() if workers is None else workers
    data = DecodedImages(model, paths, batch_size, done, rank, world)
    stream = sys.stdout if target is None else open(target, "a" if resume else "w", newline="", encoding="utf-8")
    try:
        writer = RowWriter(stream, fmt, header=stream.tell() == 0 if target is not None else True)
        with _model_threads(workers), _stop_on_signals() as stopped, tqdm(
            unit="img", file=sys.stderr, disable=not progress, dynamic_ncols=True, desc="scoring"
        ) as bar:
            for pred in score_files(model, paths, batch_size, workers, done, rank, world, stop=stopped):
                if progress and summary.rows + summary.errors == 0:  # the workers are forked by now
                    _count_in_background(data, bar)
                if pred.error is not None:
                    summary.errors += 1
                    with tqdm.external_write_mode(file=sys.stderr):
                        on_error(pred.error)
                else:
                    writer.write_prediction(pred)
                    summary.rows += 1
                bar.update()
            summary.signal = stopped()
            if world > 1 and summary.signal is None:
                stream.close()
                marker = _done_marker(output, rank)
                marker.touch()
                # Rank 0 waits for every marker, the others for the merge (which removes
                # them): torchrun stops all ranks when one exits with an error status (a
                # bad file's 1), so no rank may exit before the merge is done.
                while not (all(_done_marker(output, r).is_file() for r in range(world)) if rank == 0 else not marker.is_file()):
                    if stopped() is not None:
                        summary.signal = stopped()
                        return summary
                    time.sleep(0.2)
                if rank == 0:
                    merge_parts(output, paths, world, fmt, include_output=resume)
                    summary.merged = True
    finally:
        if stream is not sys.stdout:
            stream.close()
    return summary
