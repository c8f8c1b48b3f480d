"""Inference: image -> Eq. 2 patch grid -> preprocessing -> stage-1 features -> hyper-image ->
stage 2 -> score and heat map. Nothing here imports :mod:`hyperimage.training`."""
