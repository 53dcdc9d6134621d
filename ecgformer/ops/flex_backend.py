"""FlexAttention backend of ``local_attention``.

Dilation groups are made contiguous (as in the blocked torch backend) so the neighborhood mask is
block-sparse along the diagonal; the mask and the relative position bias are FlexAttention ``mask_mod`` /
``score_mod`` functions of the geometry in :mod:`ecgformer.ops.neighborhood`. Compiled kernels are
cached by ``torch.compile`` and block masks per shape here.

Limits (measured with torch 2.13): on CPU FlexAttention runs only without autograd (no CPU backward),
so this backend refuses CPU inputs that need gradients; it does not export to ONNX.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .neighborhood import group_lengths, window_bounds

__all__ = ["flex_local_attention", "DEFAULT_CPU_BLOCK_SIZE", "DEFAULT_CUDA_BLOCK_SIZE"]

DEFAULT_CPU_BLOCK_SIZE = 64
DEFAULT_CUDA_BLOCK_SIZE = 128
_BLOCK_MASKS: OrderedDict[tuple, object] = OrderedDict()
_COMPILED: dict[str, Callable] = {}


def _compiled_flex() -> Callable:
    from torch.nn.attention.flex_attention import flex_attention
    if "flex" not in _COMPILED:
        # one specialised kernel per (length, geometry): allow more than dynamo's default 8 recompiles
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _COMPILED["flex"] = torch.compile(flex_attention, dynamic=False)
    return _COMPILED["flex"]


def _neighborhood_mod(per_group: int, lengths: Tensor, kernel_size: int, causal: bool) -> Callable:
    def mask_mod(batch: Tensor, head: Tensor, query: Tensor, key: Tensor) -> Tensor:
        query_group, query_position = query // per_group, query % per_group
        key_group, key_position = key // per_group, key % per_group
        start, end = window_bounds(query_position, lengths[query_group], kernel_size, causal)
        return (query_group == key_group) & (key_position >= start) & (key_position < end)

    return mask_mod


def _block_mask(length: int, kernel_size: int, dilation: int, causal: bool, block_size: int,
                device: torch.device) -> object:
    from torch.nn.attention.flex_attention import create_block_mask
    key = (length, kernel_size, dilation, causal, block_size, str(device))
    if key not in _BLOCK_MASKS:
        per_group = (length + dilation - 1) // dilation
        lengths = group_lengths(length, dilation, device)
        mask_mod = _neighborhood_mod(per_group, lengths, kernel_size, causal)
        total = per_group * dilation
        _BLOCK_MASKS[key] = create_block_mask(mask_mod, None, None, total, total, device=str(device),
                                              BLOCK_SIZE=block_size)
        if len(_BLOCK_MASKS) > 32:
            _BLOCK_MASKS.popitem(last=False)
    return _BLOCK_MASKS[key]


def flex_local_attention(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int, causal: bool,
                         rpb: Tensor | None, block_size: int | None = None) -> Tensor:
    """``local_attention`` through compiled FlexAttention with a block-sparse neighborhood mask."""
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (q, k, v, rpb))
    if q.device.type == "cpu" and needs_grad:
        raise RuntimeError("backend='flex' has no CPU backward (FlexAttention limitation); use backend='torch' "
                           "for training on CPU, or run under torch.no_grad()")
    if block_size is None:
        block_size = DEFAULT_CUDA_BLOCK_SIZE if q.device.type == "cuda" else DEFAULT_CPU_BLOCK_SIZE
    batch, heads, length, dim = q.shape
    per_group = (length + dilation - 1) // dilation

    def to_groups(x: Tensor) -> Tensor:
        x = F.pad(x, (0, 0, 0, per_group * dilation - length))
        return x.view(batch, heads, per_group, dilation, dim).transpose(2, 3).reshape(batch, heads, -1, dim)

    block_mask = _block_mask(length, kernel_size, dilation, causal, block_size, q.device)
    score_mod = None
    if rpb is not None:
        table = rpb

        def score_mod(score: Tensor, batch_index: Tensor, head: Tensor, query: Tensor, key: Tensor) -> Tensor:
            offset = key % per_group - query % per_group + kernel_size - 1
            return score + table[head, offset.clamp(0, 2 * kernel_size - 2)]

    out = _compiled_flex()(to_groups(q), to_groups(k), to_groups(v), score_mod=score_mod, block_mask=block_mask)
    out = out.view(batch, heads, dilation, per_group, dim).transpose(2, 3).reshape(batch, heads, -1, dim)
    return out[:, :, :length]
