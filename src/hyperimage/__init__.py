"""hyperimage: two-stage hyper-image CNNs for localized image artefacts (Chandakkar & Li, 2017).

For Python users, one way in::

    import hyperimage
    hyperimage.list_models()             # {"iqa": "...", "forgery": "..."}
    iqa = hyperimage.load("iqa")         # or "forgery", or a model folder
    iqa.score("photo.jpg")               # paths, PIL images, arrays, tensors, or lists of them
    iqa.explain("photo.jpg").overlay     # the heat map over the photo, a PIL image

``load``, ``list_models`` and the classes they return (:mod:`hyperimage.inference.predictor`)
are imported on first use, so ``import hyperimage`` stays light (no torch until then).
The rest of the API (training, evaluation, archives) is :mod:`hyperimage.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Names taken from :mod:`hyperimage.inference.predictor` when first used.
_LAZY = ("load", "list_models", "Predictor", "Explanation", "ModelInfo")

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from hyperimage.inference.predictor import Explanation, ModelInfo, Predictor, list_models, load


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from hyperimage.inference import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'hyperimage' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
