"""The task objects: everything that differs between a score and a class, in one place."""

import numpy as np
import pytest
import torch

from hyperimage import presets
from hyperimage.inference import tasks
from hyperimage.inference.model import HyperImageModel, ModelConfig


def test_regression_standardises_with_training_statistics_and_maps_back():
    task = tasks.get("regression")
    train = torch.tensor([1.0, 2.0, 3.0, 6.0])
    shift, scale = task.norm(train)
    encoded = task.encode(torch.tensor([2.0, 10.0]), (shift, scale))
    torch.testing.assert_close(shift + scale * encoded, torch.tensor([2.0, 10.0]))
    assert task.activate(torch.tensor([-3.0])).item() == -3.0
    intercept, slope = task.calibrate(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    assert (intercept, slope) == pytest.approx((1.0, 2.0))


def test_classification_weights_classes_equally_and_fits_a_logit():
    task = tasks.get("classification")
    labels = torch.tensor([1.0, 0.0, 0.0, 0.0])
    encoded = task.encode(labels, task.norm(labels))
    assert encoded.shape == (4, 2)
    assert encoded[labels > 0.5, 1].sum() == pytest.approx(encoded[labels < 0.5, 1].sum().item())
    intercept, slope = task.calibrate(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert slope > 0  # a higher mean patch score means class 1
    assert 0 < task.activate(torch.tensor([0.3])).item() < 1


def test_a_model_takes_its_task_from_the_config_and_refuses_unknown_ones():
    assert HyperImageModel(presets.get("forgery")).task is tasks.CLASSIFICATION
    assert HyperImageModel(presets.get("synthetic")).task is tasks.REGRESSION
    with pytest.raises(ValueError, match="task must be one of"):
        ModelConfig(task="segmentation")
