"""JPEG history: where the compression history of a region differs from the rest of the image.

A photo leaves the camera as a JPEG; edited and saved again, its 8x8 blocks have been quantised
twice. Where the two block grids line up, each DCT frequency's coefficient histogram carries the
periodic trace of the first (primary) quantisation: aligned double quantisation (A-DQ). A region
pasted in from elsewhere does not share that history: its content was never quantised on this
grid (it looks singly compressed), or it was, on a grid of its own that is shifted against the
file's (non-aligned double quantisation, NA-DQ). Everything here is read from the file's
quantised luma coefficients (``jpeglib.read_dct``, no decoder in between), block by block on the
stored grid, and each cell's feature is its deviation from the image's own median cell: the
evidence is a contrast within the image, not how the file was saved.

Per 8x8 block:

- ``single``: the posterior that the block is singly compressed while the image is double
  compressed (Bianchi & Piva 2012, block-grained analysis). For each low DCT frequency the
  histogram of the coefficients is fitted as a mixture of a singly compressed part, whose law
  comes from the image itself (the DCT on a grid shifted by half a block, which no quantisation
  touched), and a doubly compressed part, the same law quantised first with a step ``q1`` and
  then with the file's step ``q2``; ``q1`` is the step of highest likelihood (the mixture share
  fitted by EM). The per-frequency likelihood ratios of a block's coefficients multiply (naive
  Bayes) into its posterior.
- ``forbidden``: the share of a block's coefficients in bins that the estimated primary
  quantisation cannot produce (nearly empty bins of the doubly compressed law), the hard part of
  the same evidence, and the localised reading of the primary quantisation estimate.
- ``shifted``: how well the block, taken on each of the 63 other grid offsets, fits the lattice
  of the estimated primary steps, against its median over offsets (a region pasted with its own
  grid shifted keeps the primary lattice on that offset only; Bianchi & Piva 2012's NA-DQ case
  with the primary table of the aligned analysis).
- ``blockiness``: the blocking artefact at each of the 8 column and 8 row phases, after Li,
  Yuan & Yu 2009 (block artefact grid): the jump across a boundary against the jumps beside it.
  The file's own grid is phase 0; a region compressed on another grid peaks at another phase, and
  a region that missed the first compression lacks part of the phase-0 artefact.

The channel's features per cell: ``adq`` (mean ``single``), ``primary`` (mean ``forbidden``),
``nadq`` (the largest mean ``shifted`` over the offsets), ``grid`` (off-grid peak minus on-grid
artefact, both directions), each minus the median over the image's cells; and ``not_jpeg``, 1
everywhere when there are no coefficients to read (not a JPEG, or one that cannot be read: the
features are zeros and ``Evidence.notes`` says why, in one line).

References
----------
T. Bianchi and A. Piva, "Image forgery localization via block-grained analysis of JPEG
artifacts", IEEE Trans. Information Forensics and Security 7(3), 2012, pp. 1003-1017.
W. Li, Y. Yuan and N. Yu, "Passive detection of doctored JPEG image via block artifact grid
extraction", Signal Processing 89(9), 2009, pp. 1821-1829.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy import ndimage
from scipy.special import expit, ndtr

from hyperimage.inference.evidence import CellGrid, Evidence, register

#: Feature names, in order, of the channel's cells.
FEATURES = ("adq", "nadq", "primary", "grid", "not_jpeg")

#: The orthonormal 8-point DCT-II of JPEG: ``coefficients = DCT @ block @ DCT.T``.
DCT = np.array(
    [[np.sqrt((1.0 if u else 0.5) / 4.0) * np.cos((2 * x + 1) * u * np.pi / 16) for x in range(8)] for u in range(8)]
)

#: The 64 frequencies ``(u, v)`` (vertical, horizontal) in JPEG's zig-zag order.
ZIGZAG = tuple(sorted(((u, v) for u in range(8) for v in range(8)), key=lambda f: (f[0] + f[1], f[1] if (f[0] + f[1]) % 2 == 0 else f[0])))

#: AC frequencies analysed for aligned double quantisation: the first 15 in zig-zag order, whose
#: steps are small and whose histograms are wide.
ADQ_FREQUENCIES = ZIGZAG[1:16]

#: At most this many low AC frequencies carry the NA-DQ lattice test (the primary's smallest steps).
NADQ_FREQUENCIES = 6

#: Candidate primary steps ``1 .. MAX_PRIMARY_STEP``.
MAX_PRIMARY_STEP = 48

#: Histogram bins ``-MAX_BIN .. MAX_BIN`` of the quantised coefficients (the tails are pooled in the end bins).
MAX_BIN = 60

#: Spread (DCT units) of the rounding between the two compressions: the decoded pixels are
#: rounded to integers (about 0.3 per coefficient) and go through colour conversion and clipping.
ROUNDING_SIGMA = 0.6

#: A frequency shows a primary quantisation when the mixture's log-likelihood per coefficient
#: beats the single-compression law by this much. Measured on scikit-image's coffee: saved once,
#: the spurious gains stayed below 0.008 (the law from the shifted grid is not exact); saved at
#: 60-85 then 85-95, the true primary steps gained 0.017 and more.
MIN_GAIN = 0.01

#: Blocks whose calibrated coefficients fit the primary step (a subsample on a regular stride keeps large images fast).
CALIBRATION_BLOCKS = 40_000

#: A bin is forbidden when the doubly compressed law gives it less than this share of the single law's mass.
FORBIDDEN_RATIO = 0.1

#: EM iterations for the mixture share of singly compressed blocks.
EM_STEPS = 30

#: Blocking artefacts are clipped to this many grey levels, so that a natural edge counts as little as a block edge.
BLOCKINESS_CLIP = 3.0

#: Block rows handled at once by the NA-DQ test (bounds its memory on large images).
STRIP_BLOCKS = 64


class JpegUnreadable(ValueError):
    """A file whose coefficients cannot be analysed; ``str(err)`` is one line saying why."""


@dataclass(frozen=True)
class JpegHistory:
    """What the luma coefficients of one JPEG say, per 8x8 block of its stored grid ``(bh, bw)``.

    Attributes
    ----------
    size : ``(H, W)`` of the image.
    secondary : ``(8, 8)`` the file's luma quantisation table (the last compression).
    primary : ``(8, 8)`` the estimated steps of an earlier aligned compression; 0 where a
        frequency shows none (all zeros: no aligned double compression found).
    share_single : the mixture's share of singly compressed blocks (median over the
        frequencies with a primary step; 1.0 when there are none).
    single : ``(bh, bw)`` posterior that a block is singly compressed (A-DQ absent).
    forbidden : ``(bh, bw)`` share of a block's analysed coefficients in bins the primary cannot produce.
    shifted : ``(bh, bw, 63)`` lattice fit of the primary on each non-zero grid offset
        ``(dy, dx)``, offset index ``8 * dy + dx - 1``, minus the block's median over all 64 offsets.
    blockiness : ``(bh, bw, 2, 8)`` blocking artefact at each column (``[..., 0, p]``) and row
        (``[..., 1, p]``) boundary phase ``p``; phase 0 lies on the file's grid.
    """

    size: tuple[int, int]
    secondary: np.ndarray
    primary: np.ndarray
    share_single: float
    single: np.ndarray
    forbidden: np.ndarray
    shifted: np.ndarray
    blockiness: np.ndarray


def _header_problem(data: bytes) -> str | None:
    """Why the JPEG bytes ``data`` cannot be analysed (one phrase), or None: the frame header is
    read up to the first scan, and the scan must end in an end-of-image marker."""
    if not data.startswith(b"\xff\xd8"):
        return "not a JPEG"
    pos = 2
    while True:
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(data):
            return "truncated JPEG (the header ends early)"
        if data[pos] != 0xFF:
            return "corrupt JPEG header"
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2  # a marker without a segment
            continue
        if marker in (0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF):
            return "lossless or hierarchical JPEG (no 8x8 DCT coefficients to analyse)"
        if marker in (0xC9, 0xCA):
            return "arithmetic-coded JPEG (not supported by the coefficient reader)"
        if marker in (0xC0, 0xC1, 0xC2):
            if pos + 10 > len(data):
                return "truncated JPEG (the header ends early)"
            if data[pos + 4] != 8:
                return f"{data[pos + 4]}-bit JPEG (only 8-bit samples are analysed)"
            if data[pos + 9] not in (1, 3):
                return f"JPEG with {data[pos + 9]} colour components (CMYK or YCCK; only grey and YCbCr are analysed)"
        if marker == 0xDA:
            return None if data.find(b"\xff\xd9", pos) > 0 else "truncated JPEG (no end-of-image marker)"
        pos += 2 + length


@contextmanager
def _in_memory(data: bytes) -> Iterator[str]:
    """A path that reads as ``data`` without a file on disk: an anonymous in-memory file
    (Linux ``memfd_create``), for the coefficient reader, which takes paths only."""
    if not hasattr(os, "memfd_create"):
        raise JpegUnreadable("a JPEG held in memory (its coefficients are read from memory on Linux only)")
    fd = os.memfd_create("hyperimage-jpeg")
    try:
        with os.fdopen(os.dup(fd), "wb") as f:
            f.write(data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _read(source: Path | bytes) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The luma coefficients ``(bh, bw, 8, 8)`` int16, their quantisation table ``(8, 8)`` and
    the image size of the JPEG at ``source`` (a path, or the file's bytes);
    :class:`JpegUnreadable` otherwise."""
    import jpeglib

    try:
        data = source if isinstance(source, bytes) else source.read_bytes()
    except OSError as err:
        raise JpegUnreadable(f"cannot read the file ({err.strerror or err})") from None
    problem = _header_problem(data)
    if problem:
        raise JpegUnreadable(problem)
    try:
        with _in_memory(data) if isinstance(source, bytes) else nullcontext(str(source)) as path:
            jpeg = jpeglib.read_dct(path)
            luma, tables, numbers = jpeg.Y, jpeg.qt, jpeg.quant_tbl_no
            colour, height, width = str(jpeg.jpeg_color_space), int(jpeg.height), int(jpeg.width)
    except JpegUnreadable:
        raise
    except Exception as err:  # libjpeg reports any decoding failure as a bare exception
        raise JpegUnreadable(f"unreadable JPEG ({err})") from None
    if "YCbCr" not in colour and "GRAYSCALE" not in colour:
        raise JpegUnreadable(f"JPEG in colour space {colour.split('.')[-1]} (only grey and YCbCr are analysed)")
    bh, bw = -(-height // 8), -(-width // 8)
    return np.asarray(luma[:bh, :bw]), np.asarray(tables[int(numbers[0])], dtype=np.float64), (height, width)


def _luma(coefficients: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The decoded luma plane ``(8 bh, 8 bw)`` float32 (level-shifted back, not rounded) of the
    quantised coefficients ``(bh, bw, 8, 8)``."""
    bh, bw = coefficients.shape[:2]
    blocks = (coefficients * table).astype(np.float32)
    dct = DCT.astype(np.float32)
    pixels = dct.T @ blocks @ dct + 128.0
    return pixels.transpose(0, 2, 1, 3).reshape(bh * 8, bw * 8)


def _block_dct(plane: np.ndarray) -> np.ndarray:
    """Coefficients ``(h // 8, w // 8, 8, 8)`` of the whole 8x8 blocks of ``plane`` (level-shifted)."""
    h, w = plane.shape[0] // 8 * 8, plane.shape[1] // 8 * 8
    blocks = plane[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3) - 128.0
    dct = DCT.astype(np.float32)
    return dct @ blocks @ dct.T


def _bins(values: np.ndarray) -> np.ndarray:
    """Counts of integer ``values`` in bins ``-MAX_BIN .. MAX_BIN``, the tails in the end bins."""
    return np.bincount(np.clip(values, -MAX_BIN, MAX_BIN) + MAX_BIN, minlength=2 * MAX_BIN + 1).astype(np.float64)


def _double_laws(calibrated: np.ndarray, q2: float) -> np.ndarray:
    """``(MAX_PRIMARY_STEP, bins)``: for each primary step ``q1 = 1, 2, ...``, the law over bins
    of the ``calibrated`` (unquantised) coefficients quantised with step ``q1``, dequantised,
    blurred by the rounding between the compressions (Gaussian, ``ROUNDING_SIGMA``) and quantised
    again with the file's step ``q2`` (the A-DQ model of Bianchi & Piva 2012). The blur moves a
    level's mass into the bins beside its own, no further: ``ROUNDING_SIGMA`` is well below a step."""
    rows, values, counts = [], [], []
    for q1 in range(1, MAX_PRIMARY_STEP + 1):
        level = np.rint(calibrated / q1).astype(np.int64)
        each = np.bincount(level - level.min())
        at = np.flatnonzero(each)
        rows.append(np.full(len(at), q1 - 1))
        values.append((at + level.min()) * q1)
        counts.append(each[at])
    row, value, count = np.concatenate(rows), np.concatenate(values), np.concatenate(counts).astype(np.float64)
    # every (primary step, level) at once from here
    home = np.rint(value / q2)
    below = count * ndtr(((home - 0.5) * q2 - value) / ROUNDING_SIGMA)
    above = count * ndtr((value - (home + 0.5) * q2) / ROUNDING_SIGMA)
    bins = 2 * MAX_BIN + 1
    laws = np.zeros(MAX_PRIMARY_STEP * bins)
    for step, mass in ((0, count - below - above), (-1, below), (1, above)):
        target = row * bins + np.clip(home + step, -MAX_BIN, MAX_BIN).astype(np.int64) + MAX_BIN
        laws += np.bincount(target, mass, minlength=laws.size)
    laws = laws.reshape(MAX_PRIMARY_STEP, bins) + 0.5
    return laws / laws.sum(axis=1, keepdims=True)


def _mixtures(counts: np.ndarray, single: np.ndarray, doubles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EM fit of ``counts`` (bins) as ``alpha * single + (1 - alpha) * double`` for every row of
    ``doubles`` at once: ``(alpha, log-likelihood)``, one per row."""
    alpha = np.full((len(doubles), 1), 0.5)
    for _ in range(EM_STEPS):
        part = alpha * single
        alpha = (counts * part / (part + (1.0 - alpha) * doubles)).sum(axis=1, keepdims=True) / counts.sum()
    return alpha[:, 0], (counts * np.log(alpha * single + (1.0 - alpha) * doubles)).sum(axis=1)


def aligned_double_quantisation(
    coefficients: np.ndarray, table: np.ndarray, luma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Bianchi & Piva's block-grained A-DQ analysis of the quantised luma ``coefficients``
    ``(bh, bw, 8, 8)`` with quantisation ``table`` ``(8, 8)``, the single-compression law taken
    from the decoded ``luma`` on a grid shifted by half a block.

    Returns
    -------
    single : ``(bh, bw)`` posterior that a block is singly compressed.
    forbidden : ``(bh, bw)`` share of its analysed coefficients in bins the primary cannot produce.
    primary : ``(8, 8)`` estimated primary steps, 0 where a frequency shows no primary.
    share_single : the mixture share of singly compressed blocks (1.0 when no primary is found).
    """
    bh, bw = coefficients.shape[:2]
    calibration = _block_dct(luma[4:, 4:]).reshape(-1, 8, 8)
    calibration = calibration[:: max(1, len(calibration) // CALIBRATION_BLOCKS)]
    ratio, hard = np.zeros((bh, bw)), np.zeros((bh, bw))
    primary, shares = np.zeros((8, 8), np.int64), []
    for u, v in ADQ_FREQUENCIES:
        q2, observed = table[u, v], coefficients[:, :, u, v].astype(np.int64)
        if np.abs(observed).max() < 2:
            continue  # a step too coarse for this image: one non-zero bin at most
        counts = _bins(observed.ravel())
        single = _bins(np.rint(calibration[:, u, v] / q2).astype(np.int64)) + 0.5
        single /= single.sum()
        base = float((counts * np.log(single)).sum())
        doubles = _double_laws(calibration[:, u, v], q2)
        alphas, likelihoods = _mixtures(counts, single, doubles)
        if q2 <= MAX_PRIMARY_STEP:
            likelihoods[int(q2) - 1] = -np.inf  # the same step twice leaves no trace
        q1 = int(np.argmax(likelihoods)) + 1
        if (likelihoods[q1 - 1] - base) / counts.sum() < MIN_GAIN:
            continue
        alpha, double = float(alphas[q1 - 1]), doubles[q1 - 1]
        primary[u, v] = q1
        shares.append(alpha)
        index = np.clip(observed, -MAX_BIN, MAX_BIN) + MAX_BIN
        ratio += np.log(single[index]) - np.log(double[index])
        hard += (double < FORBIDDEN_RATIO * single)[index]
    if not shares:
        return np.full((bh, bw), 0.5), np.zeros((bh, bw)), primary, 1.0
    share = float(np.clip(np.median(shares), 0.01, 0.99))
    return expit(ratio + np.log(share / (1.0 - share))), hard / len(shares), primary, share


def _dense_dct(plane: np.ndarray, frequencies: list[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """For each frequency, its DCT coefficient of the 8x8 block whose top-left corner is at every
    pixel of ``plane`` (separable 8-tap correlations; the last 7 rows and columns read edge copies)."""
    rows = {u: ndimage.correlate1d(plane, DCT[u].astype(np.float32), axis=0, origin=-4, mode="nearest") for u in {f[0] for f in frequencies}}
    return {f: ndimage.correlate1d(rows[f[0]], DCT[f[1]].astype(np.float32), axis=1, origin=-4, mode="nearest") for f in frequencies}


def nonaligned_double_quantisation(luma: np.ndarray, primary: np.ndarray, blocks: tuple[int, int]) -> np.ndarray:
    """NA-DQ lattice test: each block of ``blocks = (bh, bw)``, taken on each grid offset
    ``(dy, dx)`` of the decoded ``luma``, scored by the mean over the primary's smallest steps of
    ``cos(2 pi c / q1)`` (1 on the lattice, about 0 off it), minus the block's median over the 64
    offsets. ``(bh, bw, 63)``, offsets ``8 dy + dx`` from 1 to 63; zeros without a primary."""
    bh, bw = blocks
    frequencies = [f for f in ZIGZAG[1:] if primary[f]][:NADQ_FREQUENCIES]
    if not frequencies:
        return np.zeros((bh, bw, 63), np.float32)
    padded = np.pad(luma, ((0, 8), (0, 8)), mode="edge")
    out = np.empty((bh, bw, 63), np.float32)
    for top in range(0, bh, STRIP_BLOCKS):
        rows = min(STRIP_BLOCKS, bh - top)
        strip = padded[8 * top : 8 * (top + rows) + 8]
        maps = _dense_dct(strip, frequencies)
        score = sum(np.cos(maps[f] * np.float32(2.0 * np.pi / primary[f])) for f in frequencies) / np.float32(len(frequencies))
        score = score[: 8 * rows, : 8 * bw].reshape(rows, 8, bw, 8).transpose(0, 2, 1, 3).reshape(rows, bw, 64)
        out[top : top + rows] = score[:, :, 1:] - np.median(score, axis=2, keepdims=True)
    return out


def _column_excess(plane: np.ndarray) -> np.ndarray:
    """``(h, w)``: at column ``k``, the jump between pixels ``k - 1`` and ``k`` minus the mean of
    the jumps on either side, clipped to ``BLOCKINESS_CLIP`` (0 where a side is missing)."""
    jump = np.abs(np.diff(plane, axis=1))
    excess = jump[:, 1:-1] - 0.5 * (jump[:, :-2] + jump[:, 2:])
    return np.pad(np.clip(excess, -BLOCKINESS_CLIP, BLOCKINESS_CLIP), ((0, 0), (2, 1)))


def block_grid(luma: np.ndarray, blocks: tuple[int, int]) -> np.ndarray:
    """Blocking artefact per block of ``blocks = (bh, bw)`` at each boundary phase, after Li,
    Yuan & Yu 2009: the jump across a column (row) boundary against the jumps beside it, averaged
    over the block's 8 rows (columns). Phase ``p`` is the boundary just left of (above) pixel
    ``8 k + p``. ``(bh, bw, 2, 8)``: columns, then rows."""
    bh, bw = blocks
    plane = np.clip(np.rint(luma), 0.0, 255.0).astype(np.float32)
    pad = ((0, 8 * bh - plane.shape[0]), (0, 8 * bw - plane.shape[1]))
    columns = np.pad(_column_excess(plane), pad).reshape(bh, 8, bw, 8).mean(axis=1)
    rows = np.pad(_column_excess(plane.T).T, pad).reshape(bh, 8, bw, 8).mean(axis=3).transpose(0, 2, 1)
    return np.stack([columns, rows], axis=2)


def jpeg_history(source: str | Path | bytes) -> JpegHistory:
    """Read and analyse the JPEG history of the file at ``source`` (a path, or the file's bytes
    held in memory; every per-block map of the module docstring); :class:`JpegUnreadable` with
    one line when the file has no luma coefficients to analyse (not a JPEG; truncated,
    lossless, arithmetic-coded, 12-bit, CMYK or otherwise unreadable)."""
    coefficients, table, size = _read(source if isinstance(source, bytes) else Path(source))
    blocks = coefficients.shape[:2]
    luma = _luma(coefficients, table)
    single, forbidden, primary, share = aligned_double_quantisation(coefficients, table, luma)
    return JpegHistory(
        size=size,
        secondary=table.astype(np.int64),
        primary=primary,
        share_single=share,
        single=single.astype(np.float32),
        forbidden=forbidden.astype(np.float32),
        shifted=nonaligned_double_quantisation(luma, primary, blocks),
        blockiness=block_grid(luma[: size[0], : size[1]], blocks),
    )


def _contrast(cells: np.ndarray) -> np.ndarray:
    """Each cell's value minus the median over the image's cells."""
    return cells - np.median(cells)


def history_cells(history: JpegHistory, grid: CellGrid) -> np.ndarray:
    """The channel's features ``(U, V, 5)`` (:data:`FEATURES`) of ``history`` on ``grid``."""
    shifted = grid.pool(history.shifted, scale=8).max(axis=2)
    phases = grid.pool(history.blockiness.reshape(*history.blockiness.shape[:2], 16), scale=8).reshape(*shifted.shape, 2, 8)
    off_grid = (phases[..., 1:].max(axis=-1) - phases[..., 0]).sum(axis=-1)
    features = [
        _contrast(grid.pool(history.single, scale=8)),
        _contrast(shifted),
        _contrast(grid.pool(history.forbidden, scale=8)),
        _contrast(off_grid),
        np.zeros(shifted.shape, np.float32),
    ]
    return np.stack(features, axis=2).astype(np.float32)


@dataclass(frozen=True)
class JpegChannel:
    """The ``jpeg`` evidence channel: :func:`jpeg_history` of ``evidence.path`` on the cell grid."""

    name: str = "jpeg"
    features: tuple[str, ...] = FEATURES
    headline: str = "adq"
    legend: str = "jpeg: blocks whose compression history differs from the rest (share that looks singly compressed, minus the image's median)"
    shipped_model: str | None = None

    def __call__(self, evidence: Evidence, grid: CellGrid) -> np.ndarray:
        """``(U, V, 5)`` float32 on ``grid``; zeros with ``not_jpeg`` = 1 and one line in
        ``evidence.notes`` when the image has no JPEG coefficients to analyse (pixels without
        a file or its bytes, or a file that is no readable JPEG)."""
        u, v = grid.shape(*evidence.size)
        source = evidence.path if evidence.path is not None else evidence.data
        if source is None:
            problem = "an image in memory, not a JPEG file"
        else:
            try:
                history = jpeg_history(source)
            except JpegUnreadable as err:
                problem = str(err)
            else:
                if history.size == evidence.size:
                    return history_cells(history, grid)
                problem = f"its JPEG is {history.size[0]} x {history.size[1]}, the pixels {evidence.size[0]} x {evidence.size[1]}"
        evidence.notes.append(f"{evidence.label}: {problem}; the JPEG channel gives zeros")
        cells = np.zeros((u, v, len(FEATURES)), np.float32)
        cells[..., FEATURES.index("not_jpeg")] = 1.0
        return cells


CHANNEL = register("jpeg")(JpegChannel())
