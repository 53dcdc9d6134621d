"""Conditional positional encoding (CPVT's positional encoding generator, PEG) for 1D tokens."""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import check_int
from ..ops.conv import depthwise_conv_tokens

__all__ = ["ConvPosEnc"]


class ConvPosEnc(nn.Module):
    """``x + dwconv(x)``: a depthwise convolution over time whose zero padding lets tokens infer their
    position (Chu et al., "Conditional Positional Encodings for Vision Transformers", ICLR 2023; Twins).
    Works for any number of tokens, unlike learned absolute embeddings."""

    def __init__(self, dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        check_int("cpe_kernel", kernel_size, odd=True)
        self.proj = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        return x + depthwise_conv_tokens(x, self.proj.weight, self.proj.bias)
