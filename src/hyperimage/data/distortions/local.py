"""Local, non-uniform distortions of TID2013: #12-#15.

These damage some places of the image and leave the rest intact, which is what the
hyper-image's second stage is meant to weigh (Chandakkar & Li 2017, experiment 3 adds #14
and #15 as "the two most non-uniform distortions"). Counts of damaged places are given
for a 512 x 384 TID2013 image and scaled to the image's area (at least one), so the
damaged fraction of the image, not the absolute count, is the same at every size.

#14 and #15 follow the behaviour of RankIQA's published generator (Liu, van de Weijer &
Bagdanov, ICCV 2017), re-implemented from its description: #14 copies 15 x 15 patches
from 5 pixels away, 30 to 300 times; #15 pastes 2 to 32 flat 32 x 32 blocks whose colour
depends on the level. #12 and #13 simulate transmission errors in a JPEG or JPEG2000 code
stream (RankIQA does not generate them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hyperimage.data.distortions._common import (
    EIGHT_BIT, channels, check_min_size, decode, encode, finish, jpeg2000_options, jpeg2000_roundtrip, jpeg_options,
    jpeg_roundtrip, scaled_count,
)
from hyperimage.data.distortions._registry import register

#: Side of the copied patches of #14 and of the displacement they are copied from.
PATCH, PATCH_OFFSET = 15, 5

#: Side of the flat blocks of #15 and of the independently coded blocks of #12 and #13.
BLOCK = 32

#: Codec settings of the undamaged image: JPEG quality (#12) and JPEG2000 ratio (#13).
TRANSMISSION_JPEG_QUALITY, TRANSMISSION_JPEG2000_RATIO = 90, 12.0

#: JPEG2000 ratio and resolution levels of a block coded alone (#13). A 32 x 32 stream
#: spends about 220 bytes on headers, so a lower ratio than the image's gives its payload the
#: same quality (about 41 dB on skimage's astronaut, as the image at ratio 12); with three
#: resolutions rather than OpenJPEG's default six, a bit error garbles part of the block
#: instead of mostly wiping it out.
BLOCK_JPEG2000_RATIO, BLOCK_JPEG2000_RESOLUTIONS = 4.0, 3

#: A damaged block must differ from its clean decoding by at least this RMS (8 grey levels).
VISIBLE_RMS = 8 * EIGHT_BIT

#: Visible bit flips collected per block; the least damaging of them is kept.
CANDIDATE_FLIPS = 4

#: Bit flips tried per block at most.
MAX_FLIPS = 60

#: Damaged blocks of #12 and #13 per level, for a 512 x 384 image (192 blocks of 32 x 32).
TRANSMISSION_COUNTS = (2, 4, 8, 16, 32)


def _flip_bit(block: np.ndarray, data: bytes, payload: slice, rng: np.random.Generator) -> np.ndarray:
    """Decode ``data`` (the code stream of ``block``) with one bit flipped inside ``payload``.

    Flips that touch or create a marker byte (0xFF) or its successor would break the
    stream's structure rather than its content and are not tried; nor are flips the decoder
    rejects. Of the first :data:`CANDIDATE_FLIPS` flips that change the block visibly
    (:data:`VISIBLE_RMS`) the least damaging is kept: errors in coefficient data, which
    garble part of the block, win over errors in packet headers, which wipe it out. Should
    no flip be visible within :data:`MAX_FLIPS` tries, the most damaging one is kept.
    """
    clean = decode(data, channels(block))
    visible: list[tuple[float, np.ndarray]] = []
    fallback: tuple[float, np.ndarray] = (0.0, clean)
    for _ in range(MAX_FLIPS):
        pos = int(rng.integers(payload.start, payload.stop))
        damaged = bytearray(data)
        damaged[pos] ^= 1 << int(rng.integers(8))
        if 0xFF in (data[pos], data[pos - 1], damaged[pos]):
            continue
        try:
            decoded = decode(bytes(damaged), channels(block))
        except OSError:
            continue
        rms = float(np.sqrt(np.mean((decoded - clean) ** 2)))
        if rms >= VISIBLE_RMS:
            visible.append((rms, decoded))
            if len(visible) == CANDIDATE_FLIPS:
                break
        elif rms > fallback[0]:
            fallback = (rms, decoded)
    return min(visible, key=lambda c: c[0])[1] if visible else fallback[1]


def _transmission_errors(
    image: np.ndarray,
    count: int,
    rng: np.random.Generator,
    roundtrip: Callable[[np.ndarray], np.ndarray],
    block_stream: Callable[[np.ndarray], tuple[bytes, slice]],
) -> np.ndarray:
    """Code the image with ``roundtrip``, then replace ``count`` (scaled) 32 x 32 blocks by damaged ones.

    Each damaged block is coded on its own (``block_stream`` returns its code stream and
    the byte range of its entropy-coded payload), as a restart interval of JPEG or a tile
    of JPEG2000 is, so an error stays inside it. The blocks are drawn as a prefix of one
    random order, each with its own seed, so with the same ``rng`` state a higher level
    damages the blocks of the lower ones in the same way, plus more.
    """
    check_min_size(image, BLOCK, "a transmission-error distortion")
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    order = rng.permutation(rows * cols)
    seeds = rng.integers(0, 2**63, size=rows * cols)
    out = roundtrip(image)
    for index, seed in zip(order[: min(scaled_count(count, image.shape), rows * cols)], seeds):
        r, c = divmod(int(index), cols)
        where = (slice(r * BLOCK, (r + 1) * BLOCK), slice(c * BLOCK, (c + 1) * BLOCK))
        data, payload = block_stream(image[where])
        out[where] = _flip_bit(image[where], data, payload, np.random.default_rng(seed))
    return finish(out)


def _jpeg_block_stream(block: np.ndarray) -> tuple[bytes, slice]:
    data = encode(block, "JPEG", **jpeg_options(TRANSMISSION_JPEG_QUALITY))
    sos = data.index(b"\xff\xda")
    header = int.from_bytes(data[sos + 2 : sos + 4], "big")
    return data, slice(sos + 2 + header, len(data) - 2)


def _jpeg2000_block_stream(block: np.ndarray) -> tuple[bytes, slice]:
    options = jpeg2000_options(block, BLOCK_JPEG2000_RATIO)
    data = encode(block, "JPEG2000", **options, num_resolutions=BLOCK_JPEG2000_RESOLUTIONS)
    return data, slice(data.index(b"\xff\x93") + 2, len(data) - 2)


@register(12, "jpeg_transmission_errors", TRANSMISSION_COUNTS, uniform=False)
def jpeg_transmission_errors(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """#12: JPEG (quality 90) with bit errors in ``count`` 32 x 32 blocks.

    Each damaged block is coded as its own JPEG stream (like one restart interval, after
    which a decoder resynchronises) and one bit of its entropy-coded data is flipped, so the
    block decodes with wrong coefficients from that point on: blocky, miscoloured patterns.
    """
    return _transmission_errors(
        image, count, rng, lambda x: jpeg_roundtrip(x, TRANSMISSION_JPEG_QUALITY), _jpeg_block_stream
    )


@register(13, "jpeg2000_transmission_errors", TRANSMISSION_COUNTS, uniform=False)
def jpeg2000_transmission_errors(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """#13: JPEG2000 (ratio 12, 2 bits per RGB pixel) with bit errors in ``count`` 32 x 32 tiles.

    Each damaged tile is coded as its own JPEG2000 stream and one bit of its packet data is
    flipped; OpenJPEG decodes the wrong wavelet coefficients into ringing, smeared or
    miscoloured tiles.
    """
    return _transmission_errors(
        image, count, rng, lambda x: jpeg2000_roundtrip(x, TRANSMISSION_JPEG2000_RATIO), _jpeg2000_block_stream
    )


def _square_indices(h: int, w: int, top: np.ndarray, left: np.ndarray, side: int) -> np.ndarray:
    """(N, side * side) flat indices of the squares with corners (top, left)."""
    r = np.arange(side)
    rows = top[:, None, None] + r[None, :, None]
    cols = left[:, None, None] + r[None, None, :]
    return (rows * w + cols).reshape(len(top), side * side)


@register(14, "non_eccentricity_pattern_noise", (15, 30, 70, 150, 300), uniform=False)
def non_eccentricity_pattern_noise(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """#14: ``count`` (scaled) 15 x 15 patches replaced by the content 5 pixels away.

    Each patch is copied from the original image at a displacement of 5 pixels in both
    axes, the signs drawn per patch, so the pasted texture fits its surroundings but is
    out of place; where pasted patches overlap, the later one wins.
    """
    check_min_size(image, PATCH + 2 * PATCH_OFFSET, "non-eccentricity pattern noise")
    h, w = image.shape[:2]
    n = scaled_count(count, image.shape)
    top = rng.integers(PATCH_OFFSET, h - PATCH - PATCH_OFFSET + 1, size=n)
    left = rng.integers(PATCH_OFFSET, w - PATCH - PATCH_OFFSET + 1, size=n)
    dy, dx = PATCH_OFFSET * rng.choice([-1, 1], size=(2, n))
    target = _square_indices(h, w, top, left, PATCH).ravel()
    source = _square_indices(h, w, top + dy, left + dx, PATCH).ravel()
    # keep the last write to every target pixel, as sequential pasting would
    _, from_end = np.unique(target[::-1], return_index=True)
    last = target.size - 1 - from_end
    flat = image.reshape(h * w, -1)
    out = flat.copy()
    out[target[last]] = flat[source[last]]
    return finish(out.reshape(image.shape))


@register(
    15,
    "local_block_wise_distortions",
    ((2, 0.0, 0.0), (4, 1.0, 50 * EIGHT_BIT), (8, 1.0, 30 * EIGHT_BIT), (16, 1.0, 0.0), (32, 1.0, 0.0)),
    uniform=False,
)
def local_block_wise_distortions(
    image: np.ndarray, count_gain_offset: tuple[int, float, float], rng: np.random.Generator
) -> np.ndarray:
    """#15: ``count`` (scaled) 32 x 32 blocks filled with one flat colour.

    The colour is the image's mean colour with its first channel (red; the gray value of a
    gray image) replaced by ``gain * mean + offset``: RankIQA's levels zero it (level 1,
    2 blocks), raise it by 50 or 30 grey levels (levels 2 and 3) or keep the mean colour
    (levels 4 and 5, 16 and 32 blocks); the damage grows with the number of blocks.
    """
    count, gain, offset = count_gain_offset
    check_min_size(image, BLOCK, "local block-wise distortions")
    h, w = image.shape[:2]
    n = scaled_count(count, image.shape)
    top = rng.integers(0, h - BLOCK + 1, size=n)
    left = rng.integers(0, w - BLOCK + 1, size=n)
    colour = np.atleast_1d(image.mean(axis=(0, 1))).astype(np.float64)
    colour[0] = gain * colour[0] + offset
    out = image.reshape(h * w, -1).copy()
    out[_square_indices(h, w, top, left, BLOCK).ravel()] = colour
    return finish(out.reshape(image.shape))
