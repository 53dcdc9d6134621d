"""``local_attention``: 1D neighborhood attention with dilation, causality and relative position bias.

One functional API with several backends (NATTEN's organisation):

* ``"reference"``: dense masked SDPA over the full ``N x N`` mask of :mod:`ecgformer.ops.neighborhood`.
  O(N^2); the ground truth the fast paths are tested against.
* ``"torch"``: blocked pure PyTorch. Dilation groups are made contiguous, queries are cut into blocks of
  ``block_size`` and each block attends, through one batched SDPA call, to the ``block_size + K - 1``
  keys that cover every window of the block (a gathered key halo). Time and memory grow as
  O(N * (block_size + K)); differentiable, exportable with ``torch.onnx.export(dynamo=True)``.
* ``"flex"``: FlexAttention with a block-sparse mask (see :mod:`ecgformer.ops.flex_backend`).
* ``"triton"``: fused Triton kernel (see :mod:`ecgformer.ops.triton_backend`).
* ``"auto"``: see :func:`select_backend`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .neighborhood import check_local_attention_args, group_lengths, neighborhood_mask, window_bounds
from .windows import crop

__all__ = ["local_attention", "select_backend", "BACKENDS", "DEFAULT_BLOCK_SIZE"]

BACKENDS = ("auto", "torch", "reference", "flex", "triton")
DEFAULT_BLOCK_SIZE = 64
_PLAN_CACHE: OrderedDict[tuple, "_BlockPlan"] = OrderedDict()
_PLAN_CACHE_SIZE = 64


def _is_tracing() -> bool:
    """True under torch.export / dynamo / TorchScript, where shape-derived tensors must not be cached."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting()


def select_backend(q: Tensor) -> str:
    """The ``auto`` rule.

    * under export, tracing or compilation: ``torch`` (the only exportable backend);
    * CPU: ``torch`` (FlexAttention has no CPU backward, and without autograd the blocked torch path
      measured faster than compiled CPU FlexAttention: see README's ops table);
    * CUDA: ``flex`` (trains and runs on GPU with block sparsity); ``triton`` is opt-in.
    """
    if _is_tracing() or q.device.type != "cuda":
        return "torch"
    return "flex"


def local_attention(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int = 1, causal: bool = False,
                    rpb: Tensor | None = None, backend: str = "auto", block_size: int | None = None) -> Tensor:
    """1D neighborhood attention (NATTEN semantics) on ``(B, H, N, D)`` tensors; returns ``(B, H, N, D)``.

    Args:
        q: queries in SDPA layout ``(B, H, N, D)``; any ``N >= 1``.
        k: keys, same layout as ``q``.
        v: values, same layout as ``q``.
        kernel_size: odd number of keys per query (inside its dilation group).
        dilation: tokens ``i mod dilation`` form one group; attention stays inside a group.
        causal: attend to itself and the ``kernel_size - 1`` nearest earlier keys of the group.
        rpb: optional learnable bias table ``(H, 2 * kernel_size - 1)`` indexed by ``key - query + K - 1``.
        backend: ``"auto"``, ``"torch"``, ``"reference"``, ``"flex"`` or ``"triton"``.
        block_size: query block of the ``torch`` backend (default 64: fastest measured on CPU for K<=65).
    """
    check_local_attention_args(q, k, v, kernel_size, dilation, rpb)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = select_backend(q)
    if backend == "torch":
        return _blocked_local_attention(q, k, v, kernel_size, dilation, causal, rpb,
                                        block_size or DEFAULT_BLOCK_SIZE)
    if backend == "reference":
        return _reference_local_attention(q, k, v, kernel_size, dilation, causal, rpb)
    if backend == "flex":
        from .flex_backend import flex_local_attention
        return flex_local_attention(q, k, v, kernel_size, dilation, causal, rpb)
    from .triton_backend import triton_local_attention
    return triton_local_attention(q, k, v, kernel_size, dilation, causal, rpb)


def _reference_local_attention(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int, causal: bool,
                               rpb: Tensor | None) -> Tensor:
    """Dense masked SDPA over the full ``(N, N)`` neighborhood mask (O(N^2) time and memory)."""
    allowed, bias_index = neighborhood_mask(q.shape[2], kernel_size, dilation, causal, q.device)
    if rpb is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    bias = rpb[:, bias_index].to(q.dtype).masked_fill(~allowed, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0))


class _BlockPlan(NamedTuple):
    """Index tensors and mask of the blocked backend for one (N, K, d, causal, block) geometry."""

    query_index: Tensor  # (d * nb * Q,) token gathered into each query slot (clamped for padding slots)
    key_index: Tensor  # (d * nb * S,) token gathered into each key slot of each block's span
    output_index: Tensor  # (N,) slot holding each token's output
    mask: Tensor  # (d * nb, Q, S) additive mask: 0 where allowed, -inf elsewhere
    bias_index: Tensor  # (d * nb, Q, S) rpb column (key - query + K - 1), clamped


