"""Geometry of 1D (dilated, optionally causal) neighborhood attention, shared by every backend.

Semantics (NATTEN's, in 1D): for dilation ``d`` token ``i`` belongs to group ``i mod d`` at group
position ``i // d``. Group ``g`` holds ``L_g = ceil((N - g) / d)`` tokens. Inside its group a query at
position ``p`` attends to

* non-causal: the ``K`` nearest keys, the window ``[p - K//2, p + K//2]`` shifted (not truncated) to
  stay inside ``[0, L_g)``; all ``L_g`` keys when ``L_g < K``;
* causal: itself and the ``K - 1`` nearest earlier keys, ``[max(0, p - K + 1), p]``.

A relative-position-bias table ``(H, 2K - 1)`` is indexed by ``key - query + K - 1`` (group steps).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_int

__all__ = ["window_bounds", "group_lengths", "neighborhood_mask", "check_local_attention_args"]


def group_lengths(length: int | Tensor, dilation: int, device: torch.device | None = None) -> Tensor:
    """Tokens per dilation group, ``(d,)`` long: ``ceil((N - g) / d)`` clamped at 0."""
    groups = torch.arange(dilation, device=device)
    return torch.clamp((length - groups + dilation - 1) // dilation, min=0)


def window_bounds(position: Tensor, group_length: Tensor, kernel_size: int, causal: bool) -> tuple[Tensor, Tensor]:
    """Half-open key range ``[start, end)`` (group positions) that a query at ``position`` attends to."""
    if causal:
        start = torch.clamp(position - kernel_size + 1, min=0)
        return start, position + 1
    start = torch.clamp(torch.minimum(position - kernel_size // 2, group_length - kernel_size), min=0)
    return start, torch.minimum(start + kernel_size, group_length)


def neighborhood_mask(length: int, kernel_size: int, dilation: int, causal: bool,
                      device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Dense ``(N, N)`` boolean mask (True = query row may attend to key column) and bias index.

    The bias index is ``key - query + K - 1`` in group steps, valid where the mask is True. Used by the
    O(N^2) reference backend and by the FlexAttention mask.
    """
    index = torch.arange(length, device=device)
    group, position = index % dilation, index // dilation
    lengths = group_lengths(length, dilation, device)[group]
    start, end = window_bounds(position, lengths, kernel_size, causal)
    key_position = position[None, :]
    allowed = (group[:, None] == group[None, :]) & (key_position >= start[:, None]) & (key_position < end[:, None])
    bias_index = key_position - position[:, None] + kernel_size - 1
    return allowed, bias_index.clamp(0, 2 * kernel_size - 2)


def check_local_attention_args(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int,
                               rpb: Tensor | None) -> None:
    """Raise ``ValueError`` naming the offending argument of ``local_attention``."""
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if not isinstance(tensor, Tensor) or tensor.dim() != 4:
            shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
            raise ValueError(f"{name} must be a 4-D tensor (B, H, N, D), got {shape}")
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k and v must have the same shape (B, H, N, D); got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.shape[2] < 1:
        raise ValueError("q must hold at least one token (N >= 1)")
    check_int("kernel_size", kernel_size, odd=True)
    check_int("dilation", dilation)
    if rpb is not None:
        expected = (q.shape[1], 2 * kernel_size - 1)
        if not isinstance(rpb, Tensor) or tuple(rpb.shape) != expected:
            shape = tuple(rpb.shape) if isinstance(rpb, Tensor) else type(rpb).__name__
            raise ValueError(f"rpb must have shape (heads, 2 * kernel_size - 1) = {expected}, got {shape}")
