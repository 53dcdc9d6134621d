"""``ecgformer bench data``: records/s reading WFDB files versus reading the memory-mapped record cache."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.base import LabelledSource
from ..data.cache import RecordCache
from ..data.errors import DataError
from ..data.preprocess import Preprocess
from ..data.registry import DATASETS, open_dataset
from .timing import add_out_argument, emit_result, machine_info

__all__ = ["DEFAULT_PREPROCESS", "add_data_bench_parser", "bench_data", "run_data_bench"]

#: The chain timed by default: what a typical training configuration does per record.
DEFAULT_PREPROCESS = Preprocess(fs=250.0, bandpass=(0.5, 40.0))


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _time_cache(source: LabelledSource, preprocess: Preprocess | None, folder: str,
                best: Callable[[Callable[[], object]], float], seed: int) -> tuple[int, float, float, float]:
    """Build a cache of ``source`` in ``folder``; time the build and sequential/random reads."""
    start = time.perf_counter()
    cache = RecordCache.build(source, preprocess, folder, progress=False)
    build_s = time.perf_counter() - start
    order = np.random.default_rng(seed).permutation(len(cache))
    sequential_s = best(lambda: [cache.load(i) for i in range(len(cache))])
    random_s = best(lambda: [cache.load(int(i)) for i in order])
    return len(cache), build_s, sequential_s, random_s


def bench_data(dataset: str = "cinc2017", root: str | None = None, records: int = 200, repeats: int = 3,
               cache_dir: str | None = None, seed: int = 0,
               preprocess: Preprocess | None = DEFAULT_PREPROCESS) -> dict[str, Any]:
    """Time ``records`` records: WFDB reads (raw, and with ``preprocess``), cache build (with
    ``preprocess``), sequential and random cache reads. Each read timing is the best of
    ``repeats`` passes. Returns a JSON-ready dict.
    """
    source = open_dataset(dataset, root, **({"on_error": "skip"} if DATASETS[dataset].reads_files else {}))
    n = min(records, len(source))
    subset = source.subset(np.arange(n))
    nbytes = sum(subset.load(i).signal.nbytes for i in range(n))  # also warms the page cache

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    wfdb_s = best(lambda: [subset.load(i) for i in range(n)])

    def load_and_preprocess(i: int) -> object:
        record = subset.load(i)
        return preprocess(record.signal, record.fs, record.leads) if preprocess is not None else record

    wfdb_pre_s = best(lambda: [load_and_preprocess(i) for i in range(n)])
    with tempfile.TemporaryDirectory(dir=cache_dir) as folder:
        cached, build_s, sequential_s, random_s = _time_cache(subset, preprocess, folder, best, seed)
    mb = nbytes / 2 ** 20
    return {"benchmark": "data", "dataset": source.name, "records": n, "cached_records": cached, "megabytes": mb,
            "preprocess": preprocess.to_dict() if preprocess is not None else None,
            "wfdb_records_per_s": _rate(n, wfdb_s), "wfdb_mb_per_s": mb / wfdb_s,
            "wfdb_preprocessed_records_per_s": _rate(n, wfdb_pre_s),
            "cache_build_records_per_s": _rate(cached, build_s),
            "cache_sequential_records_per_s": _rate(cached, sequential_s),
            "cache_random_records_per_s": _rate(cached, random_s),
            "speedup_vs_wfdb_preprocessed": wfdb_pre_s / sequential_s if sequential_s > 0 else float("inf"),
            "repeats": repeats, "machine": machine_info()}


def run_data_bench(args: argparse.Namespace) -> int:
    """Entry point of ``ecgformer bench data``."""
    try:
        result = bench_data(args.dataset, args.root, args.records, args.repeats, args.cache_dir,
                            preprocess=None if args.raw else DEFAULT_PREPROCESS)
    except DataError as exc:
        print(f"error: {exc}")
        return 2
    emit_result(result, args)
    if args.json:
        return 0
    print(f"{result['dataset']}: {result['records']} records, {result['megabytes']:.1f} MiB of float32 signal")
    print(f"{'path':<58}{'records/s':>12}")
    chain = "raw" if result["preprocess"] is None else "resample 250 Hz + band-pass 0.5-40 Hz"
    for label, key in (("WFDB files (raw)", "wfdb_records_per_s"),
                       (f"WFDB files ({chain})", "wfdb_preprocessed_records_per_s"),
                       ("cache build", "cache_build_records_per_s"),
                       ("cache sequential", "cache_sequential_records_per_s"),
                       ("cache random order", "cache_random_records_per_s")):
        print(f"{label:<58}{result[key]:>12.0f}")
    print(f"epoch speed-up of the cache over WFDB + preprocessing: x{result['speedup_vs_wfdb_preprocessed']:.1f}")
    return 0


def add_data_bench_parser(targets: argparse._SubParsersAction) -> None:
    """Register the ``data`` target of ``ecgformer bench``."""
    parser = targets.add_parser("data", help="records/s from WFDB files and from the record cache")
    parser.add_argument("--dataset", default="cinc2017", choices=sorted(DATASETS))
    parser.add_argument("--root", default=None, help="dataset folder (default: $ECGFORMER_DATA/<dataset>)")
    parser.add_argument("--records", type=int, default=200, help="how many records to time")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (best is reported)")
    parser.add_argument("--cache-dir", default=None, help="where the temporary cache goes (default: system temp)")
    parser.add_argument("--raw", action="store_true", help="no preprocessing (default: resample to 250 Hz and "
                                                          "band-pass 0.5-40 Hz, in the WFDB path and in the cache)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_out_argument(parser)
    parser.set_defaults(run=run_data_bench)
