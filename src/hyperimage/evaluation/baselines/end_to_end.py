"""The end-to-end CNN baselines: whole images -> one CNN -> label (Table 3) or score (Table 2).

Forgery (Table 3, "Experiment 1"): Chandakkar & Li first train the "Forgery end-to-end CNN"
of Table 4 on whole images resized to 256x384 and report 75.22% accuracy on CASIA-2, below
the DCT-Markov SVM: a plain CNN on a few thousand images does not find small tampered regions.
IQA (Table 2, "Experiment 4"): the "Shallow" and "Deep end-to-end network for TID" of Table 4
(:mod:`hyperimage.inference.networks.iqa_end_to_end`), trained from scratch, are the worst rows of
Table 2, for the same reason.

:class:`EndToEndCNN` trains any of them the way the rest of hyperimage trains
(:func:`hyperimage.training.fit`: the paper's SGD recipe, early stopping on the validation
loss), with left-right mirroring and the mean training image (per channel) subtracted. The
loss says what the network learns: ``"bce"`` (class-weighted binary cross-entropy on logits,
labels 1 authentic / 0 tampered) or a regression loss of :data:`hyperimage.training.LOSSES`
(``"mae"``, the paper's, or ``"mse"``) on targets standardised with the training set's mean
and standard deviation, as the two-stage pipeline does.

Images are read and validated by :func:`hyperimage.data.io.load_image`, resized to the network's
input size (a portrait image is turned a quarter first when the input is landscape, so that
it fills it instead of being squashed) and held in memory as 8-bit (uint8) values: a quarter
of float32's memory (1,162 LIVE-C images at 384x384: 0.5 GB instead of 2 GB), at most
1/510 off the resized image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hyperimage.data.io import load_image
from hyperimage.inference.networks import create
from hyperimage.inference.tasks import class_weighted, label_norm
from hyperimage.training import augment as augmentations
from hyperimage.training.augment import Entry
from hyperimage.training.loop import LOSSES, LoopState, TrainConfig, fit


def load_resized(path: str | Path, size: tuple[int, int]) -> torch.Tensor:
    """An RGB image file as ``(3, H, W)`` float32 at ``size`` (height, width).

    Portrait images are rotated to landscape when ``size`` is landscape (and vice versa);
    then the image is resized (bilinear) unless it already has ``size``.
    """
    image = load_image(path, mode="RGB")
    if (image.shape[0] > image.shape[1]) != (size[0] > size[1]):
        image = np.rot90(image)
    if image.shape[:2] != tuple(size):
        channels = [Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F") for c in range(3)]
        image = np.stack([np.asarray(c.resize((size[1], size[0]), Image.BILINEAR)) for c in channels], axis=-1)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


#: Losses :class:`EndToEndCNN` classifies with; the other ``LOSSES`` regress.
CLASSIFICATION_LOSSES = ("bce",)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as 8-bit levels, the in-memory form of :class:`EndToEndCNN`'s training set."""
    return (x.clamp(0.0, 1.0) * 255.0).round_().to(torch.uint8)


