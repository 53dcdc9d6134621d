"""Token mixers ported to 1D, one family per file; importing this package imports every module in it, and each
family file registers its mixers by name (a new file needs no other change)."""

import importlib
import pkgutil

from .registry import MixerInfo, create_mixer, list_mixers, mixer_info, mixers_markdown, register_mixer

for _family in sorted(module.name for module in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_family}")

__all__ = ["MixerInfo", "create_mixer", "list_mixers", "mixer_info", "mixers_markdown", "register_mixer"]
