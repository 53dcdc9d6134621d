"""``ecgformer bench inference``: eager PyTorch vs onnxruntime on one 12-lead, 10 s, 500 Hz record.

Per model and thread count (1 and 2): single-record latency p50/p95 (ms) and batch throughput (ECGs/s) of
eager PyTorch (eval, ``torch.inference_mode``) and of the bundle's ONNX model under onnxruntime (the
model exported by :func:`ecgformer.export.formats.write_model`, the session of the predictor). The two
runtimes alternate in blocks of runs, so that both see the same machine state (clock, caches, co-tenants of
a shared machine) instead of whichever runs second inheriting a slower one. Target: onnxruntime p50 latency
at least 1.5x lower than eager for ``ecgformer_s``, in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..export.formats import load_runner, write_model
from ..models import create_model
from .report import result_markdown
from .timing import add_out_argument, emit_result, machine_info

__all__ = ["add_inference_parser", "run_inference_benchmark"]

MODELS = ("ecgformer_s", "xresnet1d101")
TARGET_SPEEDUP = 1.5


def _latencies_ms(runtimes: dict[str, Callable[[], object]], repeats: int, rounds: int = 5,
                  warmup: int = 3) -> dict[str, np.ndarray]:
    """Milliseconds of ``repeats`` calls per runtime, taken in ``rounds`` alternating blocks after ``warmup`` calls."""
    for fn in runtimes.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    rounds = min(rounds, repeats)
    for block in range(rounds):
        for name, fn in runtimes.items():
            for _ in range(repeats // rounds + (block < repeats % rounds)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: 1000.0 * np.asarray(values) for name, values in times.items()}


def _eager(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.inference_mode():
            return model(x)
    return call


def _measure(single: dict[str, Callable[[], object]], batched: dict[str, Callable[[], object]], batch: int,
             repeats: int) -> dict[str, dict[str, float]]:
    """Per runtime: single-record latency p50/p95 (ms) and batch throughput (ECGs/s)."""
    latencies = _latencies_ms(single, repeats)
    batch_ms = _latencies_ms(batched, max(3, repeats // 10), warmup=1)
    return {name: {"p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
                   "throughput": 1000.0 * batch / float(np.median(batch_ms[name]))}
            for name, lat in latencies.items()}


def run_inference_benchmark(models: tuple[str, ...] = MODELS, threads: tuple[int, ...] = (1, 2), batch: int = 32,
                            length: int = 5000, repeats: int = 50) -> dict[str, object]:
    """Rows of ``model, threads, runtime, p50_ms, p95_ms, throughput`` and the ecgformer_s speed-up per thread count."""
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, 12, length)).astype(np.float32)
    many = rng.standard_normal((batch, 12, length)).astype(np.float32)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            torch.manual_seed(0)
            model = create_model(name, num_classes=5, in_chans=12).eval()
            target = Path(folder) / name
            target.mkdir()
            path = write_model(model, torch.from_numpy(one.repeat(2, axis=0)), "onnx", target)
            for n in threads:
                torch.set_num_threads(n)
                run = load_runner(path, "onnx", threads=n)
                measured = _measure({"eager": _eager(model, torch.from_numpy(one)), "onnxruntime": partial(run, one)},
                                    {"eager": _eager(model, torch.from_numpy(many)), "onnxruntime": partial(run, many)},
                                    batch, repeats)
                rows.extend({"model": name, "threads": n, "runtime": runtime, **figures}
                            for runtime, figures in measured.items())
    speedup = {f"{r['threads']}": e["p50_ms"] / r["p50_ms"] for e in rows for r in rows
               if e["model"] == r["model"] == "ecgformer_s" and e["threads"] == r["threads"]
               and e["runtime"] == "eager" and r["runtime"] == "onnxruntime"}
    targets = [{"target": f"ecgformer_s eager p50 / onnxruntime p50, {n} thread(s) (>= {TARGET_SPEEDUP})",
                "value": round(value, 3), "limit": TARGET_SPEEDUP, "met": value >= TARGET_SPEEDUP}
               for n, value in speedup.items()]
    return {"benchmark": "inference", "rows": rows, "ecgformer_s_p50_speedup": speedup, "targets": targets,
            "length": length, "batch": batch, "repeats": repeats, "machine": machine_info()}



def _run(args: argparse.Namespace) -> int:
    quick = {"length": 1000, "batch": 4, "repeats": 5} if args.quick else {}
    result = run_inference_benchmark(tuple(args.models), tuple(args.threads), **{
        "batch": args.batch, "length": args.length, "repeats": args.repeats, **quick})
    print(result_markdown(result))
    for target in result["targets"]:  # type: ignore[union-attr]
        print(f"target: {target['target']}: {target['value']} ({'met' if target['met'] else 'NOT MET'})")
    emit_result(result, args)
    return 0


def add_inference_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``ecgformer bench inference``."""
    parser = targets.add_parser("inference", help="eager PyTorch vs onnxruntime latency and throughput")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=5000, help="samples (10 s at 500 Hz)")
    parser.add_argument("--repeats", type=int, default=50, help="single-record runs per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run: length 1000, batch 4, 5 repeats")
    add_out_argument(parser)
    parser.set_defaults(run=_run)
