"""``ecgformer bench mixers``: every registered mixer's cost against sequence length.

For each mixer (defaults, ``dim=128``, 4 heads, batch 8) and N in {250, 1000, 2500, 5000}: parameters, forward
FLOPs (``torch.utils.flop_counter.FlopCounterMode``: matmuls, convolutions and attention, the CPU SDPA kernel
included; elementwise ops are not counted), forward and forward+backward CPU time, their peak memory, and the
least-squares slope of log(time) against log(N) over N in [1000, 5000]. The mixers that are linear by design
are checked against a slope of at most 1.15; every slope is reported.

Times are taken with glibc keeping freed memory for reuse and with the CPU caches flushed before every run
(``--allocator system --warm-cache`` measures without either): see :mod:`ecgformer.bench.timing` for why both
otherwise bend the curves at sizes where no work changes.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ..mixers import create_mixer, list_mixers
from .timing import (
    add_out_argument,
    bench_log,
    cache_flusher,
    emit_result,
    machine_info,
    median_ms,
    peak_memory_mb,
    reuse_freed_memory,
)

__all__ = ["LINEAR_BY_DESIGN", "SLOPE_LIMIT", "add_mixers_parser", "loglog_slope", "run_mixers_benchmark"]

LINEAR_BY_DESIGN = ("swin", "dilated", "focal_attention", "focal_modulation", "smt", "conv", "sr")  # sr: pool mode
SLOPE_LIMIT = 1.15


def _cpu_sdpa_flops(query_shape: torch.Size, key_shape: torch.Size, value_shape: torch.Size, *args: object,
                    **kwargs: object) -> int:
    """FLOPs of the CPU SDPA kernel, which ``FlopCounterMode`` does not know: those of any other SDPA."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


_FLOP_MAPPING = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


def count_gflops(fn: Callable[[], object]) -> float:
    """GFLOPs of one call of ``fn`` (``FlopCounterMode``, the CPU SDPA kernel included; elementwise ops not counted)."""
    with FlopCounterMode(display=False, custom_mapping=_FLOP_MAPPING) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def loglog_slope(lengths: list[int], times: list[float]) -> float | None:
    """Least-squares slope of ``log(time)`` against ``log(N)``; None with fewer than two points."""
    if len(lengths) < 2:
        return None
    xs, ys = [math.log(n) for n in lengths], [math.log(t) for t in times]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


def _inputs(mixer: torch.nn.Module, batch: int, length: int, dim: int,
            device: torch.device) -> tuple[Callable[[], object], Callable[[], None]]:
    """The forward (no grad, eval) and the forward+backward (train) calls measured for one length."""
    x = torch.randn(batch, length, dim, device=device)
    x_grad = x.clone().requires_grad_()

    def forward() -> object:
        mixer.eval()
        with torch.no_grad():
            return mixer(x)

    def step() -> None:
        mixer.train()
        mixer.zero_grad(set_to_none=True)
        x_grad.grad = None
        mixer(x_grad).sum().backward()

    return forward, step


def run_mixers_benchmark(names: list[str], lengths: list[int], dim: int = 128, heads: int = 4, batch: int = 8,
                         repeats: int = 5, slope_range: tuple[int, int] = (1000, 5000), device: str = "cpu",
                         log: Callable[[str], None] = print, reuse_memory: bool = True,
                         cold_cache: bool = True) -> dict[str, object]:
    """Measure every mixer at every length; return ``{"config", "machine", "rows", "slopes"}``.

    All timings are taken first (``reuse_memory``: with :func:`~ecgformer.bench.timing.reuse_freed_memory`;
    ``cold_cache``: caches flushed before every run), then all peak memories (memory measurement changes
    malloc's behaviour, see timing.py). A mixer that fails at some length gets an ``error`` row there and the
    benchmark goes on.
    """
    dev = torch.device(device)
    allocator = "reuse" if reuse_memory and dev.type == "cpu" and reuse_freed_memory() else "system"
    flush = cache_flusher(dev) if cold_cache else None
    rows: list[dict[str, object]] = []
    cases = []
    for name in names:
        torch.manual_seed(0)
        mixer = create_mixer(name, dim, num_heads=heads).to(dev)
        params = sum(p.numel() for p in mixer.parameters())
        for length in lengths:
            row: dict[str, object] = {"mixer": name, "N": length, "params": params}
            rows.append(row)
            forward, step = _inputs(mixer, batch, length, dim, dev)
            try:
                row["gflops"] = count_gflops(forward)
                row["fwd_ms"] = median_ms(forward, repeats, warmup=3, device=dev, before=flush)
                row["fwd_bwd_ms"] = median_ms(step, repeats, warmup=3, device=dev, before=flush)
                cases.append((row, forward, step))
            except (RuntimeError, ValueError, MemoryError) as error:
                row["error"] = f"{type(error).__name__}: {error}"
            log(_format_row(row))
    for row, forward, step in cases:
        row["fwd_peak_mb"] = peak_memory_mb(forward, dev)
        row["fwd_bwd_peak_mb"] = peak_memory_mb(step, dev)
    log("peak memory (MiB above the inputs):")
    for row in rows:
        log(_format_row(row))
    slopes: list[dict[str, object]] = []
    for name in names:
        measured = [r for r in rows if r["mixer"] == name and "error" not in r
                    and slope_range[0] <= int(r["N"]) <= slope_range[1]]
        fit: dict[str, object] = {"mixer": name, "linear_by_design": name in LINEAR_BY_DESIGN}
        for key in ("fwd_ms", "fwd_bwd_ms"):
            fit[key.replace("_ms", "_slope")] = loglog_slope([int(r["N"]) for r in measured],
                                                              [float(r[key]) for r in measured])
        if fit["linear_by_design"] and fit["fwd_slope"] is not None:
            fit["met"] = fit["fwd_slope"] <= SLOPE_LIMIT and (fit["fwd_bwd_slope"] or 0.0) <= SLOPE_LIMIT
        slopes.append(fit)
    return {
        "benchmark": "mixers",
        "config": {"dim": dim, "heads": heads, "batch": batch, "lengths": lengths, "repeats": repeats,
                   "slope_range": list(slope_range), "slope_limit": SLOPE_LIMIT, "device": device,
                   "allocator": allocator, "cache": "flushed before each run" if cold_cache else "warm"},
        "machine": machine_info(),
        "rows": rows,
        "slopes": slopes,
    }


