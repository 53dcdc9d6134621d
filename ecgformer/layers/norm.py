"""Normalisation of ``(B, N, C)`` tokens, chosen by name."""

from __future__ import annotations

from torch import Tensor, nn

from ..registry import Registry

__all__ = ["NORMS", "TokenBatchNorm", "create_norm"]

class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the channels of ``(B, N, C)`` tokens (statistics over batch and time)."""

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


NORMS: Registry[type[nn.Module]] = Registry(
    "norm", {"layernorm": nn.LayerNorm, "rmsnorm": nn.RMSNorm, "batchnorm": TokenBatchNorm})


def create_norm(name: str, dim: int) -> nn.Module:
    """The norm ``name`` of :data:`NORMS` (``"layernorm"``, the backbones' default) over ``dim`` channels."""
    return NORMS[name](dim)
