"""SMT scale-aware modulation: multi-head mixed convolution + scale-aware aggregation modulating a value."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_heads, check_int, check_ints, check_tokens
from ..ops.conv import multiscale_dwconv
from .registry import register_mixer

__all__ = ["ScaleAwareModulation"]


@register_mixer("smt", family="modulation",
                paper="Lin et al., Scale-Aware Modulation Meet Transformer, ICCV 2023 (SMT)",
                origin_2d="SAM: per-head depthwise k x k convs (3, 5, 7, ...) + grouped head shuffle and 1x1 convs, "
                          "the result multiplying a value projection",
                preset_params=5_600_000, preset_layout={"name": "smt", "num_heads": 4})
class ScaleAwareModulation(nn.Module):
    """Scale-aware modulation (SAM) of SMT. Paper: Lin et al., ICCV 2023.

    ``s = W_s x`` is split into ``num_heads`` channel groups; head ``i`` gets a depthwise convolution of size
    ``kernel_sizes[i]`` (multi-head mixed convolution, one grouped conv via
    :func:`ecgformer.ops.conv.multiscale_dwconv`). Scale-aware aggregation then shuffles channels so that
    group ``j`` holds channel ``j`` of every head, mixes each group with a grouped pointwise conv
    (``dim -> expand_ratio * dim``), normalises, applies GELU and a pointwise conv back to ``dim``. The result
    modulates a value projection: ``out = proj(agg(mhmc(s)) * W_v x)``.

    1D port: kernels are 1D (``k`` taps instead of ``k x k``) with zero 'same' padding, so any ``N >= 1``
    works without token padding; the aggregation's BatchNorm is a per-token LayerNorm so outputs never depend
    on other samples of the batch. SMT's evolutionary layout (SAM early, attention late) is a model concern.

    Args:
        dim: channels ``C``.
        num_heads: heads of the mixed convolution (one kernel size each); must divide ``dim``.
        kernel_sizes: odd kernel per head; default ``3, 5, 7, ...`` as in SMT.
        expand_ratio: width multiplier of the aggregation's hidden layer (SMT uses 2).
        bias: bias of the value and modulator projections.
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int, num_heads: int = 4, kernel_sizes: Sequence[int] | None = None,
                 expand_ratio: int = 2, bias: bool = True, proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        kernel_sizes = tuple(range(3, 3 + 2 * num_heads, 2)) if kernel_sizes is None else tuple(kernel_sizes)
        if len(kernel_sizes) != num_heads:
            raise ValueError(f"kernel_sizes must hold num_heads={num_heads} kernels (one per head), got {kernel_sizes}")
        check_ints("kernel_sizes", kernel_sizes, odd=True)
        check_int("expand_ratio", expand_ratio)
        self.dim, self.num_heads, self.kernel_sizes = dim, num_heads, kernel_sizes
        head_dim = dim // num_heads
        self.value = nn.Linear(dim, dim, bias=bias)
        self.scale = nn.Linear(dim, dim, bias=bias)
        self.head_convs = nn.ModuleList(nn.Conv1d(head_dim, head_dim, k, padding=k // 2, groups=head_dim)
                                        for k in kernel_sizes)
        # scale-aware aggregation: group j = channel j of every head, mixed by a grouped pointwise conv
        self.aggregate = nn.Conv1d(dim, dim * expand_ratio, 1, groups=head_dim)
        self.norm = nn.LayerNorm(dim * expand_ratio)
        self.fuse = nn.Linear(dim * expand_ratio, dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def modulator(self, x: Tensor) -> Tensor:
        """The scale-aware modulator ``(B, N, C) -> (B, N, C)`` (everything but the value and output projection)."""
        batch, length, _ = x.shape
        s = multiscale_dwconv(self.scale(x).transpose(1, 2), [conv.weight for conv in self.head_convs],
                              [conv.bias for conv in self.head_convs])
        s = s.view(batch, self.num_heads, self.dim // self.num_heads, length).transpose(1, 2)
        s = self.aggregate(s.reshape(batch, self.dim, length)).transpose(1, 2)
        return self.fuse(F.gelu(self.norm(s)))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        return self.proj_drop(self.proj(self.modulator(x) * self.value(x)))
