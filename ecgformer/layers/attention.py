"""Multi-head attention pieces every attention family shares: head split/merge, fused qkv projection, window
attention and plain global self-attention."""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..checks import check_heads, check_tokens

__all__ = ["split_heads", "merge_heads", "project_qkv", "window_attention", "SelfAttention"]


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """``(B, N, H * D) -> (B, H, N, D)``."""
    return rearrange(x, "b n (h d) -> b h n d", h=num_heads)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, N, D) -> (B, N, H * D)``."""
    return rearrange(x, "b h n d -> b n (h d)")


def project_qkv(qkv: nn.Linear, x: Tensor, num_heads: int) -> tuple[Tensor, Tensor, Tensor]:
    """Fused ``qkv`` projection of ``(B, N, C)`` tokens, split into ``(B, H, N, D)`` queries, keys and values."""
    q, k, v = (split_heads(t, num_heads) for t in qkv(x).chunk(3, dim=-1))
    return q, k, v


def window_attention(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor, bias: Tensor | None = None,
                     dropout_p: float = 0.0) -> Tensor:
    """Attention inside non-overlapping windows of ``(B, H, nW * w, D)`` queries, keys and values.

    ``allowed`` ``(nW, w, w)`` is the boolean mask of :func:`~ecgformer.ops.windows.shifted_window_mask`;
    ``bias`` ``(H, w, w)`` an optional additive relative position bias shared by all windows. Heads stay
    outside the windows, so folding windows into the SDPA "head" axis is a view (4-D SDPA exports to ONNX). The
    mask is expanded (a stride-0 view) over the batch: a mask of batch 1 makes exported graphs require batch > 1.
    """
    batch, heads, padded, dim = q.shape
    n_windows, window = allowed.shape[0], allowed.shape[1]
    if bias is None:
        mask = allowed.expand(heads, -1, -1, -1)
    else:
        mask = bias[:, None].to(q.dtype).masked_fill(~allowed, float("-inf"))
    out = F.scaled_dot_product_attention(
        *(t.reshape(batch, heads * n_windows, window, dim) for t in (q, k, v)),
        attn_mask=mask.reshape(1, heads * n_windows, window, window).expand(batch, -1, -1, -1), dropout_p=dropout_p)
    return out.view(batch, heads, padded, dim)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all ``N`` tokens with a fused qkv projection and an output projection.

    The ``attention`` mixer registers this layer; iFormer's low-frequency path reuses it on pooled tokens.
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
        q, k, v = project_qkv(self.qkv, x, self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(merge_heads(out)))
