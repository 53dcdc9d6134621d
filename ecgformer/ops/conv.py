"""Multi-scale depthwise 1D convolution (SMT's multi-head mixed convolution, MixConv, InceptionNeXt)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["multiscale_dwconv", "depthwise_conv_tokens"]


def multiscale_dwconv(x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor | None] | None = None,
                      dilation: int = 1) -> Tensor:
    """Depthwise 'same' convolution of ``(B, C, N)`` with channels split into groups, one kernel per group.

    ``weights[i]`` has shape ``(C_i, 1, k_i)`` with odd ``k_i`` and ``sum(C_i) == C``; group ``i`` takes the
    next ``C_i`` channels. The kernels are centred and zero-padded to the largest size so the whole op is
    one grouped convolution (one pass over the input instead of one per group).
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (B, C, N), got shape {tuple(x.shape)}")
    if not weights:
        raise ValueError("weights must hold at least one kernel")
    for i, w in enumerate(weights):
        if w.dim() != 3 or w.shape[1] != 1 or w.shape[2] % 2 == 0:
            raise ValueError(f"weights[{i}] must be (C_i, 1, odd k), got {tuple(w.shape)}")
    channels = sum(w.shape[0] for w in weights)
    if channels != x.shape[1]:
        raise ValueError(f"weights cover {channels} channels but x has {x.shape[1]}")
    largest = max(w.shape[2] for w in weights)
    kernel = torch.cat([F.pad(w, ((largest - w.shape[2]) // 2,) * 2) for w in weights])
    bias = None
    if biases is not None:
        if len(biases) != len(weights):
            raise ValueError(f"biases has {len(biases)} entries for {len(weights)} weights")
        bias = torch.cat([b if b is not None else x.new_zeros(w.shape[0]) for b, w in zip(biases, weights)])
    return F.conv1d(x, kernel, bias, padding=dilation * (largest // 2), dilation=dilation, groups=channels)


def depthwise_conv_tokens(x: Tensor, weight: Tensor, bias: Tensor | None = None, dilation: int = 1) -> Tensor:
    """Depthwise 'same' convolution along time of tokens ``(B, N, C)`` with ``weight (C, 1, k)``, odd ``k``.

    ``(B, N, C)`` memory is exactly a channels-last ``(B, C, 1, N)`` image, so this runs one 2D depthwise
    convolution with a ``(1, k)`` kernel on that view: no transposed copies in or out, and oneDNN's
    channels-last depthwise kernel (measured several times faster on CPU than ``conv1d`` on transposed
    tokens). Returns contiguous ``(B, N, C)``.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be tokens (B, N, C), got shape {tuple(x.shape)}")
    if weight.dim() != 3 or weight.shape[0] != x.shape[-1] or weight.shape[1] != 1 or weight.shape[2] % 2 == 0:
        raise ValueError(f"weight must be (C={x.shape[-1]}, 1, odd k), got {tuple(weight.shape)}")
    channels = x.transpose(1, 2)  # (B, C, N)
    if torch.compiler.is_exporting():  # the layout of a channels-last image of one sample is ambiguous, and export
        channels = channels.contiguous()  # would then specialise the graph on B > 1: exported graphs take NCHW
    image = channels.unsqueeze(2)  # (B, C, 1, N), in eager a view in channels-last layout
    out = F.conv2d(image, weight.unsqueeze(2), bias, padding=(0, dilation * (weight.shape[2] // 2)),
                   dilation=(1, dilation), groups=x.shape[-1])
    return out.squeeze(2).transpose(1, 2).contiguous()
