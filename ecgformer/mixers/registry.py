"""Registry of token mixers: ``(B, N, C) -> (B, N, C)`` modules, created by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..registry import Registry

__all__ = ["MIXERS", "MixerInfo", "register_mixer", "list_mixers", "mixer_info", "create_mixer"]


@dataclass(frozen=True)
class MixerInfo:
    """Metadata of a registered mixer."""

    name: str
    family: str
    paper: str
    origin_2d: str
    changes_1d: str
    cls: type[nn.Module]


MIXERS: Registry[MixerInfo] = Registry("mixer")


def register_mixer(name: str, *, family: str, paper: str, origin_2d: str,
                   changes_1d: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator registering a mixer under ``name`` with its paper and 1D-port notes."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        MIXERS.register(name, MixerInfo(name, family, paper, origin_2d, changes_1d, cls))
        return cls

    return decorate


def list_mixers() -> list[str]:
    """Names of every registered mixer, sorted."""
    return MIXERS.names()


def mixer_info(name: str) -> MixerInfo:
    """Metadata (family, paper, 2D origin, what changed in 1D) of the mixer ``name``."""
    return MIXERS[name]


def create_mixer(name: str, dim: int, num_heads: int = 4, **kwargs: object) -> nn.Module:
    """Instantiate the mixer ``name`` as ``Mixer(dim, num_heads=num_heads, **kwargs)``."""
    return mixer_info(name).cls(dim, num_heads=num_heads, **kwargs)
