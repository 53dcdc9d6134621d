"""Spatial-reduction attention in 1D: PVT v1 (strided conv), PVT v2 linear SRA (pooling), Twins GSA."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_choice, check_heads, check_int, check_tokens
from ..layers.attention import merge_heads, split_heads
from ..ops.pooling import pool_tokens
from ..ops.windows import pad_to_multiple
from .registry import register_mixer

__all__ = ["SpatialReductionAttention"]

SR_MODES = ("conv", "pool")


@register_mixer(
    "sr", family="spatial-reduction attention",
    paper="Wang et al. 2021, PVT (ICCV); Wang et al. 2022, PVT v2 (CVMJ); Chu et al. 2021, Twins (NeurIPS) GSA",
    origin_2d="keys/values from an R x R stride-R conv + LayerNorm (PVT v1, Twins GSA) or from a 7 x 7 adaptive "
              "average pool + 1x1 conv + LayerNorm + GELU (PVT v2 linear SRA)",
    preset_params=5_600_000)
class SpatialReductionAttention(nn.Module):
    """Attention of every token to a reduced set of keys/values.

    * ``mode="conv"`` — PVT v1 (Wang et al., ICCV 2021) spatial-reduction attention: keys and values come
      from a stride-``sr_ratio`` convolution of the tokens followed by LayerNorm; ``sr_ratio=1`` is plain
      global attention (no conv, as in PVT). Twins' global sub-sampled attention (GSA, Chu et al. 2021)
      is the same operation. O(N^2 / r).
    * ``mode="pool"`` — PVT v2 linear SRA (Wang et al., CVMJ 2022): adaptive average pooling to a fixed
      ``num_tokens`` keys, 1x1 conv, LayerNorm, GELU. O(N * num_tokens): linear in N.

    1D port: the ``R x R`` conv becomes a length-``r`` stride-``r`` conv whose last partial window is
    zero-padded (PVT drops the remainder, which fails for N < r); the 7 x 7 adaptive pool (49 keys) becomes
    an adaptive 1D pool to ``num_tokens`` keys (default 64: about 150 ms per key for a 10 s record at
    50 Hz tokens); the 1x1 conv is a Linear on tokens.

    Args:
        dim: token channels.
        num_heads: attention heads (must divide ``dim``).
        mode: ``"pool"`` (default, PVT v2 linear SRA) or ``"conv"`` (PVT v1 / Twins GSA).
        sr_ratio: reduction ratio of ``mode="conv"`` (default 4).
        num_tokens: pooled keys of ``mode="pool"`` (default 64).
        qkv_bias: as in PVT.
        attn_drop: as in PVT.
        proj_drop: as in PVT.
    """

    def __init__(self, dim: int, num_heads: int = 4, mode: str = "pool", sr_ratio: int = 4, num_tokens: int = 64,
                 qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_choice("mode", mode, SR_MODES)
        check_int("sr_ratio", sr_ratio)
        check_int("num_tokens", num_tokens)
        self.dim, self.num_heads, self.mode, self.attn_drop = dim, num_heads, mode, attn_drop
        self.sr_ratio, self.num_tokens = sr_ratio, num_tokens
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.reduce = self.norm = None
        if mode == "pool":
            self.reduce = nn.Linear(dim, dim)
            self.norm = nn.LayerNorm(dim)
        elif sr_ratio > 1:
            self.reduce = nn.Conv1d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def reduced_tokens(self, x: Tensor) -> Tensor:
        """The tokens keys and values are computed from: ``(B, N, C) -> (B, M, C)``."""
        if self.mode == "pool":
            return F.gelu(self.norm(self.reduce(pool_tokens(x, num_tokens=self.num_tokens))))
        if self.reduce is None:
            return x
        x, _ = pad_to_multiple(x, self.sr_ratio)
        return self.norm(self.reduce(x.transpose(1, 2)).transpose(1, 2))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        q = split_heads(self.q(x), self.num_heads)
        k, v = (split_heads(t, self.num_heads) for t in self.kv(self.reduced_tokens(x)).chunk(2, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(merge_heads(out)))
