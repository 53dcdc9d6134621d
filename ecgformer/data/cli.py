"""``ecgformer data ...``: dataset summaries and cache building."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .errors import DataError
from .registry import DATASETS, open_dataset

__all__ = ["add_data_parser", "run_summary", "run_cache", "format_summary"]


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--root", default=None, help="dataset folder (default: $ECGFORMER_DATA/<dataset>)")
    parser.add_argument("--task", default=None, help="label task (default: the dataset's usual one)")
    parser.add_argument("--fs", type=int, default=None, help="PTB-XL: 100 or 500 Hz files")
    parser.add_argument("--leads", default=None,
                        help="lead subset: twelve/six/four/three/two or a comma-separated list")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad record instead of skipping it")


def _open(args: argparse.Namespace) -> Any:
    kwargs: dict[str, Any] = {}
    if args.dataset != "synthetic":
        kwargs["on_error"] = "raise" if args.strict else "skip"
        if args.leads:
            kwargs["leads"] = args.leads if "," not in args.leads else args.leads.split(",")
    if args.fs is not None:
        if args.dataset != "ptbxl":
            raise DataError("--fs applies to ptbxl only")
        kwargs["fs"] = args.fs
    return open_dataset(args.dataset, args.root if args.dataset != "synthetic" else None, args.task, **kwargs)


def format_summary(summary: dict[str, Any], max_skipped: int = 10) -> str:
    """Human-readable form of a summary dict."""
    lines = [f"dataset       {summary['dataset']}  (task {summary['task']})"]
    if "root" in summary:
        lines.append(f"root          {summary['root']}")
    checked = "signals read" if summary.get("signals_checked") else "headers only"
    lines.append(f"records       {summary['records']} loaded ({checked}), {len(summary['skipped'])} skipped")
    for item in summary["skipped"][:max_skipped]:
        lines.append(f"  skipped {item['record']}: {item['reason']}")
    if len(summary["skipped"]) > max_skipped:
        lines.append(f"  ... and {len(summary['skipped']) - max_skipped} more (--json lists all)")
    rates = ", ".join(f"{rate} Hz x {n}" for rate, n in summary["sampling_rates"].items())
    lines.append(f"sampling      {rates}")
    if summary.get("length_s"):
        s = summary["length_s"]
        lines.append(f"length (s)    min {s['min']:.2f}  median {s['median']:.2f}  max {s['max']:.2f}")
    lines.append(f"classes       {len(summary['classes'])}")
    width = max((len(c) for c in summary["classes"]), default=5)
    for name in summary["classes"]:
        lines.append(f"  {name:<{width}}  {summary['label_counts'][name]:>7}")
    return "\n".join(lines)


def run_summary(args: argparse.Namespace) -> int:
    """``ecgformer data summary``: load the dataset and print counts (text or one JSON object)."""
    try:
        source = _open(args)
        summary = source.summary(load=not args.no_load, progress=not args.json and sys.stderr.isatty())
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0


def run_cache(args: argparse.Namespace) -> int:
    """``ecgformer data cache``: build (or reuse) the record cache and print its folder."""
    from .cache import RecordCache
    from .preprocess import Preprocess

    try:
        source = _open(args)
        preprocess = Preprocess(fs=args.target_fs, bandpass=tuple(args.bandpass) if args.bandpass else None,
                                notch=args.notch, baseline=args.baseline, normalize=args.normalize)
        cache = RecordCache.open_or_build(source, preprocess, args.cache_dir, progress=sys.stderr.isatty())
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{cache.path}  ({len(cache)} records, {len(cache.skipped)} skipped, "
          f"{cache.signals.nbytes / 2 ** 20:.1f} MiB)")
    return 0


def add_data_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``data summary`` and ``data cache`` on the top-level parser."""
    data = commands.add_parser("data", help="inspect PhysioNet datasets and build record caches")
    actions = data.add_subparsers(dest="action", required=True)
    summary = actions.add_parser("summary", help="records loaded/skipped, rates, lengths, label counts")
    _add_source_args(summary)
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.add_argument("--no-load", action="store_true", help="check headers and files only, do not read signals")
    summary.set_defaults(run=run_summary)
    cache = actions.add_parser("cache", help="build the memory-mapped record cache")
    _add_source_args(cache)
    cache.add_argument("--cache-dir", default=None, help="default: $ECGFORMER_CACHE or ~/.cache/ecgformer")
    cache.add_argument("--target-fs", type=float, default=None, help="resample to this rate")
    cache.add_argument("--bandpass", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"))
    cache.add_argument("--notch", type=float, default=None, help="power-line frequency to notch (50 or 60)")
    cache.add_argument("--baseline", choices=["median", "highpass"], default=None)
    cache.add_argument("--normalize", choices=["none", "zscore", "minmax"], default="none")
    cache.set_defaults(run=run_cache)
