"""The interface every ``ecgformer`` model shares (timm-style)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checks import check_int

__all__ = ["EcgModel"]


class EcgModel(nn.Module):
    """Base of the registered models: ``(B, in_chans, T)`` ECG in, ``(B, num_classes)`` logits out.

    Subclasses set ``in_chans``, ``num_classes``, ``min_length`` (the stem's receptive field, in samples),
    ``token_stride`` (input samples per output token) and ``head``, and implement :meth:`forward_features`.
    """

    in_chans: int
    num_classes: int
    min_length: int
    token_stride: int
    head: nn.Module

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, in_chans, T)`` with ``T >= min_length``."""
        if x.dim() != 3:
            raise ValueError(f"x must be an ECG batch (B, leads, T), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_chans:
            raise ValueError(f"x has {x.shape[1]} leads but the model was built with in_chans={self.in_chans}; "
                             f"create it with in_chans={x.shape[1]} or select {self.in_chans} leads")
        if x.shape[2] < self.min_length:
            raise ValueError(f"x has T={x.shape[2]} samples, fewer than the stem's receptive field "
                             f"(min_length={self.min_length})")

    def forward_features(self, x: Tensor) -> Tensor:
        """Backbone tokens ``(B, N, C)`` of ``x (B, in_chans, T)``, ``N = ceil(T / token_stride)``."""
        raise NotImplementedError

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits ``(B, num_classes)`` of backbone tokens (the head's features with ``pre_logits``)."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_chans, T) -> (B, num_classes)`` logits."""
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (and any per-class parameters) for ``num_classes`` classes."""
        check_int("num_classes", num_classes)
        self.head.reset(num_classes)
        self.num_classes = num_classes

    def auxiliary_loss(self) -> Tensor:
        """Sum of the auxiliary losses that modules in training mode stored during the last forward.

        Modules report one in a ``balance_loss`` tensor attribute (Pathformer's pathway load balancing,
        :class:`~ecgformer.mixers.pathway.AdaptivePathways`). A training step adds it, scaled:
        ``loss = criterion(model(x), y) + aux_weight * model.auxiliary_loss()``. Zero when no module has one.
        """
        total = torch.zeros((), device=next(self.parameters()).device)
        for module in self.modules():
            value = getattr(module, "balance_loss", None)
            if module.training and isinstance(value, Tensor):
                total = total + value
        return total
