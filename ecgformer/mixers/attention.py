"""Global multi-head self-attention: the quadratic pole every ablation compares against."""

from __future__ import annotations

from ..layers.attention import SelfAttention
from .registry import register_mixer

__all__ = ["Attention"]


@register_mixer("attention", family="global attention", paper="Vaswani et al. 2017; Dosovitskiy et al. 2021 (ViT)",
                origin_2d="ViT multi-head self-attention over all patches",
                preset_params=5_200_000)
class Attention(SelfAttention):
    """Multi-head self-attention over all tokens (ViT). Paper: Dosovitskiy et al., ICLR 2021.

    1D port: unchanged; tokens are ECG time steps. Quadratic in N; positional information comes from the
    backbone (conditional positional encoding) rather than from the mixer.
    """
