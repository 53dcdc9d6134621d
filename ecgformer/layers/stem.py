"""Stems: raw ECG ``(B, leads, T)`` to tokens ``(B, N, C)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int
from ..ops.windows import pad_to_multiple
from ..registry import Registry

__all__ = ["receptive_field", "ConvStem", "PatchStem", "STEMS", "create_stem"]

def receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Input samples seen by one output of a chain of layers with these kernel sizes and strides."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


class ConvStem(nn.Module):
    """Overlapping strided convolutions for raw ECG (the convolutional stems of EfficientFormer / early
    convolutions of Xiao et al. 2021, in 1D).

    ``log2(stride)`` stride-2 convolutions (one stride-1 convolution for ``stride=1``), each followed by
    BatchNorm, with GELU between them. The first has ``kernel_size`` taps (default 7: 70 ms at 100 Hz,
    14 ms at 500 Hz), the others 3; widths ``dim // 2`` then ``dim``. Stride 4 gives 25 tokens/s at
    100 Hz and 125 tokens/s at 500 Hz. Output length ``ceil(T / stride)`` for any ``T >= 1``.
    """

    def __init__(self, in_chans: int, dim: int, stride: int = 4, kernel_size: int = 7) -> None:
        super().__init__()
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"stem_stride must be a power of 2, got {stride!r}")
        check_int("stem_kernel", kernel_size, odd=True)
        n_convs = max(stride.bit_length() - 1, 1)
        widths = [in_chans] + [max(dim // 2, 1)] * (n_convs - 1) + [dim]
        kernels = [kernel_size] + [3] * (n_convs - 1)
        step = 2 if stride > 1 else 1
        self.convs = nn.ModuleList(nn.Conv1d(widths[i], widths[i + 1], kernels[i], stride=step,
                                             padding=kernels[i] // 2, bias=False) for i in range(n_convs))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for width in widths[1:])
        self.stride = stride
        self.receptive_field = receptive_field(kernels, [step] * n_convs)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, leads, T) -> (B, ceil(T / stride), dim)``."""
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x))
            if i < len(self.convs) - 1:
                x = F.gelu(x)
        return x.transpose(1, 2)


class PatchStem(nn.Module):
    """Non-overlapping patch embedding (ViT): a convolution with kernel = stride = ``patch_size``. The end
    of the signal is zero-padded to a whole patch, so no sample is dropped; output ``ceil(T / patch_size)``."""

    def __init__(self, in_chans: int, dim: int, patch_size: int = 8) -> None:
        super().__init__()
        check_int("stem_stride (patch size)", patch_size)
        self.proj = nn.Conv1d(in_chans, dim, patch_size, stride=patch_size)
        self.stride = self.receptive_field = patch_size

    def forward(self, x: Tensor) -> Tensor:
        """``(B, leads, T) -> (B, ceil(T / patch_size), dim)``."""
        return self.proj(pad_to_multiple(x, self.stride, dim=2)[0]).transpose(1, 2)


def _patch_stem(in_chans: int, dim: int, stride: int, kernel_size: int) -> PatchStem:
    """:class:`PatchStem` of patch size ``stride``; ``kernel_size`` is unused (a patch is its own kernel)."""
    return PatchStem(in_chans, dim, stride)


STEMS: Registry[Callable[[int, int, int, int], nn.Module]] = Registry("stem", {"conv": ConvStem, "patch": _patch_stem})


def create_stem(kind: str, in_chans: int, dim: int, stride: int, kernel_size: int = 7) -> nn.Module:
    """The stem ``kind`` of :data:`STEMS`: ``"conv"`` (:class:`ConvStem`) or ``"patch"`` (:class:`PatchStem`)."""
    return STEMS[kind](in_chans, dim, stride, kernel_size)
