"""A data set with every JPEG saved again alike: its labels no longer readable from the files' headers.

CASIA v1.0's authentic and tampered JPEGs were saved with different quantisation tables, so a
lookup of the header (``benchmark forgery``'s ``jpeg-tables`` row) separates them almost
perfectly without decoding a pixel, and a row that sees the compression (the DCT-Markov SVM)
can learn the same. Decoding every image and saving it at one quality gives every file the
same tables; what earlier compressions left in the pixels stays, blurred by one more.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hyperimage.data.io import MAX_PIXELS, ImageError, opened_image

JPEG_SUFFIXES = (".jpg", ".jpeg")


def resave(data: Path, out: Path, quality: int) -> Path:
    """A copy of ``data``'s layout in ``out`` with every JPEG decoded and saved again at JPEG
    ``quality`` (1-100), other files copied as they are; returns ``out``.

    Made once: the copy is written beside ``out`` and renamed when complete, so a rerun finds
    it whole or makes it again. A JPEG that does not decode is named on stderr and left out.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    data = Path(data)
    if not data.is_dir():
        raise ValueError(f"{data}: no such folder to re-save")
    if out.is_dir():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        target = partial / path.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() not in JPEG_SUFFIXES:
            shutil.copyfile(path, target)
            continue
        try:
            with opened_image(path, MAX_PIXELS) as im:
                im.convert("RGB").save(target, quality=quality)
        except ImageError as err:
            target.unlink(missing_ok=True)
            print(f"{path}: not re-saved, left out ({err.reason})", file=sys.stderr)
    partial.mkdir(parents=True, exist_ok=True)
    partial.rename(out)
    return out