class EndToEndCNN:
    """One whole-image CNN of Table 4, trained as a classifier or a regressor.

    Parameters
    ----------
    size : input (height, width); the forgery network's 256x384 by default (see
        :mod:`hyperimage.inference.networks.iqa_end_to_end` for the IQA networks' sizes).
    conv_width : multiplier of the convolutions' filter counts (1 is Table 4; a CPU budget
        may thin the network, see :func:`hyperimage.inference.networks.forgery.scaled`).
    seed : seed of the initial weights.
    residual : put the fixed noise-residual front end
        (:class:`hyperimage.inference.networks.forgery.NoiseResidual`) before the first convolution
        (forgery network only).
    network : registered name of the network, ``"forgery-end-to-end"``,
        ``"iqa-shallow-end-to-end"`` or ``"iqa-deep-end-to-end"``.
    loss : ``"bce"`` for a two-class label, ``"mae"`` or ``"mse"`` for a score (module docstring).
    augment : training augmentations after the random mirror, as a recipe names them
        (:mod:`hyperimage.training.augment`), on images from which the training mean was
        subtracted: e.g. Hide-and-Seek, ``{"name": "hide", "cell": 32, "value": 0.0}``
        (hidden pixels at the training mean). None runs at test time.
    """

    def __init__(
        self,
        size: tuple[int, int] = (256, 384),
        conv_width: float = 1.0,
        seed: int = 0,
        residual: bool = False,
        network: str = "forgery-end-to-end",
        loss: str = "bce",
        augment: Sequence[Entry] = (),
    ):
        if loss not in LOSSES or loss == "siamese":
            raise ValueError(f"loss must be one of {sorted(set(LOSSES.available()) - {'siamese'})}, got {loss!r}")
        torch.manual_seed(seed)
        self.size = tuple(size)
        self.loss = loss
        self.augment = list(augment)
        options = {"residual": True} if residual else {}
        self.network = create(network, size=self.size, conv_width=conv_width, **options)
        self.mean = torch.zeros(3, 1, 1)
        #: mean and standard deviation of the training targets (regression; (0, 1) otherwise)
        self.target_norm = (0.0, 1.0)

    @property
    def classifier(self) -> bool:
        """Whether the network outputs a class logit (``loss="bce"``) rather than a score."""
        return self.loss in CLASSIFICATION_LOSSES

    def _load(self, paths: Sequence[str | Path]) -> torch.Tensor:
        return torch.stack([to_uint8(load_resized(p, self.size)) for p in paths]) if paths else torch.zeros(0, 3, *self.size, dtype=torch.uint8)

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255.0).sub_(self.mean)

    def _targets(self, values: Sequence[float]) -> torch.Tensor:
        y = torch.tensor([float(t) for t in values])
        if self.classifier:
            return class_weighted(y)
        return (y - self.target_norm[0]) / self.target_norm[1]

    def fit(
        self,
        train: Sequence[tuple[str | Path, float]],
        val: Sequence[tuple[str | Path, float]],
        config: TrainConfig,
        progress: bool = False,
    ) -> LoopState:
        """Train on ``(path, target)`` pairs; early stopping on ``val``.

        A classifier's targets are labels (1 authentic, 0 tampered); a regressor's are
        scores on any scale (MOS, higher better or not), standardised with the training
        set's statistics. ``config.loss`` is replaced by the model's ``loss``.
        """
        x = self._load([p for p, _ in train])
        self.mean = (x.double().mean(dim=(0, 2, 3)) / 255.0).float().view(3, 1, 1)
        if not self.classifier:
            self.target_norm = label_norm(torch.tensor([float(t) for _, t in train], dtype=torch.float64))
        y = self._targets([t for _, t in train])
        vx = self._load([p for p, _ in val])
        vy = self._targets([t for _, t in val])
        cfg = replace(config, loss=self.loss)

        def batches(gen: torch.Generator):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(order), cfg.batch_size):
                b = order[start : start + cfg.batch_size]
                mirror = (torch.rand(len(b), generator=gen) < 0.5).view(-1, 1, 1, 1)
                images = self._inputs(x[b])
                yield augmentations.apply(self.augment, torch.where(mirror, images.flip(3), images), gen), y[b]

        def validate() -> float:
            out = torch.cat([self.network(self._inputs(vx[i : i + 32])) for i in range(0, len(vx), 32)])
            return float(LOSSES.get(self.loss)(out, vy))

        return fit(self.network, batches, validate, cfg, desc="end-to-end", progress=progress)

    @torch.no_grad()
    def _outputs(self, paths: Sequence[str | Path], batch_size: int) -> torch.Tensor:
        self.network.eval()
        out = [self.network(self._inputs(self._load(paths[start : start + batch_size]))) for start in range(0, len(paths), batch_size)]
        return torch.cat(out) if out else torch.zeros(0)

    def predict(self, paths: Sequence[str | Path], batch_size: int = 32) -> np.ndarray:
        """Per image ``(N,)``: a regressor's score on the training targets' scale, a classifier's
        probability of "authentic"."""
        out = self._outputs(paths, batch_size)
        if self.classifier:
            return torch.sigmoid(out).numpy()
        return (out.double() * self.target_norm[1] + self.target_norm[0]).numpy()

    def predict_proba(self, paths: Sequence[str | Path], batch_size: int = 32) -> np.ndarray:
        """Probability that each image is authentic, ``(N,)`` (classifiers only)."""
        if not self.classifier:
            raise ValueError(f"predict_proba needs a classifier (loss='bce'); this one regresses with {self.loss!r}: use predict")
        return self.predict(paths, batch_size)