def _format_row(row: dict[str, object]) -> str:
    if "error" in row:
        return f"{row['mixer']:<17} N={row['N']:<6} error: {row['error']}"

    def fmt(key: str, width: int = 9, spec: str = ".1f") -> str:
        value = row.get(key)
        return f"{value:{width}{spec}}" if isinstance(value, float) else f"{'-':>{width}}"

    return (f"{row['mixer']:<17} N={row['N']:<6} params {row['params']:>8}  GFLOPs {fmt('gflops', 8, '.3g')}  "
            f"fwd {fmt('fwd_ms')} ms  fwd+bwd {fmt('fwd_bwd_ms')} ms  peak fwd {fmt('fwd_peak_mb')} MiB  "
            f"peak fwd+bwd {fmt('fwd_bwd_peak_mb')} MiB")


def _format_slope(fit: dict[str, object]) -> str:
    def fmt(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else "-"

    status = ""
    if "met" in fit:
        status = f"  (linear by design: {'met' if fit['met'] else 'NOT MET'}, limit {SLOPE_LIMIT})"
    return f"slope {fit['mixer']:<17} fwd {fmt(fit['fwd_slope'])}  fwd+bwd {fmt(fit['fwd_bwd_slope'])}{status}"


def _run(args: argparse.Namespace) -> int:
    names = args.mixers or list_mixers()
    unknown = sorted(set(names) - set(list_mixers()))
    if unknown:
        raise SystemExit(f"unknown mixers {unknown}; registered: {', '.join(list_mixers())}")
    if args.quick:
        lengths, dim, batch, repeats, slope_range = [64, 128, 256], 32, 2, 1, (64, 256)
    else:
        lengths, dim, batch, repeats, slope_range = (args.lengths, args.dim, args.batch, args.repeats,
                                                     tuple(args.slope_range))
    log = bench_log(args)
    result = run_mixers_benchmark(names, lengths, dim=dim, heads=args.heads, batch=batch, repeats=repeats,
                                  slope_range=slope_range, device=args.device, log=log,
                                  reuse_memory=args.allocator == "reuse", cold_cache=not args.warm_cache)
    for fit in result["slopes"]:
        log(_format_slope(fit))
    emit_result(result, args)
    return 0


def add_mixers_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``ecgformer bench mixers``."""
    parser = targets.add_parser("mixers", help="every mixer: params, FLOPs, time, peak memory, log-log slope")
    parser.add_argument("--mixers", nargs="+", help="mixer names (default: every registered mixer)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[250, 1000, 2500, 5000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slope-range", type=int, nargs=2, default=[1000, 5000], metavar=("N_MIN", "N_MAX"),
                        help="lengths the log-log slope is fitted over")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--allocator", choices=("reuse", "system"), default="reuse",
                        help="reuse: glibc keeps freed memory (no page faults per large temporary); system: "
                             "glibc's defaults")
    parser.add_argument("--warm-cache", action="store_true",
                        help="do not flush the caches before each timed run")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: N in {64, 128, 256}, dim 32, batch 2, 1 repeat, slope over 64..256")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (table goes to stderr)")
    add_out_argument(parser)
    parser.set_defaults(run=_run)
