"""local_attention backends against a brute-force reference written here from the definition."""

from __future__ import annotations

import itertools
import sys
import types
from collections import OrderedDict

import pytest
import torch

from ecgformer.ops import local_attention
from ecgformer.ops import flex_backend
from ecgformer.ops.local_attention import select_backend

local_attention_module = sys.modules["ecgformer.ops.local_attention"]

LENGTHS = (1, 2, 7, 64, 257, 1000)
KERNELS = (1, 3, 5, 9, 17, 33, 65)
DILATIONS = (1, 2, 3, 5, 8)


def neighbours(length: int, kernel_size: int, dilation: int, causal: bool) -> list[list[int]]:
    """For every token, the token indices it attends to, by the definition (explicit loops)."""
    result = []
    for i in range(length):
        group = list(range(i % dilation, length, dilation))
        p = i // dilation
        if causal:
            window = range(max(0, p - kernel_size + 1), p + 1)
        elif len(group) <= kernel_size:
            window = range(len(group))
        else:
            start = min(max(p - kernel_size // 2, 0), len(group) - kernel_size)
            window = range(start, start + kernel_size)
        result.append([group[j] for j in window])
    return result


def brute_force(q, k, v, kernel_size, dilation, causal, rpb):
    """Dense float64 attention with a mask (and bias) filled pair by pair from :func:`neighbours`."""
    length, dim = q.shape[2], q.shape[3]
    pairs = [(i, j) for i, keys in enumerate(neighbours(length, kernel_size, dilation, causal)) for j in keys]
    rows, cols = torch.tensor(pairs).T
    bias = torch.full((q.shape[1], length, length), float("-inf"), dtype=torch.float64)
    offsets = (cols - rows) // dilation + kernel_size - 1  # key - query in group steps
    bias[:, rows, cols] = 0.0 if rpb is None else rpb[:, offsets].double()
    logits = q.double() @ k.double().transpose(-1, -2) * dim ** -0.5 + bias
    return logits.softmax(-1) @ v.double()


def make_inputs(length, kernel_size, with_rpb, seed=0, batch=2, heads=2, dim=8):
    gen = torch.Generator().manual_seed(seed + 7919 * length + kernel_size)
    q, k, v = (torch.randn(batch, heads, length, dim, generator=gen) for _ in range(3))
    rpb = torch.randn(heads, 2 * kernel_size - 1, generator=gen) if with_rpb else None
    return q, k, v, rpb


CASES = [
    pytest.param(n, ks, d, causal, rpb, id=f"N{n}-K{ks}-d{d}-{'causal' if causal else 'full'}-{'rpb' if rpb else 'norpb'}")
    for n, ks, d, causal, rpb in itertools.product(LENGTHS, KERNELS, DILATIONS, (False, True), (False, True))
    # the long sequence only with a subset of kernels to keep CI time in check
    if n < 1000 or ks in (1, 9, 65)
]


@pytest.mark.parametrize("backend", ["torch", "reference"])
@pytest.mark.parametrize("length,kernel_size,dilation,causal,with_rpb", CASES)
def test_matches_brute_force(backend, length, kernel_size, dilation, causal, with_rpb):
    q, k, v, rpb = make_inputs(length, kernel_size, with_rpb)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)] + ([rpb.clone().requires_grad_()] if with_rpb else [])
    out = local_attention(*leaves[:3], kernel_size, dilation, causal, leaves[3] if with_rpb else None,
                          backend=backend, block_size=16 if backend == "torch" else None)
    ref_leaves = [t.double().requires_grad_() for t in (q, k, v)] + ([rpb.double().requires_grad_()] if with_rpb else [])
    ref = brute_force(*ref_leaves[:3], kernel_size, dilation, causal, ref_leaves[3] if with_rpb else None)
    torch.testing.assert_close(out.double(), ref.detach(), atol=1e-5, rtol=1e-5)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    out.backward(grad_out)
    ref.backward(grad_out.double())
    for name, leaf, ref_leaf in zip("qkvr", leaves, ref_leaves):
        torch.testing.assert_close(leaf.grad.double(), ref_leaf.grad, atol=1e-5, rtol=1e-5, msg=f"grad {name}")


