"""Token mixers ported to 1D; every mixer registers itself by name on import (one family per file)."""

from . import attention  # noqa: F401  (registers the mixers of each family file)
from . import conv, dilated, focal, hilo, spatial_reduction, windowed  # noqa: F401  (part A families)
from . import focal_modulation, inception, pathway, smt  # noqa: F401  (part B families)
from .registry import MixerInfo, create_mixer, list_mixers, mixer_info, register_mixer

__all__ = ["MixerInfo", "create_mixer", "list_mixers", "mixer_info", "register_mixer"]
