"""FocalNet focal modulation: hierarchical depthwise contexts, gated aggregation, global context, query modulation."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int, check_tokens
from ..ops.conv import depthwise_conv_tokens
from .registry import register_mixer

__all__ = ["FocalModulation"]


@register_mixer("focal_modulation", family="focal",
                paper="Yang et al., Focal Modulation Networks, NeurIPS 2022 (FocalNet)",
                origin_2d="focal modulation: L stacked depthwise k x k convs + GELU (k = focal_factor * l + "
                          "focal_window), gated sum with a global average-pooled context, 1x1 conv modulator "
                          "multiplying the query projection",
                preset_params=5_300_000)
class FocalModulation(nn.Module):
    """Focal modulation of FocalNet. Paper: Yang et al., NeurIPS 2022.

    ``[q, ctx, g] = f(x)`` with ``L + 1`` gates per token. Hierarchical contextualisation:
    ``ctx_l = GELU(dwconv_l(ctx_{l-1}))`` with kernel ``focal_factor * l + focal_window`` (``l = 0 .. L-1``);
    global context ``ctx_L = GELU(mean over tokens of ctx_{L-1})``. Gated aggregation
    ``z = sum_l g_l * ctx_l`` (``l = 0 .. L``, divided by ``L + 1`` if ``normalize_modulator``); the modulator
    ``h(z)`` (pointwise) multiplies ``q``; ``out = proj(q * h(z))`` (with an optional LayerNorm before ``proj``).

    1D port: depthwise kernels have ``k`` taps with zero 'same' padding and the global context is the mean over
    time, so any ``N >= 1`` works without token padding. ECG defaults: 3 levels (FocalNet's large-receptive-field
    setting) with kernels 5, 9, 13 (``focal_window=5, focal_factor=4``): 1D kernels cost ``k`` rather than
    ``k^2``, so a wider ~25-token receptive field (QRS-to-neighbourhood scale at stage-1 token rates) is cheap.

    Args:
        dim: channels ``C``.
        num_heads: accepted for the common mixer constructor; focal modulation has no heads.
        focal_level: number of depthwise levels ``L``.
        focal_window: kernel of the first level.
        focal_factor: kernel growth per level.
        bias: bias of the input projection and of the modulator.
        normalize_modulator: divide the aggregated context by ``L + 1``.
        post_norm: LayerNorm on the modulated query before ``proj`` (FocalNet's ``use_postln_in_modulation``).
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int, num_heads: int = 4, focal_level: int = 3, focal_window: int = 5,
                 focal_factor: int = 4, bias: bool = True, normalize_modulator: bool = False,
                 post_norm: bool = False, proj_drop: float = 0.0) -> None:
        super().__init__()
        check_int("dim", dim)
        for name, value, low in (("focal_level", focal_level, 1), ("focal_window", focal_window, 1),
                                 ("focal_factor", focal_factor, 0)):
            check_int(name, value, low)
        self.kernel_sizes = tuple(focal_factor * level + focal_window for level in range(focal_level))
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"focal_window={focal_window} and focal_factor={focal_factor} give even kernels "
                             f"{self.kernel_sizes}; 'same' 1D convs need odd ones")
        self.dim, self.focal_level, self.normalize_modulator = dim, focal_level, normalize_modulator
        self.f = nn.Linear(dim, 2 * dim + focal_level + 1, bias=bias)
        self.focal_convs = nn.ModuleList(nn.Conv1d(dim, dim, k, padding=k // 2, groups=dim, bias=False)
                                         for k in self.kernel_sizes)
        self.h = nn.Linear(dim, dim, bias=bias)
        self.norm = nn.LayerNorm(dim) if post_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        q, ctx, gates = self.f(x).split([self.dim, self.dim, self.focal_level + 1], dim=-1)
        aggregated = 0.0
        for level, conv in enumerate(self.focal_convs):
            ctx = F.gelu(depthwise_conv_tokens(ctx, conv.weight))
            aggregated = aggregated + ctx * gates[..., level: level + 1]
        aggregated = aggregated + F.gelu(ctx.mean(1, keepdim=True)) * gates[..., self.focal_level:]
        if self.normalize_modulator:
            aggregated = aggregated / (self.focal_level + 1)
        modulated = q * self.h(aggregated)
        return self.proj_drop(self.proj(self.norm(modulated)))
