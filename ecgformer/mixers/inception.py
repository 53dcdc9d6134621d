"""iFormer inception mixer: high-frequency (max-pool, depthwise conv) and low-frequency (pooled attention) paths."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_fraction, check_heads, check_int, check_tokens
from ..layers.attention import SelfAttention
from ..ops.conv import depthwise_conv_tokens
from ..ops.pooling import max_pool_same, pool_tokens
from .registry import register_mixer

__all__ = ["InceptionMixer"]

# ecgformer_s_inception: iFormer's frequency ramp raises the low-frequency share with depth
INCEPTION_PRESET = ({"name": "inception", "low_ratio": 1 / 3, "pool_size": 4},
                    {"name": "inception", "low_ratio": 1 / 3, "pool_size": 2},
                    [{"name": "inception", "low_ratio": 0.5, "pool_size": 1}] * 3
                    + [{"name": "inception", "low_ratio": 2 / 3, "pool_size": 1}] * 3,
                    {"name": "inception", "low_ratio": 0.7, "pool_size": 1})


@register_mixer("inception", family="inception",
                paper="Si et al., Inception Transformer, NeurIPS 2022 (iFormer)",
                origin_2d="inception token mixer: channel split into a high-frequency part (3x3 max-pool + 1x1 "
                          "conv; 1x1 conv + 3x3 depthwise conv) and a low-frequency part (2x2 average pool, "
                          "self-attention, upsample), fused by a 3x3 depthwise conv and a 1x1 projection",
                preset_params=4_800_000, preset_layout=INCEPTION_PRESET)
class InceptionMixer(nn.Module):
    """Inception mixer of iFormer. Paper: Si et al., NeurIPS 2022.

    Channels split into ``C_h`` high-frequency and ``C_l`` low-frequency ones (``C_l = low_heads * head_dim``
    with ``low_heads = round(low_ratio * num_heads)``; stages ramp ``low_ratio`` up with depth, iFormer's
    frequency ramp). The high part splits in half again: a max-pool branch (max-pool, pointwise linear, GELU)
    and a conv branch (pointwise linear, depthwise conv, GELU), each doubling its channels. The low part is
    average-pooled by ``pool_size``, mixed by ``low_heads``-head self-attention and upsampled back. The
    concatenation ``y`` (``2 C_h + C_l`` channels) is fused as ``proj(y + dwconv(y))``.

    1D port: kernels have ``kernel_size`` taps; pooling is :func:`ecgformer.ops.pooling.pool_tokens`, whose last
    window averages only real tokens (iFormer's ``count_include_pad=False``), so any ``N >= 1`` works. The
    low-frequency attention is the package's :class:`~ecgformer.layers.attention.SelfAttention` (the ``attention``
    mixer), which adds an output projection iFormer's low mixer lacks. ECG default ``pool_size=4`` (iFormer pools
    by 2 in its early stages): ECG token sequences are long and the low-frequency path is the only quadratic one.

    Args:
        dim: channels ``C``.
        num_heads: ``dim // num_heads`` is the head size; the low path gets ``low_heads`` of these heads.
        low_ratio: share of channels in the low-frequency path, rounded to whole heads; needs
            ``1 <= round(low_ratio * num_heads) <= num_heads - 1``.
        pool_size: average-pool size of the low-frequency path (1 = attention at full rate).
        kernel_size: odd size of the max-pool and of both depthwise convs.
        qkv_bias: bias of the low-frequency attention's qkv projection.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int, num_heads: int = 4, low_ratio: float = 0.5, pool_size: int = 4,
                 kernel_size: int = 3, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_fraction("low_ratio", low_ratio)
        low_heads = round(low_ratio * num_heads)
        if not 1 <= low_heads <= num_heads - 1:
            raise ValueError(f"low_ratio={low_ratio} gives {low_heads} of num_heads={num_heads} low-frequency heads; "
                             "both paths need at least one head")
        check_int("pool_size", pool_size)
        check_int("kernel_size", kernel_size, odd=True)
        head_dim = dim // num_heads
        if head_dim * (num_heads - low_heads) < 2:
            raise ValueError(f"dim={dim} with num_heads={num_heads} leaves fewer than 2 high-frequency channels")
        self.dim, self.pool_size, self.kernel_size = dim, pool_size, kernel_size
        self.low_dim = low_heads * head_dim
        self.high_dim = dim - self.low_dim
        self.conv_in = self.high_dim // 2
        pool_in = self.high_dim - self.conv_in
        self.conv_linear = nn.Linear(self.conv_in, 2 * self.conv_in, bias=False)
        self.conv_dw = nn.Conv1d(2 * self.conv_in, 2 * self.conv_in, kernel_size, padding=kernel_size // 2,
                                 groups=2 * self.conv_in, bias=False)
        self.pool_linear = nn.Linear(pool_in, 2 * pool_in)
        self.low_attention = SelfAttention(self.low_dim, num_heads=low_heads, qkv_bias=qkv_bias, attn_drop=attn_drop)
        fused = 2 * self.high_dim + self.low_dim
        self.fuse_dw = nn.Conv1d(fused, fused, kernel_size, padding=kernel_size // 2, groups=fused, bias=False)
        self.proj = nn.Linear(fused, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def high_frequency(self, x: Tensor) -> Tensor:
        """High-frequency path on the first ``C_h`` channels: ``(B, N, C_h) -> (B, N, 2 C_h)``."""
        conv_x, pool_x = x[..., : self.conv_in], x[..., self.conv_in:]
        conv_x = F.gelu(depthwise_conv_tokens(self.conv_linear(conv_x), self.conv_dw.weight))
        pool_x = F.gelu(self.pool_linear(max_pool_same(pool_x, self.kernel_size, dim=1)))
        return torch.cat([conv_x, pool_x], dim=-1)

    def low_frequency(self, x: Tensor) -> Tensor:
        """Low-frequency path on the last ``C_l`` channels: pool, attend, upsample; ``(B, N, C_l) -> (B, N, C_l)``."""
        pooled = self.low_attention(pool_tokens(x, pool_size=self.pool_size))
        source = torch.div(torch.arange(x.shape[1], device=x.device), self.pool_size, rounding_mode="floor")
        return pooled.index_select(1, source)  # nearest upsampling: token i reads pooled token i // pool_size

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        y = torch.cat([self.high_frequency(x[..., : self.high_dim]), self.low_frequency(x[..., self.high_dim:])], -1)
        y = y + depthwise_conv_tokens(y, self.fuse_dw.weight)
        return self.proj_drop(self.proj(y))
