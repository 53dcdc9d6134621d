"""Max-pooling over time that exports with a dynamic length."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MaxPool1d"]


class MaxPool1d(nn.Module):
    """'Same'-padded max-pooling of ``(B, C, T)`` over time: odd ``kernel_size``, ``ceil(T / stride)`` outputs.

    Computed as a ``(1, k)`` 2D pooling because ``torch.export`` specialises ``max_pool1d`` to the traced
    length, which would pin an exported model to one input length.
    """

    def __init__(self, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0 or stride < 1:
            raise ValueError(f"kernel_size must be odd and >= 1 and stride >= 1, got {kernel_size}, {stride}")
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T) -> (B, C, ceil(T / stride))``."""
        pooled = F.max_pool2d(x.unsqueeze(2), (1, self.kernel_size), stride=(1, self.stride),
                              padding=(0, self.kernel_size // 2))
        return pooled.squeeze(2)
