"""Dilated neighborhood attention in 1D: DilateFormer multi-scale dilated attention and DiNAT."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..checks import check_choice, check_heads, check_int, check_ints, check_tokens
from ..layers.attention import merge_heads, project_qkv
from ..ops.local_attention import BACKENDS, local_attention
from .registry import register_mixer

__all__ = ["DilatedAttention"]


@register_mixer(
    "dilated", family="dilated neighborhood attention",
    paper="Jiao et al. 2023, DilateFormer (IEEE TMM) multi-scale dilated attention; "
          "Hassani & Shi 2022, Dilated Neighborhood Attention Transformer (DiNAT)",
    origin_2d="heads split into groups, each a k x k sliding-window attention at its own dilation (1, 2, 3) "
              "(DilateFormer), or one dilation for all heads with relative position bias (DiNAT)",
    preset_params=5_200_000)
class DilatedAttention(nn.Module):
    """Multi-scale dilated attention (DilateFormer, Jiao et al., IEEE TMM 2023) and DiNAT-style attention.

    The heads are split into ``len(dilations)`` groups (as evenly as possible, earlier groups take the
    remainder); group ``i`` is a sliding-window (neighborhood) attention of ``kernel_size`` keys at dilation
    ``dilations[i]`` computed by :func:`ecgformer.ops.local_attention`; the heads are concatenated and
    projected. With one dilation (``dilations=d``) every head uses it: dilated neighborhood attention as in
    DiNAT (Hassani & Shi 2022), which also adds a relative position bias (``rel_pos_bias=True``); DiNAT
    backbones alternate ``dilations=1`` and larger dilations between blocks. O(N * kernel_size).

    1D port: ``k x k`` windows become ``k`` tokens along time. At the borders a query keeps ``k`` keys by
    shifting its window inside its dilation group (NATTEN's rule) where DilateFormer's unfold pads zeros;
    any ``N >= 1`` works (a group shorter than ``k`` attends to all its tokens). Heads need not divide evenly
    among the dilations.

    Args:
        dim: token channels.
        num_heads: attention heads (must divide ``dim``, at least one per dilation).
        kernel_size: odd number of keys per query (default 9: DilateFormer's 3 x 3 = 9 keys).
        dilations: one dilation per head group (default ``(1, 2, 3)``), or one int for all heads (DiNAT).
        rel_pos_bias: learnable bias table ``(heads, 2 * kernel_size - 1)`` (DiNAT; DilateFormer has none).
        backend: backend of :func:`~ecgformer.ops.local_attention`.
        qkv_bias: as in DilateFormer.
        proj_drop: as in DilateFormer.
    """

    def __init__(self, dim: int, num_heads: int = 4, kernel_size: int = 9, dilations: int | Sequence[int] = (1, 2, 3),
                 rel_pos_bias: bool = False, backend: str = "auto", qkv_bias: bool = True,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_int("kernel_size", kernel_size, odd=True)
        dilations = (dilations,) if isinstance(dilations, int) else tuple(dilations)
        if not dilations or len(dilations) > num_heads:
            raise ValueError(f"dilations must hold 1 to num_heads={num_heads} values, got {dilations!r}")
        check_ints("dilations", dilations)
        check_choice("backend", backend, BACKENDS)
        self.dim, self.num_heads, self.kernel_size, self.dilations, self.backend = (
            dim, num_heads, kernel_size, dilations, backend)
        groups = len(dilations)
        self.group_heads = tuple(num_heads // groups + (i < num_heads % groups) for i in range(groups))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.rpb = None
        if rel_pos_bias:
            self.rpb = nn.Parameter(torch.zeros(num_heads, 2 * kernel_size - 1))
            nn.init.trunc_normal_(self.rpb, std=0.02)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        q, k, v = project_qkv(self.qkv, x, self.num_heads)
        outputs, first = [], 0
        for heads, dilation in zip(self.group_heads, self.dilations):
            group = slice(first, first + heads)
            rpb = None if self.rpb is None else self.rpb[group]
            outputs.append(local_attention(q[:, group], k[:, group], v[:, group], self.kernel_size, dilation,
                                           rpb=rpb, backend=self.backend))
            first += heads
        return self.proj_drop(self.proj(merge_heads(torch.cat(outputs, dim=1))))
