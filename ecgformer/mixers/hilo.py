"""HiLo attention (LITv2) in 1D: high-frequency windowed heads beside low-frequency pooled-key heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_fraction, check_heads, check_int, check_tokens
from ..layers.attention import merge_heads, project_qkv, split_heads, window_attention
from ..ops.pooling import pool_tokens
from ..ops.windows import crop, pad_to_multiple, shifted_window_mask
from .registry import register_mixer

__all__ = ["HiLoAttention"]


@register_mixer(
    "hilo", family="HiLo attention", paper="Pan et al. 2022, Fast Vision Transformers with HiLo Attention (NeurIPS)",
    origin_2d="heads split by alpha: Hi-Fi heads attend inside s x s windows, Lo-Fi heads attend to s x s "
              "average-pooled keys/values; each branch projected, outputs concatenated",
    preset_params=5_000_000)
class HiLoAttention(nn.Module):
    """HiLo attention. Paper: Pan et al., "Fast Vision Transformers with HiLo Attention", NeurIPS 2022 (LITv2).

    ``int(num_heads * alpha)`` Lo-Fi heads let every query attend to keys/values computed from the tokens
    average-pooled over non-overlapping windows of ``window_size`` (low frequencies, global); the other
    Hi-Fi heads attend inside those windows (high frequencies, local). Each branch has its own output
    projection and the two outputs are concatenated (Hi-Fi channels first), as in LITv2. ``window_size=1``
    is plain global attention (all heads Lo-Fi), as in LITv2.

    1D port: ``s x s`` windows and ``s x s`` average pooling become ``s`` tokens along time. Any ``N``:
    the Hi-Fi windows pad the end and mask padded keys, the Lo-Fi pooling averages the last partial window
    over its real tokens. Pooling the tokens before the key/value projection equals pooling the keys/values
    (the projection is affine), and is cheaper.

    Args:
        dim: token channels.
        num_heads: attention heads (must divide ``dim``).
        window_size: Hi-Fi window and Lo-Fi pooling size ``s`` (default 4; LITv2's 2 x 2 is 4 tokens).
        alpha: fraction of Lo-Fi heads in ``[0, 1]`` (default 0.5, LITv2's).
        qkv_bias: as in LITv2.
        attn_drop: as in LITv2.
        proj_drop: as in LITv2.
    """

    def __init__(self, dim: int, num_heads: int = 4, window_size: int = 4, alpha: float = 0.5, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_int("window_size", window_size)
        check_fraction("alpha", alpha)
        head_dim = dim // num_heads
        self.dim, self.window_size, self.attn_drop = dim, window_size, attn_drop
        self.lo_heads = num_heads if window_size == 1 else int(num_heads * alpha)
        self.hi_heads = num_heads - self.lo_heads
        hi_dim, lo_dim = self.hi_heads * head_dim, self.lo_heads * head_dim
        self.hi_qkv = nn.Linear(dim, 3 * hi_dim, bias=qkv_bias) if self.hi_heads else None
        self.hi_proj = nn.Linear(hi_dim, hi_dim) if self.hi_heads else None
        self.lo_q = nn.Linear(dim, lo_dim, bias=qkv_bias) if self.lo_heads else None
        self.lo_kv = nn.Linear(dim, 2 * lo_dim, bias=qkv_bias) if self.lo_heads else None
        self.lo_proj = nn.Linear(lo_dim, lo_dim) if self.lo_heads else None
        self.proj_drop = nn.Dropout(proj_drop)

    def _dropout(self) -> float:
        return self.attn_drop if self.training else 0.0

    def hifi(self, x: Tensor) -> Tensor:
        """High-frequency heads: attention inside windows of ``window_size`` tokens, ``(B, N, hi_dim)``."""
        length = x.shape[1]
        padded, _ = pad_to_multiple(x, self.window_size)
        q, k, v = project_qkv(self.hi_qkv, padded, self.hi_heads)
        allowed = shifted_window_mask(length, self.window_size, 0, x.device)
        return self.hi_proj(crop(merge_heads(window_attention(q, k, v, allowed, dropout_p=self._dropout())), length))

    def lofi(self, x: Tensor) -> Tensor:
        """Low-frequency heads: every query attends to window-average-pooled keys/values, ``(B, N, lo_dim)``."""
        q = split_heads(self.lo_q(x), self.lo_heads)
        pooled = pool_tokens(x, pool_size=self.window_size)
        k, v = (split_heads(t, self.lo_heads) for t in self.lo_kv(pooled).chunk(2, dim=-1))
        return self.lo_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, dropout_p=self._dropout())))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        if not self.lo_heads:
            return self.proj_drop(self.hifi(x))
        if not self.hi_heads:
            return self.proj_drop(self.lofi(x))
        return self.proj_drop(torch.cat([self.hifi(x), self.lofi(x)], dim=-1))
