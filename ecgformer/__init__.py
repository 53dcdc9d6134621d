"""ecgformer: vision-transformer token mixers in 1D, hybrid backbones and training for ECG deep learning.

The torch-based attributes (``ops``, ``create_model``, ``create_mixer`` ...) are imported on first use, so
torch-free parts (``ecgformer.data`` preprocessing and readers, ``ecgformer.inference``) import without torch.
"""

from __future__ import annotations

from ._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = ["__version__", "create_mixer", "create_model", "list_mixers", "list_models", "mixer_info", "ops"]

__getattr__, __dir__ = lazy_attributes(__name__, globals(), {
    "ops": "ops", "create_mixer": "mixers", "list_mixers": "mixers", "mixer_info": "mixers",
    "create_model": "models", "list_models": "models"})
