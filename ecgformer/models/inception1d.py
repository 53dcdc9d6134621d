"""inception1d: the PTB-XL benchmark's InceptionTime network (Strodthoff et al., IEEE JBHI 2021; Ismail Fawaz et
al., "InceptionTime: Finding AlexNet for Time Series Classification", DMKD 2020), written from its description."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import MaxPool1d
from .base import EcgModel
from .heads import create_head
from .xresnet1d import conv_bn

__all__ = ["InceptionModule1d", "Inception1d"]


class InceptionModule1d(nn.Module):
    """Inception module: a 1x1 bottleneck feeds parallel convolutions of ``kernel_sizes`` taps; a max-pool
    (3, stride 1) + 1x1 branch reads the input; the branches are concatenated, batch-normalised, ReLU."""

    def __init__(self, in_ch: int, filters: int, bottleneck: int, kernel_sizes: Sequence[int]) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(in_ch, bottleneck, 1, bias=False)
        self.convs = nn.ModuleList(nn.Conv1d(bottleneck, filters, k, padding=k // 2, bias=False)
                                   for k in kernel_sizes)
        self.pool = MaxPool1d(3, stride=1)
        self.pool_conv = nn.Conv1d(in_ch, filters, 1, bias=False)
        self.norm = nn.BatchNorm1d(filters * (len(kernel_sizes) + 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, T) -> (B, filters * (len(kernel_sizes) + 1), T)``."""
        b = self.bottleneck(x)
        branches = [conv(b) for conv in self.convs] + [self.pool_conv(self.pool(x))]
        return F.relu(self.norm(torch.cat(branches, dim=1)))


class Inception1d(EcgModel):
    """inception1d of the PTB-XL benchmark: ``depth`` (6) inception modules of ``filters`` (32) per branch,
    kernels 39, 19 and 9 (the benchmark's kernel size 40, halved twice, made odd), bottleneck 32, and a
    residual connection (1x1 conv + BatchNorm shortcut, add, ReLU) around every ``residual_every`` (3)
    modules; the benchmark's concat-pooling MLP head. No downsampling: one token per input sample.
    """

    def __init__(self, num_classes: int, in_chans: int = 12, depth: int = 6, filters: int = 32,
                 bottleneck: int = 32, kernel_sizes: Sequence[int] = (39, 19, 9), residual_every: int = 3,
                 head: str = "benchmark", drop_rate: float = 0.5,
                 head_kwargs: Mapping[str, object] | None = None) -> None:
        super().__init__()
        if in_chans < 1 or num_classes < 1 or depth < 1 or residual_every < 1:
            raise ValueError(f"need in_chans, num_classes, depth, residual_every >= 1; got in_chans={in_chans}, "
                             f"num_classes={num_classes}, depth={depth}, residual_every={residual_every}")
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd ints >= 1, got {kernel_sizes}")
        self.in_chans, self.num_classes = in_chans, num_classes
        self.min_length = self.token_stride = 1
        out_ch = filters * (len(kernel_sizes) + 1)
        self.blocks = nn.ModuleList(InceptionModule1d(in_chans if i == 0 else out_ch, filters, bottleneck, kernel_sizes)
                                      for i in range(depth))
        self.residual_every = residual_every
        self.shortcuts = nn.ModuleList(conv_bn(in_chans if i == 0 else out_ch, out_ch, 1, relu=False)
                                       for i in range(depth // residual_every))
        self.head = create_head(head, out_ch, num_classes, drop=drop_rate, **dict(head_kwargs or {}))

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature tokens ``(B, T, filters * 4)``."""
        self.check_input(x)
        residual = x
        for i, module in enumerate(self.blocks):
            x = module(x)
            if (i + 1) % self.residual_every == 0:
                x = residual = F.relu(x + self.shortcuts[i // self.residual_every](residual))
        return x.transpose(1, 2)
