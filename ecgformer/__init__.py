"""ecgformer: vision-transformer token mixers in 1D, hybrid backbones and training for ECG deep learning."""

from . import ops
from .mixers import create_mixer, list_mixers, mixer_info
from .models import create_model, list_models

__version__ = "0.1.0"

__all__ = ["ops", "create_mixer", "list_mixers", "mixer_info", "create_model", "list_models", "__version__"]
