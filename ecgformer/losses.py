"""Losses for multi-label (BCE, focal, asymmetric) and single-label (softmax cross-entropy) ECG classification.

All take logits; the multi-label ones take ``(B, C)`` targets in ``[0, 1]`` (soft labels allowed) and are
computed in log-space (``logsigmoid``), so values and gradients stay finite for logits of any size.
``reduction`` is ``"mean"`` (over every element), ``"sum"`` or ``"none"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Registry

__all__ = ["bce_loss", "focal_loss", "asymmetric_loss", "softmax_cross_entropy", "BCELoss", "FocalLoss",
           "AsymmetricLoss", "SoftmaxCrossEntropyLoss", "LOSSES", "create_loss"]

REDUCTIONS = ("mean", "sum", "none")


def _check(logits: Tensor, targets: Tensor, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must have the same shape")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def bce_loss(logits: Tensor, targets: Tensor, pos_weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy with logits: ``-(w_c y log p + (1 - y) log(1 - p))``, ``w_c`` = ``pos_weight`` per
    class (e.g. negatives / positives of the training set) or 1."""
    _check(logits, targets, reduction)
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=pos_weight,
                                              reduction=reduction)


def focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0,
               reduction: str = "mean") -> Tensor:
    """Multi-label focal loss (Lin et al., ICCV 2017) per element, with ``p = sigmoid(logit)``:
    ``y * (-alpha (1 - p)^gamma log p) + (1 - y) * (-(1 - alpha) p^gamma log(1 - p))``.

    ``log p = logsigmoid(z)``, ``log(1 - p) = logsigmoid(-z)`` and ``p^gamma = exp(gamma logsigmoid(z))``,
    so no probability is ever rounded to 0 or 1 before a log.
    """
    _check(logits, targets, reduction)
    if not 0.0 <= alpha <= 1.0 or gamma < 0:
        raise ValueError(f"need 0 <= alpha <= 1 and gamma >= 0, got alpha={alpha}, gamma={gamma}")
    targets = targets.to(logits.dtype)
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    positive = -alpha * torch.exp(gamma * log_not_p) * log_p
    negative = -(1.0 - alpha) * torch.exp(gamma * log_p) * log_not_p
    return _reduce(targets * positive + (1.0 - targets) * negative, reduction)


def asymmetric_loss(logits: Tensor, targets: Tensor, gamma_pos: float = 0.0, gamma_neg: float = 4.0,
                    clip: float = 0.05, reduction: str = "mean") -> Tensor:
    """Asymmetric loss, ASL (Ridnik et al., ICCV 2021), with ``p = sigmoid(logit)`` and the shifted probability
    of negatives ``p_m = max(p - clip, 0)``:
    ``y * (-(1 - p)^gamma_pos log p) + (1 - y) * (-p_m^gamma_neg log(1 - p_m))``.

    ``1 - p_m = min(sigmoid(-z) + clip, 1)`` is computed without forming ``1 - p``; ``p_m^gamma_neg`` is taken
    only where ``p_m > 0`` (0 elsewhere), so its gradient stays finite for any ``gamma_neg``.
    """
    _check(logits, targets, reduction)
    if gamma_pos < 0 or gamma_neg < 0 or not 0.0 <= clip < 1.0:
        raise ValueError(f"need gamma_pos, gamma_neg >= 0 and 0 <= clip < 1, got {gamma_pos}, {gamma_neg}, {clip}")
    targets = targets.to(logits.dtype)
    positive = -torch.exp(gamma_pos * F.logsigmoid(-logits)) * F.logsigmoid(logits)
    if clip > 0:
        shifted = torch.sigmoid(logits) - clip
        inside = shifted > 0
        weight = torch.where(inside, torch.where(inside, shifted, 1.0) ** gamma_neg, 0.0)
        log_not_p = torch.log(torch.clamp(torch.sigmoid(-logits) + clip, max=1.0))
    else:
        weight, log_not_p = torch.exp(gamma_neg * F.logsigmoid(logits)), F.logsigmoid(-logits)
    return _reduce(targets * positive + (1.0 - targets) * (-weight * log_not_p), reduction)


def softmax_cross_entropy(logits: Tensor, targets: Tensor, weight: Tensor | None = None,
                          label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Single-label softmax cross-entropy (e.g. CinC 2017's N/A/O/~): ``targets`` are class indices ``(B,)``
    or class probabilities ``(B, C)``; optional per-class ``weight`` and label smoothing."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if logits.dim() != 2 or targets.shape not in (logits.shape[:1], logits.shape):
        raise ValueError(f"logits must be (B, C) and targets (B,) indices or (B, C) probabilities, got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    if targets.shape == logits.shape:
        targets = targets.to(logits.dtype)
    if weight is not None:
        weight = weight.to(logits.dtype)
    return F.cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing, reduction=reduction)


class _Loss(nn.Module):
    """A loss function with fixed arguments, as a module; its tensor arguments are buffers (move with ``.to``)."""

    function = staticmethod(bce_loss)

    def __init__(self, tensors: Mapping[str, Tensor | Sequence[float] | None], **options: object) -> None:
        super().__init__()
        self.options = options
        for key, value in tensors.items():
            self.register_buffer(key, None if value is None else torch.as_tensor(value, dtype=torch.float32))

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The loss of ``logits`` against ``targets``."""
        return self.function(logits, targets, **dict(self.named_buffers(recurse=False)), **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.options.items())


class BCELoss(_Loss):
    """:func:`bce_loss` as a module: ``BCELoss(pos_weight=None, reduction="mean")``."""

    function = staticmethod(bce_loss)

    def __init__(self, pos_weight: Tensor | Sequence[float] | None = None, reduction: str = "mean") -> None:
        super().__init__({"pos_weight": pos_weight}, reduction=reduction)


class FocalLoss(_Loss):
    """:func:`focal_loss` as a module: ``FocalLoss(alpha=0.25, gamma=2.0, reduction="mean")``."""

    function = staticmethod(focal_loss)

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__({}, alpha=alpha, gamma=gamma, reduction=reduction)


class AsymmetricLoss(_Loss):
    """:func:`asymmetric_loss` as a module: ``AsymmetricLoss(gamma_pos=0, gamma_neg=4, clip=0.05)``."""

    function = staticmethod(asymmetric_loss)

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05,
                 reduction: str = "mean") -> None:
        super().__init__({}, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, reduction=reduction)


class SoftmaxCrossEntropyLoss(_Loss):
    """:func:`softmax_cross_entropy` as a module: ``SoftmaxCrossEntropyLoss(weight=None, label_smoothing=0)``."""

    function = staticmethod(softmax_cross_entropy)

    def __init__(self, weight: Tensor | Sequence[float] | None = None, label_smoothing: float = 0.0,
                 reduction: str = "mean") -> None:
        super().__init__({"weight": weight}, label_smoothing=label_smoothing, reduction=reduction)


LOSSES: Registry[type[_Loss]] = Registry("loss", {"bce": BCELoss, "focal": FocalLoss, "asl": AsymmetricLoss,
                                                  "cross_entropy": SoftmaxCrossEntropyLoss})


def create_loss(name: str, **kwargs: object) -> nn.Module:
    """The loss module ``name`` (``"bce"``, ``"focal"``, ``"asl"``, ``"cross_entropy"``) with ``kwargs``."""
    return LOSSES[name](**kwargs)
