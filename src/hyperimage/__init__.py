"""hyperimage: two-stage hyper-image CNNs for localized image artefacts (Chandakkar & Li, 2017)."""

__version__ = "0.1.0"
