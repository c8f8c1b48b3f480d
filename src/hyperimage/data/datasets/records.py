"""One labelled image, whatever data set it comes from.

Every loader (a user's folder with ``labels.csv``, LIVE, TID2013, KADID-10k, CASIA-2, the
generated benchmarks) yields a list of :class:`ImageRecord`; everything downstream (splits,
training, evaluation) reads only these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImageRecord:
    """A labelled image.

    Attributes
    ----------
    path : the image file.
    target : the label used for training: a quality score, or 1.0 / 0.0 for a class.
    group : images sharing a group never fall into different splits (e.g. the reference
        image of IQA data, the source photo of a forgery).
    split : a fixed split (``train``, ``val``, ``test``) where the data set prescribes one.
    reference : the pristine image this one was made from (IQA), if known.
    distortion : distortion type name or number, if known.
    level : distortion level (1 is mildest), if known.
    mask : ground-truth mask of the altered region (forgery), if known.
    extra : any further per-image fields a loader wants to keep.
    """

    path: Path
    target: float
    group: str | None = None
    split: str | None = None
    reference: Path | None = None
    distortion: str | None = None
    level: int | None = None
    mask: Path | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group_key(self) -> str:
        """The key that keeps related images in one split (the path where no group is set)."""
        return self.group if self.group is not None else str(self.path)


def mask_count(records: list[ImageRecord]) -> tuple[int, int]:
    """(tampered images with a mask, tampered images) of a forgery record list (target 0.0)."""
    tampered = [r for r in records if r.target == 0.0]
    return sum(r.mask is not None for r in tampered), len(tampered)
