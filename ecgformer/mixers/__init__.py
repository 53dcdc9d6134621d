"""Token mixers ported to 1D; every mixer registers itself by name on import (one family per file)."""

from . import attention, conv, dilated, focal, focal_modulation, hilo, inception, pathway, smt  # noqa: F401
from . import spatial_reduction, windowed  # noqa: F401  (importing a family file registers its mixers)
from .registry import MixerInfo, create_mixer, list_mixers, mixer_info, register_mixer

__all__ = ["MixerInfo", "create_mixer", "list_mixers", "mixer_info", "register_mixer"]
