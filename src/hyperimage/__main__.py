"""``python -m hyperimage`` (and ``torchrun ... -m hyperimage``): the ``hyperimage`` command."""

from hyperimage.cli import app

app(prog_name="hyperimage")
