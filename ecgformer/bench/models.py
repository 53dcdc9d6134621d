"""``ecgformer bench models``: every registered preset's size, FLOPs, training and inference throughput, memory.

Per preset (12 leads, 5 classes): parameters; forward FLOPs of one 12 x 1000 input (``FlopCounterMode``, the
CPU SDPA kernel included, as in ``bench mixers``; elementwise ops not counted); training throughput in ECGs/s
(batch 32 of length 1000, forward + BCE + backward + AdamW step); inference throughput (eval, no grad, batch 32);
peak memory of a training step and of an inference batch. All timings are taken before any memory measurement
(see :mod:`ecgformer.bench.timing`). Target: ``ecgformer_s`` trains at least as fast as ``xresnet1d101``.
With ``--compile`` the timed models are ``torch.compile``-d (``nn.Module.compile``, default inductor backend, as
``module.compile: true`` trains); compilation happens in the untimed warm-up calls and memory is measured eagerly.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from ..models import create_model, list_models
from .mixers import count_gflops
from .report import result_markdown
from .timing import (
    add_out_argument,
    bench_log,
    emit_result,
    machine_info,
    median_ms,
    peak_memory_mb,
)

__all__ = ["add_models_parser", "run_models_benchmark"]

TARGET = ("ecgformer_s", "xresnet1d101")


def _build(name: str, in_chans: int, num_classes: int, overrides: Mapping[str, Any]) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, in_chans=in_chans, **overrides)


def _training_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        optimizer.step()

    return step


def _inference(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    return infer


def run_models_benchmark(names: list[str], batch: int = 32, length: int = 1000, in_chans: int = 12,
                         num_classes: int = 5, repeats: int = 5, log: Callable[[str], None] = print,
                         model_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                         compiled: bool = False) -> dict[str, object]:
    """Measure every preset (built with ``model_overrides[name]`` where given, e.g. a grid's ``model.overrides``;
    ``torch.compile``-d for the timings when ``compiled``); return ``{"config", "machine", "rows", "targets"}``."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, in_chans, length, generator=generator)
    y = (torch.rand(batch, num_classes, generator=generator) < 0.3).float()
    overrides = model_overrides or {}
    rows: list[dict[str, object]] = []
    for name in names:
        model = _build(name, in_chans, num_classes, overrides.get(name, {}))
        row: dict[str, object] = {"model": name, "params": sum(p.numel() for p in model.parameters())}
        model.eval()
        with torch.no_grad():
            row["gflops"] = count_gflops(partial(model, x[:1]))
        if compiled:
            model.compile()
        warmup = 2 if compiled else 1  # the first call compiles (and the second settles any recompilation)
        row["train_ecg_s"] = batch / (median_ms(_training_step(model, x, y), repeats, warmup) / 1000)
        row["infer_ecg_s"] = batch / (median_ms(_inference(model, x), repeats, warmup) / 1000)
        rows.append(row)
        log(_format_row(row, memory=False))
    for row in rows:  # memory after every timing: measuring it changes malloc's behaviour
        model = _build(str(row["model"]), in_chans, num_classes, overrides.get(str(row["model"]), {}))
        step = _training_step(model, x, y)
        step()  # AdamW state exists from here on, as in a training run
        row["train_peak_mb"] = peak_memory_mb(step)
        row["infer_peak_mb"] = peak_memory_mb(_inference(model, x))
        log(_format_row(row, memory=True))
    return {
        "benchmark": "models",
        "config": {"batch": batch, "length": length, "in_chans": in_chans, "num_classes": num_classes,
                   "repeats": repeats, "optimizer": "AdamW", "loss": "BCE with logits", "compile": compiled},
        "machine": machine_info(),
        "rows": rows,
        "targets": _targets(rows),
    }


def _targets(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    speed = {row["model"]: row["train_ecg_s"] for row in rows}
    fast, baseline = TARGET
    if fast not in speed or baseline not in speed:
        return []
    ratio = float(speed[fast]) / float(speed[baseline])
    return [{"target": f"{fast} training ECGs/s / {baseline} training ECGs/s (>= 1)", "value": round(ratio, 3),
             "limit": 1.0, "met": ratio >= 1.0}]


def _format_row(row: dict[str, object], memory: bool) -> str:
    def fmt(key: str, spec: str = "9.1f") -> str:
        value = row.get(key)
        return f"{value:{spec}}" if isinstance(value, float) else f"{'-':>9}"

    if memory:
        return (f"{row['model']:<27} peak train {fmt('train_peak_mb')} MiB  peak inference {fmt('infer_peak_mb')} "
                f"MiB")
    return (f"{row['model']:<27} params {row['params'] / 1e6:6.2f} M  GFLOPs {fmt('gflops', '6.3f')}  "
            f"train {fmt('train_ecg_s')} ECG/s  inference {fmt('infer_ecg_s')} ECG/s")



def _run(args: argparse.Namespace) -> int:
    names = args.models or list_models()
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; registered: {', '.join(list_models())}")
    batch, length, repeats = (4, 500, 1) if args.quick else (args.batch, args.length, args.repeats)
    log = bench_log(args)
    result = run_models_benchmark(names, batch=batch, length=length, repeats=repeats, log=log,
                                  compiled=args.compile)
    for target in result["targets"]:
        log(f"target: {target['target']}: {target['value']} ({'met' if target['met'] else 'NOT MET'})")
    if args.markdown:
        log(result_markdown(result))
    emit_result(result, args)
    return 0


def add_models_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``ecgformer bench models``."""
    parser = targets.add_parser("models", help="every preset: params, FLOPs, train/inference ECGs/s, peak memory")
    parser.add_argument("--models", nargs="+", help="preset names (default: every registered model)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=1000, help="samples per ECG (timing; FLOPs use the same)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 4, length 500, 1 repeat")
    parser.add_argument("--compile", action="store_true",
                        help="time torch.compile-d models (inductor; compilation in the untimed warm-up)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (table goes to stderr)")
    add_out_argument(parser)
    parser.set_defaults(run=_run)