def _block_plan(length: int, kernel_size: int, dilation: int, causal: bool, block: int,
                device: torch.device) -> _BlockPlan:
    """Geometry of the blocked backend: which tokens each query block and its key span gather.

    Group ``g`` position ``p`` is token ``p * d + g``. Slots past the end of a group gather a clamped
    (arbitrary real) token; their keys are masked and their query rows are cropped away.
    """
    per_group = (length + dilation - 1) // dilation
    n_blocks = (per_group + block - 1) // block
    span = block + kernel_size - 1
    lengths = group_lengths(length, dilation, device)[:, None]
    groups = torch.arange(dilation, device=device)
    block_start = torch.arange(n_blocks, device=device) * block
    lead = kernel_size - 1 if causal else kernel_size // 2
    # each block's key span starts where its first query's window could start, kept inside its group
    span_start = torch.clamp(torch.minimum(block_start[None, :] - lead, lengths - span), min=0)
    key_position = span_start[:, :, None] + torch.arange(span, device=device)  # (d, nb, S)
    query_position = block_start[:, None] + torch.arange(block, device=device)  # (nb, Q)
    start, end = window_bounds(query_position[None], lengths[:, :, None], kernel_size, causal)  # (d, nb, Q)
    keys = key_position[:, :, None, :]
    allowed = (keys >= start[..., None]) & (keys < end[..., None])
    # padding queries (beyond their group) keep the first key of their span so no softmax row is empty
    padding_query = query_position[None] >= lengths[:, :, None]
    allowed = allowed | (padding_query[..., None] & (torch.arange(span, device=device) == 0))
    bias_index = (keys - query_position[None, :, :, None] + kernel_size - 1).clamp(0, 2 * kernel_size - 2)
    mask = torch.zeros(allowed.shape, device=device).masked_fill(~allowed, float("-inf"))

    def token(position: Tensor) -> Tensor:
        return torch.clamp(position * dilation + groups.view(-1, *([1] * (position.dim() - 1))), max=length - 1)

    token_index = torch.arange(length, device=device)
    output_index = (token_index % dilation) * (n_blocks * block) + token_index // dilation
    shape = (dilation * n_blocks, block, span)
    return _BlockPlan(token(query_position[None].expand(dilation, -1, -1)).reshape(-1),
                      token(key_position).reshape(-1), output_index, mask.reshape(shape), bias_index.reshape(shape))


def _cached_block_plan(length: int, kernel_size: int, dilation: int, causal: bool, block: int,
                       device: torch.device) -> _BlockPlan:
    if _is_tracing():
        return _block_plan(length, kernel_size, dilation, causal, block, device)
    key = (length, kernel_size, dilation, causal, block, str(device))
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        plan = _block_plan(length, kernel_size, dilation, causal, block, device)
        _PLAN_CACHE[key] = plan
        if len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
            _PLAN_CACHE.popitem(last=False)
    else:
        _PLAN_CACHE.move_to_end(key)
    return plan


def _blocked_local_attention(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int, causal: bool,
                             rpb: Tensor | None, block: int) -> Tensor:
    batch, heads, length, dim = q.shape
    per_group = (length + dilation - 1) // dilation
    n_blocks = (per_group + block - 1) // block
    n_windows, span = dilation * n_blocks, block + kernel_size - 1
    plan = _cached_block_plan(length, kernel_size, dilation, causal, block, q.device)
    mask = plan.mask.to(q.dtype)
    if rpb is None:
        # SDPA wants 4-D inputs for export: heads folded into the batch, blocks on the "head" axis
        layout, mask = (batch * heads, n_windows), mask.unsqueeze(0)
    else:
        layout = (batch, heads * n_windows)
        mask = (rpb[:, plan.bias_index].to(q.dtype) + mask).reshape(1, heads * n_windows, block, span)
    if dilation == 1:  # tokens are already in slot order: pad and crop instead of gathering
        q_blocks = F.pad(q, (0, 0, 0, n_blocks * block - length))
    else:
        q_blocks = q.index_select(2, plan.query_index)
    k_blocks = k.index_select(2, plan.key_index).reshape(*layout, span, dim)
    v_blocks = v.index_select(2, plan.key_index).reshape(*layout, span, dim)
    # the mask is expanded over the batch (a view): a mask of batch 1 makes exported graphs require batch > 1
    out = F.scaled_dot_product_attention(q_blocks.reshape(*layout, block, dim), k_blocks, v_blocks,
                                         attn_mask=mask.expand(layout[0], -1, -1, -1))
    out = out.reshape(batch, heads, n_windows * block, dim)
    return crop(out, length, dim=2) if dilation == 1 else out.index_select(2, plan.output_index)
