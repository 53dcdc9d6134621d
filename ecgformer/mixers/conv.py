"""Depthwise-convolution token mixer (ConvNeXt-style): the local, linear-time pole of every ablation."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import check_int, check_tokens
from ..ops.conv import depthwise_conv_tokens
from .registry import register_mixer

__all__ = ["DepthwiseConvMixer"]


@register_mixer(
    "conv", family="depthwise convolution",
    paper="Liu et al. 2022, A ConvNet for the 2020s (ConvNeXt, CVPR); Yu et al. 2022, MetaFormer (CVPR)",
    origin_2d="7 x 7 depthwise convolution as the token mixer of a MetaFormer block",
    preset_params=3_600_000)
class DepthwiseConvMixer(nn.Module):
    """Depthwise convolution mixer, the token mixer of a ConvNeXt block (Liu et al., CVPR 2022).

    1D port: the ``7 x 7`` depthwise kernel becomes ``kernel_size`` taps along time with 'same' zero
    padding, so any ``N >= 1`` keeps its length. ``num_heads`` is accepted for the mixer contract and
    unused. O(N * kernel_size).

    Args:
        dim: token channels.
        num_heads: unused.
        kernel_size: odd taps (default 7, ConvNeXt's kernel width: 140 ms at a 50 Hz token rate).
    """

    def __init__(self, dim: int, num_heads: int = 4, kernel_size: int = 7) -> None:
        super().__init__()
        check_int("dim", dim)
        check_int("kernel_size", kernel_size, odd=True)
        self.dim = dim
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        return depthwise_conv_tokens(x, self.dwconv.weight, self.dwconv.bias)
