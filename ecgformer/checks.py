"""Argument checks shared by ops, layers, mixers and models: each raises a one-line ``ValueError`` naming the argument.

Lengths traced by ``torch.export`` or ``torch.jit.trace`` (``SymInt`` or 0-d tensors) pass the integer checks
unchecked: guarding them would specialise exported graphs to the traced length.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["check_int", "check_ints", "check_fraction", "check_choice", "check_tokens", "check_heads"]


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None, odd: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) in ``[minimum, maximum]``, odd when ``odd``."""
    if isinstance(value, (torch.SymInt, Tensor)):
        return
    valid = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    valid = valid and (maximum is None or value <= maximum) and (not odd or value % 2 == 1)
    if not valid:
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an {'odd ' if odd else ''}int {bounds}, got {value!r}")


def check_ints(name: str, values: Iterable[object], minimum: int = 1, odd: bool = False) -> None:
    """Raise ``ValueError`` unless ``values`` is non-empty and every entry passes :func:`check_int`."""
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value, got {values!r}")
    for value in values:
        check_int(f"{name} entries", value, minimum, odd=odd)


def check_fraction(name: str, value: object, include_one: bool = True) -> None:
    """Raise ``ValueError`` unless ``value`` is a number in ``[0, 1]`` (``[0, 1)`` when ``include_one`` is False)."""
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value
    if not (valid and (value <= 1.0 if include_one else value < 1.0)):
        raise ValueError(f"{name} must be in [0, 1{']' if include_one else ')'}, got {value!r}")


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_tokens(x: Tensor, dim: int) -> None:
    """Raise ``ValueError`` unless ``x`` is tokens ``(B, N, dim)`` with ``N >= 1``."""
    if x.dim() != 3 or x.shape[-1] != dim or x.shape[1] < 1:
        raise ValueError(f"x must be tokens (B, N>=1, C={dim}), got shape {tuple(x.shape)}")


def check_heads(dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``num_heads`` is an int >= 1 that divides ``dim``."""
    check_int("num_heads", num_heads)
    if dim % num_heads:
        raise ValueError(f"num_heads={num_heads} must divide dim={dim}")
