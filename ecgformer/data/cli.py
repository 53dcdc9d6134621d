"""``ecgformer data ...``: dataset summaries and cache building."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .errors import DataError
from .leads import resolve_leads
from .registry import DATASETS, open_dataset

__all__ = ["add_data_parser", "run_summary", "run_cache", "format_summary"]


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--root", default=None, help="dataset folder (default: $ECGFORMER_DATA/<dataset>)")
    parser.add_argument("--task", default=None, help="label task (default: the dataset's usual one)")
    parser.add_argument("--fs", type=int, default=None,
                        help="which files to read, for datasets published at several rates (PTB-XL: 100 or 500 Hz)")
    parser.add_argument("--leads", default=None,
                        help="lead subset: twelve/six/four/three/two or a comma-separated list")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first bad or flat record instead of skipping it")
    parser.add_argument("--keep-flat", action="store_true",
                        help="load records whose every lead is flat (< 1 µV peak to peak) instead of skipping them")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The reader keyword arguments of the command line; :class:`DataError` naming a bad option."""
    reader = DATASETS[args.dataset]
    if args.task is not None and args.task not in reader.tasks:
        raise DataError(f"--task {args.task}: {args.dataset} tasks are {', '.join(reader.tasks)}")
    if args.fs is not None and args.fs not in reader.file_rates:
        raise DataError(f"--fs {args.fs}: {args.dataset} " + (
            f"files come at {' or '.join(map(str, reader.file_rates))} Hz" if reader.file_rates
            else "has one rate per record (resample with data cache --target-fs)"))
    if not reader.reads_files:
        if args.leads:
            raise DataError(f"--leads: {args.dataset} generates its records with fixed leads")
        return {}
    kwargs: dict[str, Any] = {"on_error": "raise" if args.strict else "skip",
                              "flat": "keep" if args.keep_flat else "raise" if args.strict else "skip"}
    if args.fs is not None:
        kwargs["fs"] = args.fs
    if args.leads:
        request = args.leads if "," not in args.leads else [name.strip() for name in args.leads.split(",")]
        try:
            leads = resolve_leads(request)
        except ValueError as exc:
            raise DataError(f"--leads {args.leads}: {exc} (or a subset: twelve, six, four, three, two)") from None
        own = reader.dataset_leads
        foreign = [lead for lead in leads or () if own and lead not in own]
        if foreign:
            raise DataError(f"--leads {args.leads}: {args.dataset} records have no lead {foreign[0]} "
                            f"(their leads: {', '.join(own)})")
        kwargs["leads"] = list(leads or ())
    return kwargs


def _open(args: argparse.Namespace) -> Any:
    kwargs = _options(args)
    return open_dataset(args.dataset, args.root, args.task, **kwargs)


def _fail(exc: Exception) -> int:
    """Print ``error: ...`` (one line) on stderr; the exit code of a failed command."""
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
    return 2


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
    flat = summary.get("flat_leads", {})
    if flat:
        lines.append(f"flat leads    {len(flat)} record(s) kept with some leads flat (< 1 µV peak to peak)")
        for record, leads in list(flat.items())[:max_skipped]:
            lines.append(f"  {record}: {', '.join(leads)}")
        if len(flat) > max_skipped:
            lines.append(f"  ... and {len(flat) - max_skipped} more (--json lists all)")
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
    except (ValueError, OSError) as exc:  # DataError and RecordError are ValueErrors
        return _fail(exc)
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
    except (ValueError, OSError) as exc:  # DataError and RecordError are ValueErrors
        return _fail(exc)
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
