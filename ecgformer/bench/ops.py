"""``ecgformer bench ops``: local-attention backends side by side (time and peak memory).

Compared at B=8, H=4, D=32, kernel_size=65, dilation 1 and 4 and N in {1000, 2500, 5000, 10000}:
the blocked ``torch`` backend, ``auto``, dense masked SDPA (the ``reference`` backend), an unfold-based
implementation (below; the usual naive port) and compiled FlexAttention (forward without autograd, each
BLOCK_SIZE). The op's speed and memory targets (the ratios in ``_targets``) are checked and printed at the end.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops import local_attention
from ..ops.neighborhood import group_lengths, window_bounds
from .timing import (
    add_out_argument,
    bench_log,
    emit_result,
    machine_info,
    median_ms,
    peak_memory_mb,
)

__all__ = ["add_ops_parser", "run_ops_benchmark", "unfold_local_attention"]


def unfold_local_attention(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int = 1,
                           causal: bool = False) -> Tensor:
    """Naive ``local_attention`` (no rpb): every query's ``kernel_size`` keys materialised with ``unfold``.

    Memory O(N * K * D); kept as the baseline most 1D ports use. Dilation groups are made contiguous,
    keys padded so every window start in ``[0, L_g)`` can unfold, and each query picks its window.
    """
    batch, heads, length, dim = q.shape
    per_group = (length + dilation - 1) // dilation

    def groups(x: Tensor) -> Tensor:
        x = F.pad(x, (0, 0, 0, per_group * dilation - length))
        return x.view(batch, heads, per_group, dilation, dim).transpose(2, 3)

    position = torch.arange(per_group, device=q.device)
    lengths = group_lengths(length, dilation, q.device)[:, None]
    start, end = window_bounds(position[None], lengths, kernel_size, causal)  # (d, L)
    windows = start[None, None, :, :, None, None]

    def unfold(x: Tensor) -> Tensor:  # (B, H, d, L, K, D): the K keys of every query's window
        padded = F.pad(groups(x), (0, 0, 0, kernel_size))
        unfolded = padded.unfold(3, kernel_size, 1).transpose(-1, -2)[:, :, :, :per_group]
        return unfolded.gather(3, windows.expand(batch, heads, -1, -1, kernel_size, dim))

    keys, values = unfold(k), unfold(v)
    logits = torch.einsum("bhglc,bhglkc->bhglk", groups(q), keys) * dim ** -0.5
    key_position = start[..., None] + torch.arange(kernel_size, device=q.device)
    logits = logits.masked_fill(~(key_position < end[..., None]), float("-inf"))
    out = torch.einsum("bhglk,bhglkc->bhglc", logits.softmax(-1), values)
    return out.transpose(2, 3).reshape(batch, heads, per_group * dilation, dim)[:, :, :length]


def _forward_backward(fn: Callable[[Tensor, Tensor, Tensor], Tensor], q: Tensor, k: Tensor,
                      v: Tensor) -> Callable[[], None]:
    def run() -> None:
        for t in (q, k, v):
            t.grad = None
        fn(q, k, v).sum().backward()

    return run


def run_ops_benchmark(lengths: list[int], dilations: list[int], batch: int = 8, heads: int = 4, dim: int = 32,
                      kernel_size: int = 65, repeats: int = 5, flex_block_sizes: tuple[int, ...] = (32, 64),
                      max_dense_length: int = 10000, max_unfold_length: int = 5000, device: str = "cpu",
                      log: Callable[[str], None] = print) -> dict[str, object]:
    """Measure every implementation; return ``{"config", "machine", "rows", "targets"}``."""
    dev = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    cases = []
    for dilation in dilations:
        for length in lengths:
            inputs = tuple(torch.randn(batch, heads, length, dim, generator=generator).to(dev) for _ in range(3))
            for name, fn in _implementations(length, kernel_size, dilation, flex_block_sizes, max_dense_length,
                                             max_unfold_length).items():
                trainable = not (name.startswith("flex") and dev.type == "cpu") and name != "auto"
                cases.append(({"impl": name, "N": length, "dilation": dilation}, fn, inputs, trainable))
    # all timings first: memory measurement changes malloc's behaviour (see timing.py)
    for row, fn, (q, k, v), trainable in cases:
        with torch.no_grad():
            row["fwd_ms"] = median_ms(lambda: fn(q, k, v), repeats, device=dev)
        if trainable:
            grads = tuple(t.clone().requires_grad_() for t in (q, k, v))
            row["fwd_bwd_ms"] = median_ms(_forward_backward(fn, *grads), repeats, device=dev)
        log(_format_row(row, memory=False))
    for row, fn, (q, k, v), trainable in cases:
        with torch.no_grad():
            row["fwd_peak_mb"] = peak_memory_mb(lambda: fn(q, k, v), dev)
        if trainable:
            grads = tuple(t.clone().requires_grad_() for t in (q, k, v))
            step = _forward_backward(fn, *grads)
            step()
            row["fwd_bwd_peak_mb"] = peak_memory_mb(step, dev)
    rows = [row for row, *_ in cases]
    log("peak memory (MiB above the inputs):")
    for row in rows:
        log(_format_row(row, memory=True))
    result = {
        "benchmark": "ops",
        "config": {"batch": batch, "heads": heads, "dim": dim, "kernel_size": kernel_size, "repeats": repeats,
                   "device": device},
        "machine": machine_info(),
        "rows": rows,
    }
    result["targets"] = _targets(rows)
    return result


def _implementations(length: int, kernel_size: int, dilation: int, flex_block_sizes: tuple[int, ...],
                     max_dense_length: int, max_unfold_length: int
                     ) -> dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]]:
    impls: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
        "torch": lambda q, k, v: local_attention(q, k, v, kernel_size, dilation, backend="torch"),
        "auto": lambda q, k, v: local_attention(q, k, v, kernel_size, dilation, backend="auto"),
    }
    if length <= max_dense_length:
        impls["dense_sdpa"] = lambda q, k, v: local_attention(q, k, v, kernel_size, dilation, backend="reference")
    if length <= max_unfold_length:
        impls["unfold"] = lambda q, k, v: unfold_local_attention(q, k, v, kernel_size, dilation)
    for size in flex_block_sizes:
        impls[f"flex_bs{size}"] = lambda q, k, v, size=size: _flex(q, k, v, kernel_size, dilation, size)
    return impls


def _flex(q: Tensor, k: Tensor, v: Tensor, kernel_size: int, dilation: int, block_size: int) -> Tensor:
    from ..ops.flex_backend import flex_local_attention
    return flex_local_attention(q, k, v, kernel_size, dilation, False, None, block_size=block_size)


def _format_row(row: dict[str, object], memory: bool) -> str:
    def fmt(key: str) -> str:
        value = row.get(key)
        return f"{value:9.1f}" if isinstance(value, float) else f"{'-':>9}"

    head = f"{row['impl']:<11} N={row['N']:<6} d={row['dilation']:<2}"
    if memory:
        return f"{head} peak fwd {fmt('fwd_peak_mb')} MiB  peak fwd+bwd {fmt('fwd_bwd_peak_mb')} MiB"
    return f"{head} fwd {fmt('fwd_ms')} ms  fwd+bwd {fmt('fwd_bwd_ms')} ms"


def _lookup(rows: list[dict[str, object]], impl: str, length: int, dilation: int, key: str) -> float | None:
    for row in rows:
        if row["impl"] == impl and row["N"] == length and row["dilation"] == dilation:
            value = row.get(key)
            return float(value) if value is not None else None
    return None


def _targets(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The local-attention op's speed and memory targets at N=5000 (10000 for memory), per dilation measured."""
    targets = []
    for dilation in sorted({int(r["dilation"]) for r in rows}):
        def get(impl: str, key: str, length: int = 5000) -> float | None:
            return _lookup(rows, impl, length, dilation, key)

        flex = [get(impl, "fwd_ms") for impl in {str(r["impl"]) for r in rows} if impl.startswith("flex")]
        flex_best = min((f for f in flex if f is not None), default=None)

        def ratio(name: str, num: float | None, den: float | None, limit: float, larger: bool) -> None:
            if num is None or den is None:
                return
            value = num / den
            ok = value >= limit if larger else value <= limit
            targets.append({"target": name, "dilation": dilation, "value": round(value, 3),
                            "limit": limit, "met": ok})

        ratio("dense fwd+bwd / torch fwd+bwd at N=5000 (>= 5)", get("dense_sdpa", "fwd_bwd_ms"),
              get("torch", "fwd_bwd_ms"), 5.0, True)
        ratio("auto fwd / best flex fwd at N=5000 (<= 1.1)", get("auto", "fwd_ms"), flex_best, 1.1, False)
        ratio("torch fwd / best flex fwd at N=5000 (<= 2)", get("torch", "fwd_ms"), flex_best, 2.0, False)
        ratio("torch peak fwd+bwd N=10000 / N=5000 (<= 2.2)", get("torch", "fwd_bwd_peak_mb", 10000),
              get("torch", "fwd_bwd_peak_mb"), 2.2, False)
    return targets


def _run(args: argparse.Namespace) -> int:
    lengths = [1000, 2500] if args.quick else args.lengths
    result = run_ops_benchmark(lengths, args.dilations, repeats=2 if args.quick else args.repeats,
                               max_dense_length=args.max_dense_length, max_unfold_length=args.max_unfold_length,
                               device=args.device, log=bench_log(args))
    emit_result(result, args)
    if not args.json:
        for target in result["targets"]:
            status = "met" if target["met"] else "NOT MET"
            print(f"target d={target['dilation']}: {target['target']}: {target['value']} ({status})")
    return 0


def add_ops_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``ecgformer bench ops``."""
    parser = targets.add_parser("ops", help="local attention backends: time and peak memory")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    parser.add_argument("--dilations", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-dense-length", type=int, default=10000, help="skip dense SDPA above this N")
    parser.add_argument("--max-unfold-length", type=int, default=5000,
                        help="skip unfold above this N (its backward takes minutes at N=10000)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="N in {1000, 2500}, 2 repeats (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (table goes to stderr)")
    add_out_argument(parser)
    parser.set_defaults(run=_run)
