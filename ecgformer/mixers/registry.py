"""Registry of token mixers: ``(B, N, C) -> (B, N, C)`` modules, created by name.

A mixer is one file: its ``@register_mixer`` declares everything the rest of the package needs (family, paper,
2D origin, the layout and stated size of its ``ecgformer_s_<mixer>`` preset), and its docstring's ``1D port:``
paragraph is the one place its changes against the 2D original are written (``MixerInfo.changes_1d`` reads it).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..registry import Registry

__all__ = ["MIXERS", "MixerInfo", "register_mixer", "list_mixers", "mixer_info", "create_mixer", "port_notes",
           "mixers_markdown"]


@dataclass(frozen=True)
class MixerInfo:
    """Metadata of a registered mixer.

    ``preset_layout`` is the ``mixers`` entry of every stage of its ``ecgformer_s_<name>`` preset (a name, a
    ``{"name": ..., **kwargs}`` spec, or a per-stage tuple of those); ``preset_params`` that preset's stated size
    (12 leads, 5 classes). ``changes_1d`` is the ``1D port:`` paragraph of the class docstring.
    """

    name: str
    family: str
    paper: str
    origin_2d: str
    changes_1d: str
    cls: type[nn.Module]
    preset_layout: object
    preset_params: int


MIXERS: Registry[MixerInfo] = Registry("mixer")


def port_notes(cls: type) -> str:
    """The ``1D port:`` paragraph of ``cls``'s docstring on one line, reST roles and literals as Markdown code.

    Raises ``ValueError`` naming the class when the docstring has no such paragraph.
    """
    paragraphs = inspect.cleandoc(cls.__doc__ or "").split("\n\n")
    found = [p for p in paragraphs if p.startswith("1D port")]
    if not found:
        raise ValueError(f"{cls.__qualname__}: a mixer's docstring needs a paragraph starting with '1D port' that "
                         "states what differs from the 2D original on a height-1 input")
    text = " ".join(found[0].split())
    text = re.sub(r"^1D port[:,]?\s*", "", text)
    text = re.sub(r":(?:func|class|meth|data):`~?(?:[\w.]+\.)?(\w+)`", r"`\1`", text)
    return text.replace("``", "`")


def register_mixer(name: str, *, family: str, paper: str, origin_2d: str, preset_params: int,
                   preset_layout: object = None) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator registering a mixer under ``name``: its paper, its 2D origin and its ``ecgformer_s_<name>``
    preset (``preset_layout`` defaults to ``name`` in every stage; ``preset_params`` is its stated size). The 1D
    changes come from the class docstring (:func:`port_notes`)."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        MIXERS.register(name, MixerInfo(name, family, paper, origin_2d, port_notes(cls), cls,
                                        name if preset_layout is None else preset_layout, preset_params))
        return cls

    return decorate


def list_mixers() -> list[str]:
    """Names of every registered mixer, sorted."""
    return MIXERS.names()


def mixer_info(name: str) -> MixerInfo:
    """Metadata (family, paper, 2D origin, what changed in 1D, preset) of the mixer ``name``."""
    return MIXERS[name]


def create_mixer(name: str, dim: int, num_heads: int = 4, **kwargs: object) -> nn.Module:
    """Instantiate the mixer ``name`` as ``Mixer(dim, num_heads=num_heads, **kwargs)``."""
    return mixer_info(name).cls(dim, num_heads=num_heads, **kwargs)


def mixers_markdown() -> str:
    """The README's table of mixers (name, family, paper, what changed in 1D), generated from the registry."""
    rows = ["| mixer | family | paper | what changed in 1D |", "|---|---|---|---|"]
    for name in list_mixers():
        info = mixer_info(name)
        rows.append(f"| `{name}` | {info.family} | {info.paper} | {info.changes_1d} |")
    return "\n".join(rows) + "\n"
