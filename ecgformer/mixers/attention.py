"""Global multi-head self-attention: the quadratic pole every ablation compares against."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_mixer

__all__ = ["split_heads", "merge_heads", "check_tokens", "check_heads", "Attention"]


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """``(B, N, H * D) -> (B, H, N, D)``."""
    batch, length, channels = x.shape
    return x.view(batch, length, num_heads, channels // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, N, D) -> (B, N, H * D)``."""
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)


def check_tokens(x: Tensor, dim: int) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, N, dim)`` with ``N >= 1``."""
    if x.dim() != 3 or x.shape[-1] != dim or x.shape[1] < 1:
        raise ValueError(f"x must be tokens (B, N>=1, C={dim}), got shape {tuple(x.shape)}")


def check_heads(dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``num_heads`` divides ``dim``."""
    if num_heads < 1 or dim % num_heads:
        raise ValueError(f"num_heads={num_heads} must be >= 1 and divide dim={dim}")


@register_mixer("attention", family="global attention", paper="Vaswani et al. 2017; Dosovitskiy et al. 2021 (ViT)",
                origin_2d="ViT multi-head self-attention over all patches",
                changes_1d="none beyond tokens being time steps: attention is already order-free (O(N^2))")
class Attention(nn.Module):
    """Multi-head self-attention over all tokens (ViT). Paper: Dosovitskiy et al., ICLR 2021.

    1D port: unchanged; tokens are ECG time steps. Quadratic in N; positional information comes from the
    backbone (conditional positional encoding) rather than from the mixer.
    """

    def __init__(self, dim: int, num_heads: int = 4, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        self.dim, self.num_heads, self.attn_drop = dim, num_heads, attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        q, k, v = (split_heads(t, self.num_heads) for t in self.qkv(x).chunk(3, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(merge_heads(out)))
