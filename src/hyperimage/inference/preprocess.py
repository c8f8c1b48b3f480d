"""Whole-image preprocessing applied before the patch grid, selected by name.

Stage 1 sees preprocessed patches; the preprocessing is part of the model's config so a
saved model always scores images the way it was trained.
"""

from __future__ import annotations

from typing import Callable

import torch

from hyperimage.inference.lcn import lcn_torch
from hyperimage.registry import Registry

Preprocess = Callable[[torch.Tensor], torch.Tensor]
PREPROCESSING: Registry[Preprocess] = Registry("preprocessing")
register = PREPROCESSING.register
get = PREPROCESSING.get


@register("none")
def identity(images: torch.Tensor) -> torch.Tensor:
    """No preprocessing (the synthetic task)."""
    return images


@register("image-mean")
def subtract_image_mean(images: torch.Tensor) -> torch.Tensor:
    """Subtract each image's per-channel mean, so patches see contrast, not brightness.

    On the synthetic task this maps the background to about 0 and leaves each patch's
    difference to the background, the quantity Eq. 3 scores.
    """
    return images - images.mean(dim=(2, 3), keepdim=True)


@register("signed")
def signed(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] to [-1, 1] and nothing else: the brightness, contrast and colour cast that
    Eq. 4 normalises away reach stage 1, which authentic distortions (under- and over-exposure,
    washed-out or tinted photos) need (the ``livec-rgb`` preset)."""
    return images * 2.0 - 1.0


@register("lcn")
def local_contrast_normalisation(images: torch.Tensor) -> torch.Tensor:
    """Eq. 4: 7x7 Gaussian-weighted local contrast normalisation, channel by channel."""
    return lcn_torch(images)


@register("efficientnet-lite")
def efficientnet_lite(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] to the inputs EfficientNet-Lite was trained on: ``(255 x - 127) / 128``
    (TensorFlow's ``MEAN_RGB = 127``, ``STDDEV_RGB = 128``), for the ImageNet trunk of Table 2
    experiment 5 (:mod:`hyperimage.inference.networks.efficientnet_lite`)."""
    return images * (255.0 / 128.0) - 127.0 / 128.0


#: ImageNet's per-channel RGB mean and standard deviation (torchvision's normalisation).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@register("imagenet")
def imagenet(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] standardised with ImageNet's channel means and deviations, the inputs of
    torchvision's ImageNet networks (the VGG-16 trunk, :mod:`hyperimage.inference.networks.vgg`)."""
    mean = images.new_tensor(IMAGENET_MEAN)[:, None, None]
    std = images.new_tensor(IMAGENET_STD)[:, None, None]
    return (images - mean) / std
