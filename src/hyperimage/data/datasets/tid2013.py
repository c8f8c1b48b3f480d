"""TID2013 (Ponomarenko et al. 2015): 25 references, 24 distortion types, 5 levels, 3000 images.

The paper's experiments 2-5 (Chandakkar & Li 2017, Table 2) use TID2013: all 24 types, and in
experiment 3 the four types shared with LIVE (:data:`SHARED_WITH_LIVE`), then those plus the
two non-uniform ones (:data:`NON_UNIFORM`). Scores are MOS in [0, 9], **higher is better**.

Layout (the folder holding it is accepted too)::

    reference_images/    I01.BMP ... I24.BMP, i25.bmp
    distorted_images/    i01_01_1.bmp: reference 1, type 1, level 1 (letter case varies)
    mos_with_names.txt   lines ``MOS filename``
    mos_std.txt          one standard deviation a line, same order (optional)

Names are matched without regard to letter case.

References
----------
N. Ponomarenko et al., "Image database TID2013: Peculiarities, results and perspectives",
Signal Processing: Image Communication 30, 57-77, 2015.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from hyperimage.data.datasets import _layout
from hyperimage.data.datasets.layout import Layout
from hyperimage.data.datasets.records import ImageRecord
from hyperimage.data.distortions import LIVE_SHARED_TYPES, NON_UNIFORM_TYPES


#: The official 1-based type numbers (the middle field of a distorted file's name).
DISTORTION_NAMES: dict[int, str] = {
    1: "additive Gaussian noise",
    2: "additive noise stronger in colour components than in luminance",
    3: "spatially correlated noise",
    4: "masked noise",
    5: "high-frequency noise",
    6: "impulse noise",
    7: "quantization noise",
    8: "Gaussian blur",
    9: "image denoising",
    10: "JPEG compression",
    11: "JPEG2000 compression",
    12: "JPEG transmission errors",
    13: "JPEG2000 transmission errors",
    14: "non-eccentricity pattern noise",
    15: "local block-wise distortions of different intensity",
    16: "mean shift (intensity shift)",
    17: "contrast change",
    18: "change of colour saturation",
    19: "multiplicative Gaussian noise",
    20: "comfort noise",
    21: "lossy compression of noisy images",
    22: "colour quantization with dither",
    23: "chromatic aberrations",
    24: "sparse sampling and reconstruction",
}
#: The four types TID2013 shares with LIVE (the paper's experiment 3, first part), and the
#: two most non-uniform types added to them in its second part: one definition, the
#: distortion library's.
SHARED_WITH_LIVE, NON_UNIFORM = LIVE_SHARED_TYPES, NON_UNIFORM_TYPES
#: Reference 25 is a synthetic picture, not a natural photo; some studies leave it out.
SYNTHETIC_REFERENCE = 25

_DIRS = ("reference_images", "distorted_images")
_FILES = ("mos_with_names.txt",)
_DISTORTED = re.compile(r"i(\d+)_(\d+)_(\d+)\.bmp", re.IGNORECASE)


def looks_like(root: str | os.PathLike) -> bool:
    """True if ``root`` (or exactly one folder directly inside it) has the TID2013 layout."""
    return _layout.has_layout(root, _DIRS, _FILES)


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank lines of a text file as (line number, whitespace-separated fields)."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def load(
    root: str | os.PathLike, *, distortions: Iterable[int] | None = None, exclude_synthetic: bool = False
) -> list[ImageRecord]:
    """Read TID2013 as one record per distorted image, in the order of ``mos_with_names.txt``.

    Parameters
    ----------
    root : the data set's folder, or the folder holding it.
    distortions : official type numbers (1-24) to keep, e.g. ``SHARED_WITH_LIVE + NON_UNIFORM``
        for the paper's six-type experiment; all when None.
    exclude_synthetic : leave out the images made from reference 25, which is not a natural
        photo.

    Returns
    -------
    list of ImageRecord
        ``target`` the MOS (higher is better), ``group`` the reference's canonical name
        (``I01`` ... ``I25``), ``reference`` its file, ``distortion`` the official type
        number as a string (``"14"``), ``level`` 1-5 (1 mildest), ``extra["mos_std"]`` where
        ``mos_std.txt`` is there, ``extra["distortion_name"]`` the type's name.

    Raises
    ------
    ValueError
        One line: not the layout, an unknown type number, a malformed line, a listed image
        or reference that is not on disk, or a ``mos_std.txt`` of another length.
    """
    chosen = _layout.select_types(distortions, DISTORTION_NAMES, "TID2013")
    root = _layout.resolve_root(root, _DIRS, _FILES, "TID2013")
    names = _layout.entries(root)
    mos_path = names["mos_with_names.txt"]
    rows = _lines(mos_path)
    std_path = names.get("mos_std.txt")
    stds = [_layout.number(f[0], f"{std_path}:{n}") for n, f in _lines(std_path)] if std_path is not None else None
    if stds is not None and len(stds) != len(rows):
        raise ValueError(f"{std_path}: {len(stds)} values for the {len(rows)} lines of {mos_path.name}")
    distorted = _layout.entries(names["distorted_images"])
    references = _layout.entries(names["reference_images"])

    records = []
    for k, (line, fields) in enumerate(rows):
        match = _DISTORTED.fullmatch(fields[1]) if len(fields) >= 2 else None
        if match is None or int(match.group(2)) not in DISTORTION_NAMES:
            raise ValueError(f"{mos_path}:{line}: expected 'MOS iNN_TT_L.bmp' with type 1-24, got {' '.join(fields)!r}")
        ref, kind, level = map(int, match.groups())
        if (chosen is not None and kind not in chosen) or (exclude_synthetic and ref == SYNTHETIC_REFERENCE):
            continue
        path = distorted.get(fields[1].lower())
        reference = references.get(f"i{ref:02d}.bmp")
        if path is None:
            raise ValueError(f"{mos_path}:{line}: {fields[1]} is not in distorted_images/")
        if reference is None:
            raise ValueError(f"{mos_path}:{line}: reference I{ref:02d}.BMP of {fields[1]} is not in reference_images/")
        extra = {"distortion_name": DISTORTION_NAMES[kind]}
        if stds is not None:
            extra["mos_std"] = str(stds[k])
        records.append(
            ImageRecord(
                path=path,
                target=_layout.number(fields[0], f"{mos_path}:{line}"),
                group=f"I{ref:02d}",
                reference=reference,
                distortion=str(kind),
                level=level,
                extra=extra,
            )
        )
    return records


LAYOUT = Layout(
    "tid2013", "TID2013", looks_like, load,
    higher_is_better=True, score_range=(0.0, 9.0), preset="tid",
)