@pytest.mark.parametrize("block_size", [1, 8, 32, 100])
def test_torch_backend_block_size_does_not_change_result(block_size):
    q, k, v, rpb = make_inputs(300, 33, True)
    ref = brute_force(q, k, v, 33, 3, False, rpb)
    out = local_attention(q, k, v, 33, 3, False, rpb, backend="torch", block_size=block_size)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


def _eager_flex():
    from torch.nn.attention.flex_attention import flex_attention
    return flex_attention


FLEX_CASES = [c for c in CASES if c.values[0] <= 257]


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("length,kernel_size,dilation,causal,with_rpb", FLEX_CASES)
def test_flex_mask_and_bias_match_brute_force(monkeypatch, length, kernel_size, dilation, causal, with_rpb):
    """The flex backend's mask_mod / score_mod, through FlexAttention's eager path (no compile per case)."""
    monkeypatch.setattr(flex_backend, "_compiled_flex", _eager_flex)
    q, k, v, rpb = make_inputs(length, kernel_size, with_rpb)
    with torch.no_grad():
        out = local_attention(q, k, v, kernel_size, dilation, causal, rpb, backend="flex")
    torch.testing.assert_close(out.double(), brute_force(q, k, v, kernel_size, dilation, causal, rpb),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length,kernel_size,dilation,causal,with_rpb",
                         [(1, 3, 1, False, False), (257, 65, 1, False, True), (1000, 9, 8, True, False),
                          (1000, 65, 4, False, True)])
def test_flex_compiled_forward_matches_brute_force(length, kernel_size, dilation, causal, with_rpb):
    q, k, v, rpb = make_inputs(length, kernel_size, with_rpb)
    with torch.no_grad():
        out = local_attention(q, k, v, kernel_size, dilation, causal, rpb, backend="flex")
    torch.testing.assert_close(out.double(), brute_force(q, k, v, kernel_size, dilation, causal, rpb),
                               atol=1e-5, rtol=1e-5)


def test_flex_refuses_cpu_backward():
    q, k, v, _ = make_inputs(16, 3, False)
    with pytest.raises(RuntimeError, match="no CPU backward"):
        local_attention(q.requires_grad_(), k, v, 3, backend="flex")


def test_auto_uses_torch_on_cpu_for_training_and_inference():
    q, k, v, rpb = make_inputs(100, 9, True)
    ref = brute_force(q, k, v, 9, 2, False, rpb)
    with torch.no_grad():
        torch.testing.assert_close(local_attention(q, k, v, 9, 2, rpb=rpb).double(), ref, atol=1e-5, rtol=1e-5)
    out = local_attention(q.requires_grad_(), k, v, 9, 2, rpb=rpb)
    out.sum().backward()
    assert q.grad is not None


