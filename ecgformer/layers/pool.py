"""Max-pooling over time that exports with a dynamic length."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import check_int
from ..ops.pooling import max_pool_same

__all__ = ["MaxPool1d"]


class MaxPool1d(nn.Module):
    """'Same'-padded max-pooling of ``(B, C, T)`` over time: odd ``kernel_size``, ``ceil(T / stride)`` outputs.

    Computed by :func:`~ecgformer.ops.pooling.max_pool_same`, which keeps exported graphs free of the traced length.
    """

    def __init__(self, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        check_int("kernel_size", kernel_size, odd=True)
        check_int("stride", stride)
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T) -> (B, C, ceil(T / stride))``."""
        return max_pool_same(x, self.kernel_size, self.stride)
