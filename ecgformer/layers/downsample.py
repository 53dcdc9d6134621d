"""Downsampling between backbone stages."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import check_int
from .norm import create_norm

__all__ = ["Downsample"]


class Downsample(nn.Module):
    """Pre-norm overlapping strided convolution (MetaFormer / PVT v2 patch merging in 1D):
    ``(B, N, C_in) -> (B, ceil(N / stride), C_out)`` for any ``N >= 1``; default kernel ``2 * stride - 1``."""

    def __init__(self, in_dim: int, out_dim: int, stride: int = 2, kernel_size: int | None = None,
                 norm: str = "layernorm") -> None:
        super().__init__()
        check_int("downsample stride", stride)
        kernel_size = 2 * stride - 1 if kernel_size is None else kernel_size
        check_int("downsample kernel_size", kernel_size, minimum=stride, odd=True)
        self.stride = stride
        self.norm = create_norm(norm, in_dim)
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, stride=stride, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C_in) -> (B, ceil(N / stride), C_out)``."""
        return self.conv(self.norm(x).transpose(1, 2)).transpose(1, 2)
