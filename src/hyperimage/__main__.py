"""``python -m hyperimage`` (and ``torchrun ... -m hyperimage``): the ``hyperimage`` command."""

from .cli import app

app(prog_name="hyperimage")
