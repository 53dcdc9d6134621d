"""Channel-mixing feed-forward networks of the backbone blocks, on ``(B, N, C)`` tokens."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int
from ..ops.conv import depthwise_conv_tokens
from ..registry import Registry

__all__ = ["FFNS", "Mlp", "ConvFFN", "GluFFN", "create_ffn"]


class Mlp(nn.Module):
    """Transformer FFN: ``fc2(drop(GELU(fc1(x))))`` with ``hidden`` channels (ViT)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def hidden_activation(self, h: Tensor) -> Tensor:
        """GELU of the hidden layer; :class:`ConvFFN` mixes neighbouring tokens first."""
        return F.gelu(h)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        return self.drop(self.fc2(self.drop(self.hidden_activation(self.fc1(x)))))


class ConvFFN(Mlp):
    """FFN with a depthwise convolution over time in the hidden layer (PVT v2 / SMT / CMT "conv FFN"):
    ``fc2(GELU(dwconv(fc1(x))))``; gives the FFN local positional awareness."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0, kernel_size: int = 3) -> None:
        super().__init__(dim, hidden, drop)
        check_int("kernel_size", kernel_size, odd=True)
        self.dwconv = nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden)

    def hidden_activation(self, h: Tensor) -> Tensor:
        """GELU of the depthwise-convolved hidden tokens."""
        return F.gelu(depthwise_conv_tokens(h, self.dwconv.weight, self.dwconv.bias))


class GluFFN(nn.Module):
    """Gated FFN (GEGLU, Shazeer 2020): ``fc2(GELU(a) * b)`` with ``[a, b] = fc1(x)``; ``hidden`` is the gated
    width (use 2/3 of an Mlp's hidden width for equal parameters)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 2 * hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        a, b = self.fc1(x).chunk(2, dim=-1)
        return self.drop(self.fc2(self.drop(F.gelu(a) * b)))


FFNS: Registry[type[nn.Module]] = Registry("ffn", {"mlp": Mlp, "conv": ConvFFN, "glu": GluFFN})


def create_ffn(name: str, dim: int, hidden: int, drop: float = 0.0) -> nn.Module:
    """The FFN ``name`` of :data:`FFNS` (``"mlp"``, ``"conv"`` or ``"glu"``) of ``dim`` channels, ``hidden`` wide."""
    return FFNS[name](dim, hidden, drop)
