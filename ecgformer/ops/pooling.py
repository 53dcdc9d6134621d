"""Token pooling and pooled-KV attention (PVT v1/v2 spatial reduction, HiLo Lo-Fi, iFormer low frequency).

Both poolings work for any ``N >= 1`` and export with dynamic length: the partial last window of a strided
pool is averaged over its real tokens only, and adaptive pooling is a ``(M, N)`` averaging matrix built from
the length (O(N * M), linear in N for a fixed number of output tokens ``M``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_int
from .windows import pad_to_multiple

__all__ = ["max_pool_same", "pool_tokens", "pooled_kv_attention", "token_matmul"]


def token_matmul(matrix: Tensor, x: Tensor) -> Tensor:
    """``matrix @ x`` for a matrix ``(M, N)`` and tokens ``(..., N, C)``: ``(..., M, C)``.

    Computed as a linear map of the token axis: ``matrix @ x`` broadcasts the matrix over the batch, and
    ``torch.export`` then specialises the graph on the batch not being 1.
    """
    return F.linear(x.transpose(-1, -2), matrix).transpose(-1, -2)


def _average_windows(x: Tensor, pool_size: int) -> Tensor:
    """Mean over non-overlapping windows of ``pool_size`` tokens along dim -2; last window may be partial."""
    length = x.shape[-2]
    padded, _ = pad_to_multiple(x, pool_size, dim=-2)
    windows = padded.unflatten(-2, (-1, pool_size)).sum(-2)
    counts = torch.clamp(length - torch.arange(0, padded.shape[-2], pool_size, device=x.device), max=pool_size)
    return windows / counts.to(x.dtype)[:, None]


def _adaptive_average(x: Tensor, num_tokens: int) -> Tensor:
    """``adaptive_avg_pool1d`` along dim -2 (same bin edges) as an averaging matrix product."""
    length = x.shape[-2]
    bins = torch.arange(num_tokens, device=x.device)
    start = (bins * length) // num_tokens
    end = ((bins + 1) * length + num_tokens - 1) // num_tokens
    positions = torch.arange(length, device=x.device)
    inside = (positions[None, :] >= start[:, None]) & (positions[None, :] < end[:, None])
    weights = inside.to(x.dtype) / (end - start).clamp(min=1).to(x.dtype)[:, None]
    return token_matmul(weights, x)


def pool_tokens(x: Tensor, pool_size: int | None = None, num_tokens: int | None = None) -> Tensor:
    """Average-pool tokens along dim -2 of ``(..., N, C)``.

    Give exactly one of ``pool_size`` (non-overlapping windows, ``ceil(N / pool_size)`` outputs) or
    ``num_tokens`` (adaptive pooling to a fixed count, as PVT v2's linear SRA).
    """
    if (pool_size is None) == (num_tokens is None):
        raise ValueError("give exactly one of pool_size or num_tokens")
    if pool_size is not None:
        check_int("pool_size", pool_size)
        return x if pool_size == 1 else _average_windows(x, pool_size)
    check_int("num_tokens", num_tokens)
    return _adaptive_average(x, num_tokens)


def pooled_kv_attention(q: Tensor, k: Tensor, v: Tensor, pool_size: int | None = None,
                        num_tokens: int | None = None, attn_bias: Tensor | None = None) -> Tensor:
    """Attention of full-length queries ``(B, H, N, D)`` over average-pooled keys and values.

    ``k`` and ``v`` ``(B, H, N_kv, D)`` are pooled by :func:`pool_tokens`; an optional additive
    ``attn_bias`` broadcastable to ``(B, H, N, M)`` is added to the logits. Scale ``D ** -0.5``.
    """
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"q, k, v must be 4-D (B, H, N, D); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape != v.shape or k.shape[:2] != q.shape[:2] or k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k and v must share shape (B, H, N_kv, D) with q's B, H, D; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    k, v = pool_tokens(k, pool_size, num_tokens), pool_tokens(v, pool_size, num_tokens)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)


def max_pool_same(x: Tensor, kernel_size: int, stride: int = 1, dim: int = -1) -> Tensor:
    """'Same'-padded max-pooling of a 3-D tensor along ``dim`` (1 or 2): odd ``kernel_size``, ``ceil(L / stride)``
    outputs; ``dim=-1`` pools signals ``(B, C, T)``, ``dim=1`` tokens ``(B, N, C)`` in place.

    Runs as a 2D pooling with a unit kernel across the other axis because ``torch.export`` specialises
    ``max_pool1d`` to the traced length, which would pin an exported model to one input length.
    """
    check_int("kernel_size", kernel_size, odd=True)
    check_int("stride", stride)
    if x.dim() != 3 or dim % 3 == 0:
        raise ValueError(f"max_pool_same pools dim 1 or 2 of a 3-D tensor, got dim={dim} of shape {tuple(x.shape)}")
    unit = 2 if dim % 3 == 2 else 1  # the unit axis goes next to the pooled one: (B, C, 1, T) or (B, 1, N, C)
    kernel, step, pad = ((1, kernel_size), (1, stride), (0, kernel_size // 2)) if unit == 2 else (
        (kernel_size, 1), (stride, 1), (kernel_size // 2, 0))
    return F.max_pool2d(x.unsqueeze(unit), kernel, stride=step, padding=pad).squeeze(unit)
