"""Conditional positional encoding (CPVT's positional encoding generator, PEG) for 1D tokens."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ConvPosEnc"]


class ConvPosEnc(nn.Module):
    """``x + dwconv(x)``: a depthwise convolution over time whose zero padding lets tokens infer their
    position (Chu et al., "Conditional Positional Encodings for Vision Transformers", ICLR 2023; Twins).
    Works for any number of tokens, unlike learned absolute embeddings."""

    def __init__(self, dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"cpe_kernel must be an odd int >= 1, got {kernel_size!r}")
        self.proj = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        return x + self.proj(x.transpose(1, 2)).transpose(1, 2)
