"""ecgformer: vision-transformer token mixers in 1D, hybrid backbones and training for ECG deep learning.

The torch-based attributes (``ops``, ``create_model``, ``create_mixer`` ...) are imported on first use, so
torch-free parts (``ecgformer.data`` preprocessing and readers, ``ecgformer.inference``) import without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "create_mixer", "create_model", "list_mixers", "list_models", "mixer_info", "ops"]

_LAZY = {"ops": ("ops", None), "create_mixer": ("mixers", "create_mixer"), "list_mixers": ("mixers", "list_mixers"),
         "mixer_info": ("mixers", "mixer_info"), "create_model": ("models", "create_model"),
         "list_models": ("models", "list_models")}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
