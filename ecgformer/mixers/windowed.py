"""Windowed attention in 1D: Swin W-MSA / SW-MSA and Twins LSA."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checks import check_heads, check_int, check_tokens
from ..layers.attention import merge_heads, project_qkv, window_attention
from ..ops.windows import crop, cyclic_shift, pad_to_multiple, relative_position_index, shifted_window_mask
from .registry import register_mixer

__all__ = ["SwinAttention"]

SWIN_PRESET = [["swin", {"name": "swin", "shift": True}]] * 4  # ecgformer_s_swin: W-MSA / SW-MSA alternating


@register_mixer(
    "swin", family="windowed attention",
    paper="Liu et al. 2021, Swin Transformer (ICCV); Chu et al. 2021, Twins (NeurIPS) locally-grouped SA",
    origin_2d="W-MSA / SW-MSA in M x M windows, cyclic shift M//2, (2M-1)^2 relative position bias; "
              "Twins LSA is W-MSA without shift",
    preset_params=5_200_000, preset_layout=SWIN_PRESET)
class SwinAttention(nn.Module):
    """Swin window attention (W-MSA, or SW-MSA with ``shift=True``). Paper: Liu et al., ICCV 2021.

    Twins' locally-grouped self-attention (LSA, Chu et al., NeurIPS 2021) is the unshifted case; backbones
    alternate ``shift=False`` / ``shift=True`` blocks as Swin does.

    1D port: ``M x M`` windows become windows of ``window_size`` tokens, the cyclic shift is a roll by
    ``window_size // 2`` along time, masked across the roll seam, and the relative position bias table is
    ``(2w - 1, heads)`` with Swin's index ``q - k + w - 1`` (a height-1 Swin window). Lengths that are not a
    multiple of the window are padded at the end with padded keys masked; when the sequence fits in one
    window the shift is disabled, as Swin does when the input is no larger than a window.

    Args:
        dim: token channels.
        num_heads: attention heads (must divide ``dim``).
        window_size: tokens per window (default 16: 320 ms at a 50 Hz token rate).
        shift: SW-MSA (shift by ``window_size // 2``) instead of W-MSA.
        qkv_bias: as in Swin.
        attn_drop: as in Swin.
        proj_drop: as in Swin.
    """

    def __init__(self, dim: int, num_heads: int = 4, window_size: int = 16, shift: bool = False,
                 qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_int("window_size", window_size)
        self.dim, self.num_heads, self.window_size, self.attn_drop = dim, num_heads, window_size, attn_drop
        self.shift_size = window_size // 2 if shift else 0
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(2 * window_size - 1, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window_size), persistent=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        length, window, shift = x.shape[1], self.window_size, self.shift_size
        x, _ = pad_to_multiple(x, window)
        if shift:
            x = cyclic_shift(x, window, shift)
        q, k, v = project_qkv(self.qkv, x, self.num_heads)
        bias = self.relative_position_bias_table[self.relative_position_index].permute(2, 0, 1)
        allowed = shifted_window_mask(length, window, shift, x.device)
        out = merge_heads(window_attention(q, k, v, allowed, bias, self.attn_drop if self.training else 0.0))
        if shift:
            out = cyclic_shift(out, window, shift, reverse=True)
        return self.proj_drop(self.proj(crop(out, length)))
