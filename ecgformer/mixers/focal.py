"""Focal self-attention (Focal Transformer) in 1D: fine keys nearby, pooled coarse keys further away."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_heads, check_int, check_ints, check_tokens
from ..layers.attention import merge_heads, project_qkv
from ..ops.pooling import pool_tokens
from ..ops.windows import crop, pad_to_multiple, window_regions
from .registry import register_mixer

__all__ = ["FocalAttention"]


@register_mixer(
    "focal_attention", family="focal attention",
    paper="Yang et al. 2021, Focal Self-attention for Local-Global Interactions in Vision Transformers (NeurIPS)",
    origin_2d="queries in windows; level l keys: s_r^l x s_r^l tokens around the window after s_w^l x s_w^l "
              "sub-window pooling (level 0: fine tokens of the window and its surroundings)",
    preset_params=5_200_000)
class FocalAttention(nn.Module):
    """Focal self-attention. Paper: Yang et al., "Focal Self-attention ...", NeurIPS 2021 (Focal Transformer).

    Tokens are cut into query windows of ``window_size``. At focal level ``l`` the tokens' keys/values are
    average-pooled over sub-windows of ``pool_sizes[l]`` tokens and every query window attends to the
    ``regions[l]`` pooled tokens centred on it; the levels' keys are concatenated into one softmax. Level 0
    (pool size 1) gives the fine tokens of the window and its surroundings, later levels coarser summaries
    of a wider context. Keys of a region that run off the sequence are masked.

    1D port: square windows, sub-windows and regions become token spans along time; pooling is average
    pooling (the paper's default); every level has a fixed region, so the cost is O(N * sum(regions)) —
    in 2D the last level covers the whole (small) feature map, which would be quadratic for long ECGs. The
    paper's per-level relative position biases are left to the backbone's positional encoding. Pooling
    the projected keys/values equals projecting pooled tokens (the projection is affine).

    Args:
        dim: token channels.
        num_heads: attention heads (must divide ``dim``).
        window_size: query window (default 16 tokens).
        pool_sizes: sub-window pooling per level (default ``(1, 4, 16)``).
        regions: pooled tokens per level around each window (default ``(32, 16, 16)``: the window with 8
            fine tokens each side, then 64 and 256 tokens of context at 4x and 16x coarser resolution).
        qkv_bias: as in Focal Transformer.
        attn_drop: as in Focal Transformer.
        proj_drop: as in Focal Transformer.
    """

    def __init__(self, dim: int, num_heads: int = 4, window_size: int = 16, pool_sizes: Sequence[int] = (1, 4, 16),
                 regions: Sequence[int] = (32, 16, 16), qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_int("window_size", window_size)
        pool_sizes, regions = tuple(pool_sizes), tuple(regions)
        if not pool_sizes or len(pool_sizes) != len(regions):
            raise ValueError(f"pool_sizes and regions must be non-empty and of equal length, got {pool_sizes!r} "
                             f"and {regions!r}")
        check_ints("pool_sizes", pool_sizes)
        check_ints("regions", regions)
        if pool_sizes[0] != 1 or regions[0] < window_size:
            raise ValueError(f"level 0 must be fine (pool_sizes[0] == 1) and cover the window (regions[0] >= "
                             f"window_size={window_size}), got pool size {pool_sizes[0]}, region {regions[0]}")
        self.dim, self.num_heads, self.window_size, self.attn_drop = dim, num_heads, window_size, attn_drop
        self.pool_sizes, self.regions = pool_sizes, regions
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        batch, length, _ = x.shape
        q, k, v = project_qkv(self.qkv, x, self.num_heads)
        keys, values, valid = [], [], []
        for pool_size, region in zip(self.pool_sizes, self.regions):
            index, inside = window_regions(length, self.window_size, pool_size, region, x.device)
            n_windows = index.shape[0]
            for pooled, gathered in ((pool_tokens(k, pool_size=pool_size), keys),
                                     (pool_tokens(v, pool_size=pool_size), values)):
                gathered.append(pooled.index_select(2, index.reshape(-1)).unflatten(2, (n_windows, region)))
            valid.append(inside)
        heads, head_dim = q.shape[1], q.shape[3]
        k, v = torch.cat(keys, dim=3), torch.cat(values, dim=3)  # (B, H, nW, R, D)
        n_keys = k.shape[3]
        q, _ = pad_to_multiple(q, self.window_size, dim=2)
        # (H, nW * R): heads broadcast over the flat mask, not over an (nW, 1, R) view, which torch.export would
        # specialise on nW being 1 or not
        mask = torch.cat(valid, dim=1).view(-1).expand(heads, -1)
        # the mask spans the batch and every query row (a stride-0 view): a mask of batch 1 makes exported graphs
        # require batch > 1, and onnxruntime's Attention does not broadcast a mask over queries
        out = F.scaled_dot_product_attention(
            q.reshape(batch, heads * n_windows, self.window_size, head_dim),
            k.reshape(batch, heads * n_windows, n_keys, head_dim),
            v.reshape(batch, heads * n_windows, n_keys, head_dim),
            attn_mask=mask.reshape(1, heads * n_windows, 1, n_keys).expand(batch, -1, self.window_size, -1),
            dropout_p=self.attn_drop if self.training else 0.0)
        out = crop(out.reshape(batch, heads, n_windows * self.window_size, head_dim), length, dim=2)
        return self.proj_drop(self.proj(merge_heads(out)))
