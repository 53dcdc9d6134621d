"""Stochastic depth (DropPath) and LayerScale for residual branches."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checks import check_fraction

__all__ = ["DropPath", "LayerScale"]


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., ECCV 2016): in training, zero a sample's residual branch with
    probability ``p`` and scale the kept ones by ``1 / (1 - p)``; identity in eval."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        check_fraction("drop path probability", p, include_one=False)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Same shape as ``x``; one Bernoulli draw per sample (dim 0)."""
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * keep.bernoulli_(1.0 - self.p) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """Learnable per-channel scale of a residual branch (CaiT, Touvron et al., ICCV 2021), initialised to
    ``init``; ``init=None`` is the identity (no parameter)."""

    def __init__(self, dim: int, init: float | None = 1e-5) -> None:
        super().__init__()
        self.gamma = None if init is None else nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        """``(..., C) -> (..., C)``."""
        return x if self.gamma is None else x * self.gamma
