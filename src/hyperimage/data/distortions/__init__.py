"""TID2013's distortion types at five levels, applied globally or inside a region mask.

All 24 types of TID2013 (Ponomarenko et al., "Image database TID2013: Peculiarities,
results and perspectives", Signal Processing: Image Communication 30, 2015) under their
official 1-based numbers, each with five levels (1 the mildest)::

    from hyperimage.data.distortions import distort, masks
    rng = np.random.default_rng(0)
    noisy = distort(image, 1, level=3, rng=rng)                   # by number ...
    blocks = distort(image, "local_block_wise_distortions", 5, rng)  # ... or by name
    region = masks.blobs(image.shape, area=0.3, rng=rng)
    local_jpeg = distort(image, 10, 5, rng, mask=region)          # only inside the blobs

The implementations are grouped by family: :mod:`.noise` (#1-#7, #19),
:mod:`.compression` (blur, denoising, compression: #8-#11, #20, #21, #24), :mod:`.colour`
(#16-#18, #22, #23) and :mod:`.local` (#12-#15); :mod:`.implementations` makes JPEG, blur
and noise with other code (#25 on: OpenCV, Pillow, other kernels and noise models), each
type saying its ``family`` and ``implementation``. A new type is one function in one of them
with one ``@register(number, name, levels)`` line; :func:`available` lists what is registered.
"""

from hyperimage.data.distortions import masks
from hyperimage.data.distortions._common import to_uint8
from hyperimage.data.distortions._registry import NUM_LEVELS, TID2013_TYPES, Distortion, available, distort, get, register

# Importing the family modules registers their distortions.
from hyperimage.data.distortions import colour, compression, implementations, local, noise  # noqa: E402,F401  isort: skip

#: The 17 types RankIQA generates for its ranking data (Liu et al., ICCV 2017).
RANKIQA_TYPES = (1, 2, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 22, 23)

#: The two "most non-uniform" types the paper adds in experiment 3 (Chandakkar & Li 2017):
#: non-eccentricity pattern noise and local block-wise distortions. (#12 and #13 are local
#: too; ``Distortion.uniform`` marks all four.)
NON_UNIFORM_TYPES = (14, 15)

#: The four types TID2013 shares with LIVE: Gaussian noise, blur, JPEG, JPEG2000.
LIVE_SHARED_TYPES = (1, 8, 10, 11)

__all__ = [
    "Distortion",
    "LIVE_SHARED_TYPES",
    "NON_UNIFORM_TYPES",
    "NUM_LEVELS",
    "RANKIQA_TYPES",
    "TID2013_TYPES",
    "available",
    "distort",
    "get",
    "masks",
    "register",
    "to_uint8",
]
