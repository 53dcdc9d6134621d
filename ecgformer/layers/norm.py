"""Normalisation of ``(B, N, C)`` tokens, chosen by name."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["NORMS", "TokenBatchNorm", "create_norm"]

NORMS = ("layernorm", "rmsnorm", "batchnorm")


class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the channels of ``(B, N, C)`` tokens (statistics over batch and time)."""

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def create_norm(name: str, dim: int) -> nn.Module:
    """``"layernorm"`` (default of the backbones), ``"rmsnorm"`` or ``"batchnorm"`` over ``dim`` channels."""
    if name == "layernorm":
        return nn.LayerNorm(dim)
    if name == "rmsnorm":
        return nn.RMSNorm(dim)
    if name == "batchnorm":
        return TokenBatchNorm(dim)
    raise ValueError(f"norm must be one of {NORMS}, got {name!r}")
