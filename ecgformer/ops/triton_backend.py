"""Fused Triton kernels for 1D neighborhood attention (``local_attention(..., backend="triton")``).

Semantics are those of :mod:`ecgformer.ops.neighborhood` (NATTEN in 1D, dilation groups ``i mod d``).

Forward: one program per (batch * head, dilation group, tile of ``BLOCK_M`` group positions). Window
starts and ends are non-decreasing in the query position, so a query tile needs exactly the contiguous
key range ``[start(first query), end(last query))`` of its group (at most ``BLOCK_M + K - 1`` keys). The
program walks that range in tiles of ``BLOCK_N`` keys with an online (flash-style) softmax in fp32,
masking each logit to its query's exact window, and stores the output and the row log-sum-exp.

Backward: native Triton kernels, no recomputation through another backend. ``dq`` (and the
relative-position-bias gradient) come from the same per-query-tile walk; ``dk`` and ``dv`` from one
program per key tile, walking the contiguous range of queries whose windows can contain those keys.
The bias gradient is written per (query, offset) into a ``(B, H, N, 2K - 1)`` fp32 buffer (no atomics,
deterministic) and summed over batch and tokens; that buffer exists only when ``rpb`` needs a gradient.

fp32 inputs use full-precision (``"ieee"``, not TF32) dot products; fp16 and bf16 use tensor cores
with fp32 accumulation. On CPU the kernels run only under Triton's interpreter (``TRITON_INTERPRET=1``
set before this module is imported), which is what the tests use on tiny shapes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("local_attention(backend='triton') needs the optional Triton package: "
                      "pip install 'ecgformer[triton]' (Linux), or use backend='torch' or 'flex'") from err

__all__ = ["triton_local_attention", "SUPPORTED_DTYPES"]

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_LOG2E = math.log2(math.e)


@triton.jit
def _program_tile(heads, length, dilation, tiles_per_group, BLOCK: tl.constexpr):
    """This program's (batch, head, dilation group, first group position of its tile, group length)."""
    pid = tl.program_id(0)
    tiles = dilation * tiles_per_group
    bh = pid // tiles
    group = (pid % tiles) // tiles_per_group
    first = (pid % tiles_per_group) * BLOCK
    group_len = (length - group + dilation - 1) // dilation
    return (bh // heads).to(tl.int64), bh % heads, group, first, group_len


@triton.jit
def _window(pos, group_len, KERNEL: tl.constexpr, CAUSAL: tl.constexpr):
    """Half-open key window ``[start, end)`` (group positions) of the queries at ``pos``."""
    if CAUSAL:
        start = tl.maximum(pos - (KERNEL - 1), 0)
        end = pos + 1
    else:
        start = tl.maximum(tl.minimum(pos - KERNEL // 2, group_len - KERNEL), 0)
        end = tl.minimum(start + KERNEL, group_len)
    return start, end


@triton.jit
def _query_range(first_key, last_key, group_len, KERNEL: tl.constexpr, CAUSAL: tl.constexpr):
    """Contiguous range ``[lo, hi)`` of query positions whose windows hold a key in ``[first_key, last_key]``."""
    if CAUSAL:
        lo = first_key
        hi = tl.minimum(last_key + KERNEL, group_len)
    else:
        lo = tl.where(first_key - KERNEL + 1 > 0, first_key - KERNEL + 1 + KERNEL // 2, 0)
        hi = tl.where(last_key >= group_len - KERNEL, group_len, last_key + KERNEL // 2 + 1)
    return lo, hi


@triton.jit
def _logits(q, k, RPB, head, pos, kpos, allowed, qk_scale, KERNEL: tl.constexpr, HAS_RPB: tl.constexpr):
    """Logits in the log2 domain, ``-inf`` outside ``allowed``: ``(q k^T * scale + bias) * log2(e)``."""
    s = tl.dot(q, tl.trans(k), input_precision="ieee") * qk_scale
    if HAS_RPB:
        offset = kpos[None, :] - pos[:, None] + (KERNEL - 1)
        bias = tl.load(RPB + head * (2 * KERNEL - 1) + offset, mask=allowed, other=0.0)
        s += bias.to(tl.float32) * 1.4426950408889634  # log2(e)
    return tl.where(allowed, s, float("-inf"))


@triton.jit
def _fwd_kernel(Q, K, V, O, LSE, RPB,
                stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
                stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
                heads, length, head_dim, dilation, tiles_per_group, qk_scale,
                KERNEL: tl.constexpr, CAUSAL: tl.constexpr, HAS_RPB: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    batch, head, group, first, group_len = _program_tile(heads, length, dilation, tiles_per_group, BLOCK_M)

    pos = first + tl.arange(0, BLOCK_M)
    row_ok = pos < group_len
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < head_dim
    q_mask = row_ok[:, None] & dim_ok[None, :]
    q = tl.load(Q + batch * stride_qb + head * stride_qh + (pos * dilation + group)[:, None] * stride_qn
                + dims[None, :], mask=q_mask, other=0.0)
    k_base = K + batch * stride_kb + head * stride_kh
    v_base = V + batch * stride_vb + head * stride_vh

    start, end = _window(pos, group_len, KERNEL, CAUSAL)
    lo, _ = _window(first, group_len, KERNEL, CAUSAL)
    _, hi = _window(tl.minimum(first + BLOCK_M, group_len) - 1, group_len, KERNEL, CAUSAL)
    hi = tl.where(first < group_len, hi, lo)

    # finite initial max: rows with no allowed key in a tile then add exp2(-inf) = 0, never NaN
    m_i = tl.full([BLOCK_M], -1.0e30, tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for key0 in range(lo, hi, BLOCK_N):
        kpos = key0 + tl.arange(0, BLOCK_N)
        kv_mask = (kpos < hi)[:, None] & dim_ok[None, :]
        token = (kpos * dilation + group)[:, None]
        k = tl.load(k_base + token * stride_kn + dims[None, :], mask=kv_mask, other=0.0)
        allowed = row_ok[:, None] & (kpos[None, :] >= start[:, None]) & (kpos[None, :] < end[:, None])
        s = _logits(q, k, RPB, head, pos, kpos, allowed, qk_scale, KERNEL, HAS_RPB)
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + token * stride_vn + dims[None, :], mask=kv_mask, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        m_i = m_new

    l_i = tl.where(row_ok, l_i, 1.0)
    out = acc / l_i[:, None]
    token = pos * dilation + group
    tl.store(O + batch * stride_ob + head * stride_oh + token[:, None] * stride_on + dims[None, :],
             out.to(O.dtype.element_ty), mask=q_mask)
    tl.store(LSE + (batch * heads + head) * length + token, m_i + tl.log2(l_i), mask=row_ok)


@triton.jit
def _bwd_dq_kernel(Q, K, V, DO, LSE, DELTA, RPB, DQ, DBIAS,
                   stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
                   stride_vb, stride_vh, stride_vn, stride_gb, stride_gh, stride_gn,
                   heads, length, head_dim, dilation, tiles_per_group, qk_scale, sm_scale,
                   KERNEL: tl.constexpr, CAUSAL: tl.constexpr, HAS_RPB: tl.constexpr, RPB_GRAD: tl.constexpr,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """``dq`` per query tile; ``DO`` and ``DQ`` share the ``stride_g*`` strides."""
    batch, head, group, first, group_len = _program_tile(heads, length, dilation, tiles_per_group, BLOCK_M)

    pos = first + tl.arange(0, BLOCK_M)
    row_ok = pos < group_len
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < head_dim
    q_mask = row_ok[:, None] & dim_ok[None, :]
    token = pos * dilation + group
    q = tl.load(Q + batch * stride_qb + head * stride_qh + token[:, None] * stride_qn + dims[None, :],
                mask=q_mask, other=0.0)
    g_offset = batch * stride_gb + head * stride_gh + token[:, None] * stride_gn + dims[None, :]
    do = tl.load(DO + g_offset, mask=q_mask, other=0.0)
    row = (batch * heads + head) * length + token
    lse = tl.load(LSE + row, mask=row_ok, other=0.0)
    delta = tl.load(DELTA + row, mask=row_ok, other=0.0)
    k_base = K + batch * stride_kb + head * stride_kh
    v_base = V + batch * stride_vb + head * stride_vh

    start, end = _window(pos, group_len, KERNEL, CAUSAL)
    lo, _ = _window(first, group_len, KERNEL, CAUSAL)
    _, hi = _window(tl.minimum(first + BLOCK_M, group_len) - 1, group_len, KERNEL, CAUSAL)
    hi = tl.where(first < group_len, hi, lo)

    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for key0 in range(lo, hi, BLOCK_N):
        kpos = key0 + tl.arange(0, BLOCK_N)
        kv_mask = (kpos < hi)[:, None] & dim_ok[None, :]
        key_token = (kpos * dilation + group)[:, None]
        k = tl.load(k_base + key_token * stride_kn + dims[None, :], mask=kv_mask, other=0.0)
        v = tl.load(v_base + key_token * stride_vn + dims[None, :], mask=kv_mask, other=0.0)
        allowed = row_ok[:, None] & (kpos[None, :] >= start[:, None]) & (kpos[None, :] < end[:, None])
        s = _logits(q, k, RPB, head, pos, kpos, allowed, qk_scale, KERNEL, HAS_RPB)
        p = tl.where(allowed, tl.exp2(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision="ieee")
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision="ieee")
        if RPB_GRAD:
            offset = kpos[None, :] - pos[:, None] + (KERNEL - 1)
            tl.store(DBIAS + row[:, None] * (2 * KERNEL - 1) + offset, ds, mask=allowed)
    tl.store(DQ + g_offset, (dq * sm_scale).to(DQ.dtype.element_ty), mask=q_mask)


@triton.jit
def _bwd_dkdv_kernel(Q, K, V, DO, LSE, DELTA, RPB, DK, DV,
                     stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
                     stride_vb, stride_vh, stride_vn, stride_gb, stride_gh, stride_gn,
                     heads, length, head_dim, dilation, tiles_per_group, qk_scale, sm_scale,
                     KERNEL: tl.constexpr, CAUSAL: tl.constexpr, HAS_RPB: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """``dk`` and ``dv`` per key tile; ``DO``, ``DK`` and ``DV`` share the ``stride_g*`` strides."""
    batch, head, group, first, group_len = _program_tile(heads, length, dilation, tiles_per_group, BLOCK_N)

    kpos = first + tl.arange(0, BLOCK_N)
    col_ok = kpos < group_len
    dims = tl.arange(0, BLOCK_D)
    dim_ok = dims < head_dim
    kv_mask = col_ok[:, None] & dim_ok[None, :]
    key_token = (kpos * dilation + group)[:, None]
    k = tl.load(K + batch * stride_kb + head * stride_kh + key_token * stride_kn + dims[None, :],
                mask=kv_mask, other=0.0)
    v = tl.load(V + batch * stride_vb + head * stride_vh + key_token * stride_vn + dims[None, :],
                mask=kv_mask, other=0.0)
    q_base = Q + batch * stride_qb + head * stride_qh
    g_base = batch * stride_gb + head * stride_gh
    row_base = (batch * heads + head) * length

    lo, hi = _query_range(first, tl.minimum(first + BLOCK_N, group_len) - 1, group_len, KERNEL, CAUSAL)
    hi = tl.where(first < group_len, hi, lo)

    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    for query0 in range(lo, hi, BLOCK_M):
        pos = query0 + tl.arange(0, BLOCK_M)
        row_ok = pos < hi
        q_mask = row_ok[:, None] & dim_ok[None, :]
        token = pos * dilation + group
        q = tl.load(q_base + token[:, None] * stride_qn + dims[None, :], mask=q_mask, other=0.0)
        do = tl.load(DO + g_base + token[:, None] * stride_gn + dims[None, :], mask=q_mask, other=0.0)
        lse = tl.load(LSE + row_base + token, mask=row_ok, other=0.0)
        delta = tl.load(DELTA + row_base + token, mask=row_ok, other=0.0)
        start, end = _window(pos, group_len, KERNEL, CAUSAL)
        allowed = (row_ok[:, None] & col_ok[None, :] & (kpos[None, :] >= start[:, None])
                   & (kpos[None, :] < end[:, None]))
        s = _logits(q, k, RPB, head, pos, kpos, allowed, qk_scale, KERNEL, HAS_RPB)
        p = tl.where(allowed, tl.exp2(s - lse[:, None]), 0.0)
        dv += tl.dot(tl.trans(p).to(do.dtype), do, input_precision="ieee")
        dp = tl.dot(do, tl.trans(v), input_precision="ieee")
        ds = p * (dp - delta[:, None])
        dk += tl.dot(tl.trans(ds).to(q.dtype), q, input_precision="ieee")
    out_offset = g_base + key_token * stride_gn + dims[None, :]
    tl.store(DK + out_offset, (dk * sm_scale).to(DK.dtype.element_ty), mask=kv_mask)
    tl.store(DV + out_offset, dv.to(DV.dtype.element_ty), mask=kv_mask)


def _interpreted() -> bool:
    """Whether this module's kernels were built for Triton's CPU interpreter (``TRITON_INTERPRET=1`` at import)."""
    return not isinstance(_fwd_kernel, triton.runtime.JITFunction)


def _check_inputs(q: Tensor, k: Tensor, v: Tensor, rpb: Tensor | None) -> None:
    if q.dtype not in SUPPORTED_DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"backend='triton' supports q, k, v of one dtype among float16, bfloat16 and float32; "
                        f"got {q.dtype}, {k.dtype}, {v.dtype} (use backend='torch' for other dtypes)")
    if rpb is not None and not rpb.is_floating_point():
        raise TypeError(f"rpb must be a floating-point tensor, got {rpb.dtype}")
    devices = {t.device for t in (q, k, v, rpb) if t is not None}
    if len(devices) != 1:
        raise ValueError(f"q, k, v and rpb must be on one device, got {sorted(map(str, devices))}")
    if q.device.type == "cuda" or (q.device.type == "cpu" and _interpreted()):
        return
    if q.device.type == "cpu":
        raise RuntimeError(
            "backend='triton' got CPU tensors: Triton kernels run on CUDA GPUs. To run them on CPU (slowly, "
            "for testing) set TRITON_INTERPRET=1 in the environment before ecgformer.ops.triton_backend is "
            "first imported (Triton reads it when the kernels are defined); otherwise use backend='torch'.")
    raise RuntimeError(f"backend='triton' needs CUDA tensors, got device {q.device}; use backend='torch'")


def _launch_config(group_len: int, kernel_size: int, head_dim: int, block_m: int | None,
                   block_n: int | None) -> tuple[int, int, int]:
    """``(BLOCK_M, BLOCK_N, BLOCK_D)``: powers of two >= 16 (the minimum ``tl.dot`` size)."""
    block_d = max(16, triton.next_power_of_2(head_dim))
    cap = 64 if block_d <= 128 else 32
    block_m = block_m or min(cap, max(16, triton.next_power_of_2(group_len)))
    block_n = block_n or min(cap, max(16, triton.next_power_of_2(block_m + kernel_size - 1)))
    for name, value in (("block_m", block_m), ("block_n", block_n)):
        if value < 16 or value & (value - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {value}")
    return block_m, block_n, block_d


def _bhn_strides(x: Tensor) -> tuple[int, int, int]:
    return x.stride(0), x.stride(1), x.stride(2)


def _last_dim_contiguous(x: Tensor) -> Tensor:
    return x if x.stride(-1) == 1 else x.contiguous()


class _TritonLocalAttention(torch.autograd.Function):
    """Autograd wrapper around the forward and the two backward kernels."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, q: Tensor, k: Tensor, v: Tensor, rpb: Tensor | None,
                kernel_size: int, dilation: int, causal: bool, blocks: tuple[int, int, int]) -> Tensor:
        batch, heads, length, head_dim = q.shape
        block_m, block_n, block_d = blocks
        tiles_per_group = triton.cdiv(triton.cdiv(length, dilation), block_m)
        out = torch.empty((batch, heads, length, head_dim), dtype=q.dtype, device=q.device)
        lse = torch.empty((batch, heads, length), dtype=torch.float32, device=q.device)
        rpb_arg = rpb.contiguous() if rpb is not None else q
        grid = (batch * heads * dilation * tiles_per_group,)
        _fwd_kernel[grid](q, k, v, out, lse, rpb_arg, *_bhn_strides(q), *_bhn_strides(k), *_bhn_strides(v),
                          *_bhn_strides(out), heads, length, head_dim, dilation, tiles_per_group,
                          head_dim ** -0.5 * _LOG2E, KERNEL=kernel_size, CAUSAL=causal, HAS_RPB=rpb is not None,
                          BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d)
        ctx.save_for_backward(q, k, v, rpb_arg if rpb is not None else None, out, lse)
        ctx.geometry = (kernel_size, dilation, causal, blocks)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, rpb, out, lse = ctx.saved_tensors
        kernel_size, dilation, causal, (block_m, block_n, block_d) = ctx.geometry
        batch, heads, length, head_dim = q.shape
        grad_out = grad_out.contiguous()
        delta = (grad_out.float() * out.float()).sum(-1)
        dq, dk, dv = (torch.empty_like(grad_out) for _ in range(3))
        rpb_grad = rpb is not None and ctx.needs_input_grad[3]
        dbias = (torch.zeros((batch, heads, length, 2 * kernel_size - 1), dtype=torch.float32, device=q.device)
                 if rpb_grad else lse)
        common = (*_bhn_strides(q), *_bhn_strides(k), *_bhn_strides(v), *_bhn_strides(grad_out),
                  heads, length, head_dim, dilation)
        scales = (head_dim ** -0.5 * _LOG2E, head_dim ** -0.5)
        flags = dict(KERNEL=kernel_size, CAUSAL=causal, HAS_RPB=rpb is not None, BLOCK_D=block_d)
        rpb_arg = rpb if rpb is not None else q
        per_group = triton.cdiv(length, dilation)
        query_tiles = triton.cdiv(per_group, block_m)
        _bwd_dq_kernel[(batch * heads * dilation * query_tiles,)](
            q, k, v, grad_out, lse, delta, rpb_arg, dq, dbias, *common, query_tiles, *scales,
            RPB_GRAD=rpb_grad, BLOCK_M=block_m, BLOCK_N=block_n, **flags)
        key_tiles = triton.cdiv(per_group, block_n)
        _bwd_dkdv_kernel[(batch * heads * dilation * key_tiles,)](
            q, k, v, grad_out, lse, delta, rpb_arg, dk, dv, *common, key_tiles, *scales,
            BLOCK_M=block_m, BLOCK_N=block_n, **flags)
        drpb = dbias.sum((0, 2)).to(rpb.dtype) if rpb_grad else None
        return dq, dk, dv, drpb, None, None, None, None


def triton_local_attention(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int, causal: bool,
                           rpb: Tensor | None, *, block_m: int | None = None,
                           block_n: int | None = None) -> Tensor:
    """Neighborhood attention through the fused Triton kernels; differentiable in q, k, v and rpb.

    Arguments are those of :func:`ecgformer.ops.local_attention` (already validated there); q, k, v share
    one dtype among float16, bfloat16, float32 and live on a CUDA device (or on CPU under
    ``TRITON_INTERPRET=1``). ``block_m`` / ``block_n`` override the query / key tile sizes (powers of two
    >= 16; default: up to 64, smaller for short groups).
    """
    _check_inputs(q, k, v, rpb)
    q, k, v = (_last_dim_contiguous(t) for t in (q, k, v))
    blocks = _launch_config(triton.cdiv(q.shape[2], dilation), kernel_size, q.shape[3], block_m, block_n)
    return _TritonLocalAttention.apply(q, k, v, rpb, kernel_size, dilation, causal, blocks)
