"""xresnet1d: the 1D "bag of tricks" ResNet that leads the PTB-XL benchmark (Strodthoff et al., "Deep Learning
for ECG Analysis: Benchmarks and Insights from PTB-XL", IEEE JBHI 2021), written from its description."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import MaxPool1d, receptive_field
from ..ops.pooling import pool_tokens
from .base import EcgModel
from .heads import create_head

__all__ = ["conv_bn", "XResNet1d"]


def conv_bn(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, relu: bool = True,
            zero_init: bool = False) -> nn.Sequential:
    """Bias-free 'same' convolution, BatchNorm (gamma 0 with ``zero_init``), optional ReLU."""
    conv = nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    norm = nn.BatchNorm1d(out_ch)
    if zero_init:
        nn.init.zeros_(norm.weight)
    return nn.Sequential(conv, norm, nn.ReLU()) if relu else nn.Sequential(conv, norm)


class Bottleneck1d(nn.Module):
    """ResNet-D bottleneck: 1x1 -> k (strided) -> 1x1 expanding to ``width * expansion``, last BatchNorm
    zero-initialised; the shortcut average-pools (ceil mode: a partial last window is averaged over its
    real samples) before its 1x1 convolution, which exists only where the channels change (He et al.,
    "Bag of Tricks for Image Classification with CNNs", CVPR 2019)."""

    def __init__(self, in_ch: int, width: int, expansion: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        out_ch = width * expansion
        self.convs = nn.Sequential(conv_bn(in_ch, width, 1), conv_bn(width, width, kernel_size, stride),
                                   conv_bn(width, out_ch, 1, relu=False, zero_init=True))
        self.stride = stride
        self.shortcut = conv_bn(in_ch, out_ch, 1, relu=False) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, T) -> (B, width * expansion, ceil(T / stride))``."""
        shortcut = x
        if self.stride > 1:
            shortcut = pool_tokens(x.transpose(1, 2), pool_size=self.stride).transpose(1, 2)
        return F.relu(self.convs(x) + self.shortcut(shortcut))


class XResNet1d(EcgModel):
    """xresnet1d of the PTB-XL benchmark (its best model, ``xresnet1d101``, and ``xresnet1d50``).

    Stem: three conv-BN-ReLU layers of ``stem_widths`` (32, 32, 64) with ``stem_kernel`` (5) taps, the first
    with stride 2, then max-pooling (3, stride 2). Four stages of ``layers`` bottleneck blocks (ResNet-D,
    expansion 4) with strides 1, 2, 2, 2; as in the benchmark's 1D adaptation every stage keeps the bottleneck
    width ``width`` (64, so 256 output channels) and the blocks use ``kernel_size`` (5) taps. Head: the
    benchmark's concat-pooling MLP head (:class:`~ecgformer.models.heads.BenchmarkHead`), or any other head.
    Token stride 32; any ``T >= 25`` samples (the stem's receptive field).
    """

    def __init__(self, num_classes: int, in_chans: int = 12, layers: Sequence[int] = (3, 4, 6, 3), width: int = 64,
                 expansion: int = 4, stem_widths: Sequence[int] = (32, 32, 64), stem_kernel: int = 5,
                 kernel_size: int = 5, head: str = "benchmark", drop_rate: float = 0.5,
                 head_kwargs: Mapping[str, object] | None = None) -> None:
        super().__init__()
        if in_chans < 1 or num_classes < 1 or not layers or min(layers) < 1 or len(stem_widths) < 1:
            raise ValueError(f"need in_chans, num_classes >= 1, non-empty positive layers and stem_widths; got "
                             f"in_chans={in_chans}, num_classes={num_classes}, layers={layers}, "
                             f"stem_widths={stem_widths}")
        self.in_chans, self.num_classes = in_chans, num_classes
        widths = [in_chans, *stem_widths]
        self.stem = nn.Sequential(*(conv_bn(widths[i], widths[i + 1], stem_kernel, stride=2 if i == 0 else 1)
                                    for i in range(len(stem_widths))), MaxPool1d(3, stride=2))
        self.min_length = receptive_field([stem_kernel] * len(stem_widths) + [3],
                                          [2] + [1] * (len(stem_widths) - 1) + [2])
        blocks, in_ch = [], widths[-1]
        for stage, depth in enumerate(layers):
            for i in range(depth):
                blocks.append(Bottleneck1d(in_ch, width, expansion, kernel_size, 2 if stage and i == 0 else 1))
                in_ch = width * expansion
        self.blocks = nn.Sequential(*blocks)
        self.token_stride = 4 * 2 ** (len(layers) - 1)
        self.head = create_head(head, in_ch, num_classes, drop=drop_rate, **dict(head_kwargs or {}))

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature tokens ``(B, ceil(T / 32), width * expansion)``."""
        self.check_input(x)
        return self.blocks(self.stem(x)).transpose(1, 2)