@pytest.mark.parametrize("kwargs,match", [
    ({"kernel_size": 4}, r"^kernel_size must be an odd int >= 1, got 4$"),
    ({"kernel_size": 0}, r"^kernel_size must be an odd int >= 1, got 0$"),
    ({"kernel_size": -3}, r"^kernel_size must be an odd int >= 1, got -3$"),
    ({"kernel_size": 3.0}, r"^kernel_size must be an odd int >= 1, got 3.0$"),
    ({"dilation": 0}, r"^dilation must be an int >= 1, got 0$"),
    ({"dilation": 1.5}, r"^dilation must be an int >= 1, got 1.5$"),
    ({"rpb": torch.zeros(2, 4)}, r"^rpb must have shape \(heads, 2 \* kernel_size - 1\) = \(2, 5\), got \(2, 4\)$"),
    ({"rpb": torch.zeros(3, 5)}, r"^rpb must have shape \(heads, 2 \* kernel_size - 1\) = \(2, 5\), got \(3, 5\)$"),
    ({"rpb": [[0.0] * 5] * 2}, r"^rpb must have shape \(heads, 2 \* kernel_size - 1\) = \(2, 5\), got list$"),
    ({"k": torch.zeros(2, 2, 9, 8)}, "same shape"),
    ({"v": torch.zeros(2, 2, 10, 4)}, "same shape"),
    ({"q": torch.zeros(2, 10, 8), "k": torch.zeros(2, 10, 8), "v": torch.zeros(2, 10, 8)}, "q must be a 4-D"),
    ({"backend": "cuda-magic"}, "backend"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    args = {"q": torch.zeros(2, 2, 10, 8), "k": torch.zeros(2, 2, 10, 8), "v": torch.zeros(2, 2, 10, 8),
            "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        local_attention(**args)


def test_auto_uses_the_gpu_backend_on_cuda_only():
    """The rule of select_backend, on a stand-in for a CUDA tensor (it reads only the device)."""
    assert select_backend(torch.empty(2)) == "torch"
    assert select_backend(types.SimpleNamespace(device=torch.device("cuda"))) == "flex"


@pytest.mark.parametrize("backend", ["torch", "reference"])
@pytest.mark.parametrize("with_rpb", [False, True])
def test_output_keeps_the_inputs_device_and_dtype(backend, with_rpb):
    """Index and mask tensors are made on the inputs' device (the meta device stands in for a GPU: mixing it with
    CPU tensors fails), and a float32 bias table does not promote bfloat16 attention."""
    rpb = torch.randn(2, 9, device="meta") if with_rpb else None
    q = torch.empty(1, 2, 50, 8, device="meta")
    out = local_attention(q, q, q, 5, 2, rpb=rpb, backend=backend, block_size=16)
    assert out.device.type == "meta" and out.shape == q.shape
    q = torch.randn(1, 2, 50, 8, dtype=torch.bfloat16)
    rpb = torch.randn(2, 9) if with_rpb else None
    assert local_attention(q, q, q, 5, 2, rpb=rpb, backend=backend).dtype == torch.bfloat16


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_a_single_token_attends_to_itself(backend):
    """N = 1: the softmax over one key is 1, so the output is the value (with or without a bias)."""
    q, k, v = (torch.randn(2, 3, 1, 4) for _ in range(3))
    torch.testing.assert_close(local_attention(q, k, v, 5, 2, rpb=torch.randn(3, 9), backend=backend), v)


@pytest.mark.parametrize("module_name,function_name,backend", [
    ("ecgformer.ops.flex_backend", "flex_local_attention", "flex"),
    ("ecgformer.ops.triton_backend", "triton_local_attention", "triton")])
def test_gpu_backends_receive_every_argument(monkeypatch, module_name, function_name, backend):
    """The GPU backends (stand-ins here: they need CUDA) get the arguments in their order and their output is
    returned as is."""
    calls = []
    stub = types.ModuleType(module_name)
    setattr(stub, function_name, lambda *args: calls.append(args) or "output")
    monkeypatch.setitem(sys.modules, module_name, stub)
    q, k, v, rpb = torch.zeros(1, 2, 5, 4), torch.ones(1, 2, 5, 4), torch.full((1, 2, 5, 4), 2.0), torch.zeros(2, 5)
    assert local_attention(q, k, v, 3, 2, True, rpb, backend=backend) == "output"
    assert len(calls) == 1 and calls[0][:3] == (q, k, v) and calls[0][3:6] == (3, 2, True) and calls[0][6] is rpb


@pytest.mark.parametrize("args,message", [
    (lambda q: (q, q[0], q), r"^k must be a 4-D tensor \(B, H, N, D\), got \(2, 5, 4\)$"),
    (lambda q: (q, q, [1.0]), r"^v must be a 4-D tensor \(B, H, N, D\), got list$"),
    (lambda q: (q[:, :, :0], q[:, :, :0], q[:, :, :0]), r"^q must hold at least one token \(N >= 1\)$")])
def test_bad_tensors_are_named_with_their_shape(args, message):
    with pytest.raises(ValueError, match=message):
        local_attention(*args(torch.zeros(1, 2, 5, 4)), 3)


def test_block_plans_are_cached_least_recently_used_first(monkeypatch):
    """One plan per (length, kernel, dilation, causal, block, device); the cache keeps the 64 most recently used."""
    monkeypatch.setattr(local_attention_module, "_PLAN_CACHE", type(local_attention_module._PLAN_CACHE)())
    cache = local_attention_module._PLAN_CACHE
    q = torch.randn(1, 1, 10, 4)
    local_attention(q, q, q, 3, block_size=4)
    first = next(iter(cache))
    assert first == (10, 3, 1, False, 4, "cpu") and len(cache) == 1
    plan = cache[first]
    local_attention(q, q, q, 3, block_size=4)
    assert len(cache) == 1 and cache[first] is plan  # reused, not rebuilt
    for length in range(11, 11 + 63):  # 63 more plans: 64 in all, the first still there
        local_attention(q[:, :, :1].expand(1, 1, length, 4), q[:, :, :1].expand(1, 1, length, 4),
                        q[:, :, :1].expand(1, 1, length, 4), 3, block_size=4)
    assert len(cache) == 64 and first in cache
    local_attention(q, q, q, 3, block_size=4)  # used again: now the most recent
    local_attention(q[:, :, :2], q[:, :, :2], q[:, :, :2], 3, block_size=4)  # a 65th plan evicts the oldest, length 11
    assert len(cache) == 64 and first in cache and (11, 3, 1, False, 4, "cpu") not in cache


def test_traced_calls_build_their_plan_and_leave_the_cache_alone(monkeypatch):
    """Under tracing (torch.jit.trace here; export and compilation likewise) a plan holds traced tensors: it is
    built for the call and never cached, and the traced function still follows the definition."""
    monkeypatch.setattr(local_attention_module, "_PLAN_CACHE", OrderedDict())
    q, k, v, rpb = make_inputs(21, 5, True)
    traced = torch.jit.trace(
        lambda q, k, v: local_attention(q, k, v, 5, 3, True, rpb, backend="torch", block_size=4), (q, k, v),
        check_trace=False)  # the check re-runs the function untraced, which caches as any eager call does
    assert len(local_attention_module._PLAN_CACHE) == 0
    torch.testing.assert_close(traced(q, k, v).double(), brute_force(q, k, v, 5, 3, True, rpb),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("tracing", [False, True])
def test_block_plans_are_made_on_the_inputs_device(monkeypatch, tracing):
    """Every index and mask tensor of a plan, cached or built under tracing, is on the inputs' device (the meta
    device stands in for a GPU, where index_select with a CPU index fails; meta accepts it)."""
    plans = []
    build = local_attention_module._block_plan
    monkeypatch.setattr(local_attention_module, "_block_plan", lambda *args: plans.append(build(*args)) or plans[-1])
    monkeypatch.setattr(local_attention_module, "_PLAN_CACHE", OrderedDict())
    monkeypatch.setattr(local_attention_module, "_is_tracing", lambda: tracing)
    q = torch.empty(1, 2, 50, 8, device="meta")
    local_attention(q, q, q, 5, 2, backend="torch", block_size=16)
    assert len(plans) == 1 and [t.device.type for t in plans[0]] == ["meta"] * len(plans[0])


@pytest.mark.parametrize("backend", ["torch", "reference"])
@pytest.mark.parametrize("with_rpb", [False, True])
def test_attention_runs_in_the_inputs_dtype(monkeypatch, backend, with_rpb):
    """SDPA gets a boolean mask or an additive one in the query's dtype (GPU kernels take no other), so a float32
    bias table acts as its bfloat16 rounding: biases 256 and 257 round to the same bfloat16 value."""
    masks = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *args, attn_mask: masks.append(attn_mask) or sdpa(*args, attn_mask=attn_mask))
    q, k, v, _ = (t.bfloat16() if t is not None else None for t in make_inputs(12, 3, False))
    rpb = torch.tensor([[256.0, 257.0, 256.0, 257.0, 256.0]]).expand(2, 5) if with_rpb else None
    out = local_attention(q, k, v, 3, rpb=rpb, backend=backend, block_size=4)
    assert masks and all(mask.dtype in (torch.bool, torch.bfloat16) for mask in masks)
    if with_rpb:
        rounded = local_attention(q, k, v, 3, rpb=rpb.bfloat16(), backend=backend, block_size=4)
        torch.testing.assert_close(out, rounded, atol=0, rtol=0)
