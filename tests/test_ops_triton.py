"""The Triton backend of ``local_attention`` against an independent per-query loop.

Triton decides at kernel definition (module import) whether to build for the GPU or for its CPU
interpreter, so the kernel checks run in one subprocess, this file executed as a script with
``TRITON_INTERPRET=1``; the pytest process only reads its results. Shapes are tiny: the interpreter is
about 1000x slower than torch.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (pip install 'ecgformer[triton]')")

# (N, kernel_size, dilation, causal, rpb, head_dim, batch, block): block None = the backend's default tiles,
# 16 = the smallest tiles, so that N=40 spans several query and key tiles. All (N, K, dilation, causal)
# combinations; rpb, head_dim, batch and block alternate so that every N meets every dilation with both
# block choices and every (N, causal, rpb) meets both block choices.
_N, _K, _DILATION = (1, 5, 13, 40), (1, 3, 7, 9), (1, 2, 3)
CASES = [
    (_N[n], _K[k], _DILATION[d], bool(c), (k + d + c) % 2 == 0, (8, 16)[(n + k) % 2], 1 + (n + d) % 2,
     (None, 16)[(k // 2 + d + c) % 2])
    for n, k, d, c in itertools.product(range(4), range(4), range(3), range(2))
]
# (dtype, N, kernel_size, dilation, causal) in half precision, tolerance relative to the largest value.
# bfloat16 is checked on CUDA only: Triton 3.9's interpreter multiplies bfloat16 dot operands as raw bits.
HALF_CASES = [("float16", 40, 7, 2, False), ("float16", 13, 9, 1, True)]
HALF_TOLERANCE = {"float16": 5e-3, "bfloat16": 3e-2}
HEADS = 2
TOLERANCE = 1e-5


def case_id(case: tuple) -> str:
    n, ks, dil, causal, rpb, dim, batch, block = case
    return f"N{n}-K{ks}-d{dil}-{'causal' if causal else 'full'}-{'rpb' if rpb else 'norpb'}-D{dim}-B{batch}-blk{block}"


def dtype_case_id(case: tuple) -> str:
    return "-".join(map(str, case))


def loop_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel_size: int, dilation: int,
                   causal: bool, rpb: torch.Tensor | None) -> torch.Tensor:
    """Neighborhood attention from its definition (differentiable).

    A loop over queries lists each query's keys and bias offsets; the attention itself is one dense masked
    softmax over those lists.
    """
    length, dim = q.shape[2], q.shape[3]
    allowed = torch.zeros(length, length, dtype=torch.bool)
    offsets = torch.zeros(length, length, dtype=torch.long)
    for i in range(length):
        position = i // dilation
        members = list(range(i % dilation, length, dilation))  # tokens of the query's group, in order
        if causal:  # itself and the kernel_size - 1 nearest earlier keys
            window = [j for j in range(len(members)) if j <= position][-kernel_size:]
        else:  # the kernel_size nearest keys (all of them when the group is shorter)
            window = sorted(range(len(members)), key=lambda j: abs(j - position))[:kernel_size]
        for j in window:
            allowed[i, members[j]] = True
            offsets[i, members[j]] = j - position + kernel_size - 1
    allowed, offsets = allowed.to(q.device), offsets.to(q.device)
    logits = q @ k.transpose(-1, -2) * dim ** -0.5
    if rpb is not None:
        logits = logits + rpb[:, offsets]
    return logits.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def _excess(actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> float:
    """``max(|actual - expected| - rtol * |expected|) - atol``: <= 0 when within tolerance."""
    return ((actual.double() - expected).abs() - rtol * expected.abs()).max().item() - atol


def _compare(inputs: list[torch.Tensor], kernel_size: int, dilation: int, causal: bool, has_rpb: bool,
             dtype: torch.dtype, tolerance: float, **blocks: int | None) -> dict[str, float]:
    """Excess errors (:func:`_excess`) of the output and the gradients: ``rtol = tolerance`` and
    ``atol = tolerance`` in fp32, ``tolerance * max|expected|`` in half precision."""
    from ecgformer.ops.triton_backend import triton_local_attention

    kernel_args = [t.to(dtype).requires_grad_() for t in inputs]
    reference_args = [t.detach().double().requires_grad_() for t in kernel_args]
    rpb_kernel = kernel_args[3] if has_rpb else None
    rpb_reference = reference_args[3] if has_rpb else None
    out = triton_local_attention(*kernel_args[:3], kernel_size, dilation, causal, rpb_kernel, **blocks)
    expected = loop_reference(*reference_args[:3], kernel_size, dilation, causal, rpb_reference)
    weight = torch.randn_like(expected)
    (out * weight.to(dtype)).sum().backward()
    (expected * weight).sum().backward()
    pairs = [("out", out, expected)] + [(f"grad_{name}", a.grad, b.grad) for name, a, b in
                                        zip(("q", "k", "v", "rpb"), kernel_args, reference_args)]
    return {name: _excess(a, b, tolerance, tolerance * (1.0 if dtype == torch.float32 else b.abs().max().item()))
            for name, a, b in pairs}


def _inputs(batch: int, length: int, dim: int, kernel_size: int, has_rpb: bool,
            device: str = "cpu") -> list[torch.Tensor]:
    tensors = [torch.randn(batch, HEADS, length, dim, device=device) for _ in range(3)]
    return tensors + ([torch.randn(HEADS, 2 * kernel_size - 1, device=device)] if has_rpb else [])


def _run_interpreted_checks() -> dict[str, dict[str, float]]:
    """Every check that needs the kernels; run only in the ``TRITON_INTERPRET=1`` subprocess."""
    from ecgformer.ops import local_attention

    results = {}
    for case in CASES:
        n, ks, dil, causal, rpb, dim, batch, block = case
        torch.manual_seed(len(results))
        results[case_id(case)] = _compare(_inputs(batch, n, dim, ks, rpb), ks, dil, causal, rpb, torch.float32,
                                          TOLERANCE, block_m=block, block_n=block)
    for half_case in HALF_CASES:
        dtype_name, n, ks, dil, causal = half_case
        torch.manual_seed(0)
        results[dtype_case_id(half_case)] = _compare(_inputs(2, n, 16, ks, True), ks, dil, causal, True,
                                       getattr(torch, dtype_name), HALF_TOLERANCE[dtype_name])

    # non-contiguous (B, N, H, D) -> (B, H, N, D) views, a frozen rpb, and dispatch through local_attention
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 23, HEADS, 8).transpose(1, 2).requires_grad_() for _ in range(3))
    rpb = torch.randn(HEADS, 9)
    out = local_attention(q, k, v, 5, 2, False, rpb, backend="triton")
    expected = loop_reference(q, k, v, 5, 2, False, rpb)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    expected_grads = torch.autograd.grad(expected.square().sum(), (q, k, v))
    results["strided-frozen-rpb"] = {
        name: _excess(a, b, TOLERANCE, TOLERANCE) for name, a, b in zip(("out", "grad_q", "grad_k", "grad_v"), (out, *grads), (expected, *expected_grads))}
    return results


@pytest.fixture(scope="module")
def interpreted_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    path = tmp_path_factory.mktemp("triton") / "results.json"
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(path)], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "TRITON_INTERPRET": "1"})
    if proc.returncode != 0:
        pytest.fail(f"interpreted Triton checks crashed (rc {proc.returncode}):\n{proc.stderr[-6000:]}")
    return json.loads(path.read_text())


def _assert_within(errors: dict[str, float]) -> None:
    failed = {name: error for name, error in errors.items() if not error <= 0}
    assert not failed, f"excess error over tolerance: {failed}"


@needs_triton
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fp32_matches_loop_reference(interpreted_results: dict, case: tuple) -> None:
    errors = interpreted_results[case_id(case)]
    assert set(errors) == {"out", "grad_q", "grad_k", "grad_v"} | ({"grad_rpb"} if case[4] else set())
    _assert_within(errors)


@needs_triton
@pytest.mark.parametrize("case", HALF_CASES, ids=dtype_case_id)
def test_half_precision_matches_loop_reference(interpreted_results: dict, case: tuple) -> None:
    _assert_within(interpreted_results[dtype_case_id(case)])


@needs_triton
def test_strided_inputs_frozen_rpb_through_dispatch(interpreted_results: dict) -> None:
    _assert_within(interpreted_results["strided-frozen-rpb"])


# (dtype, N, kernel_size, dilation, causal, rpb) at sizes the interpreter cannot afford
CUDA_CASES = [("float32", 257, 65, 4, False, True), ("float32", 1000, 33, 3, True, True),
              ("float32", 200, 7, 1, False, False), ("float16", 257, 17, 2, False, True),
              ("bfloat16", 257, 17, 2, True, True)]


@pytest.mark.skipif(not (HAS_TRITON and torch.cuda.is_available()), reason="needs triton and a CUDA GPU")
@pytest.mark.parametrize("case", CUDA_CASES, ids=dtype_case_id)
def test_cuda_matches_loop_reference(case: tuple) -> None:
    from ecgformer.ops.triton_backend import _interpreted

    dtype_name, n, ks, dil, causal, rpb = case
    if dtype_name == "bfloat16" and _interpreted():
        pytest.skip("Triton's interpreter has no bfloat16 dot")
    torch.manual_seed(0)
    tolerance = TOLERANCE if dtype_name == "float32" else HALF_TOLERANCE[dtype_name]
    _assert_within(_compare(_inputs(2, n, 32, ks, rpb, "cuda"), ks, dil, causal, rpb, getattr(torch, dtype_name),
                            tolerance))


def test_missing_triton_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgformer.ops import local_attention

    monkeypatch.setitem(sys.modules, "triton", None)
    monkeypatch.delitem(sys.modules, "ecgformer.ops.triton_backend", raising=False)
    q = torch.randn(1, 1, 4, 8)
    with pytest.raises(ImportError, match=r"pip install 'ecgformer\[triton\]'"):
        local_attention(q, q, q, 3, backend="triton")


@needs_triton
def test_cpu_tensors_without_interpreter_explain() -> None:
    from ecgformer.ops import triton_backend

    if triton_backend._interpreted():
        pytest.skip("this process was started with TRITON_INTERPRET=1")
    q = torch.randn(1, 1, 4, 8)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        triton_backend.triton_local_attention(q, q, q, 3, 1, False, None)


@needs_triton
def test_bad_dtype_and_tiles_rejected() -> None:
    from ecgformer.ops.triton_backend import _launch_config, triton_local_attention

    q = torch.randn(1, 1, 4, 8, dtype=torch.float64)
    with pytest.raises(TypeError, match="float64"):
        triton_local_attention(q, q, q, 3, 1, False, None)
    with pytest.raises(TypeError, match="rpb"):
        triton_local_attention(q.float(), q.float(), q.float(), 3, 1, False, torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="block_m"):
        _launch_config(40, 3, 8, 24, None)


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(_run_interpreted_checks(), indent=1))
