"""Timing and peak-memory measurement shared by the benchmarks.

CPU peak memory is the process's peak resident set size during the call above its resident size before
the call (Linux: the peak is reset through ``/proc/self/clear_refs``), so it counts every allocation the
call makes, temporaries inside fused kernels included. For that, glibc must hand freed blocks back to the
system: :func:`peak_memory_mb` fixes malloc's mmap threshold at 64 KiB, which makes later allocations
slower (page faults), so measure all times before the first memory measurement. On CUDA it is
``torch.cuda.max_memory_allocated``.

Two effects make CPU times of one operation at growing sizes step up where the work does not (measured on the
2-core AMD EPYC with 32 MiB of L3, see docs of ``ecgformer bench mixers``): glibc serves every block above
32 MiB with a fresh mmap, so a call whose temporaries cross that size pays a page fault per 4 KiB on every
run, and an input that fits the last-level cache stays there between repeated runs. :func:`reuse_freed_memory`
(glibc keeps freed memory for reuse, as PyTorch's caching allocators and jemalloc/tcmalloc do) and the
``before`` hook of :func:`median_ms` with :func:`cache_flusher` (every run starts from a cold cache, as in
triton's ``do_bench``) remove both.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .plots import render_png

__all__ = ["add_out_argument", "bench_log", "cache_flusher", "emit_result", "machine_info", "median_ms",
           "peak_memory_mb", "reuse_freed_memory", "write_atomic"]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
              device: torch.device = torch.device("cpu"), budget_s: float = 20.0,
              before: Callable[[], object] | None = None) -> float:
    """Median wall time of ``fn()`` in ms over ``repeats`` runs after ``warmup`` runs.

    ``before`` runs (untimed) ahead of every timed run, e.g. a :func:`cache_flusher`. Slow calls stop early once
    at least 3 runs (or 1 when one run exceeds the budget) took ``budget_s``.
    """
    for _ in range(warmup):
        fn()
    _synchronize(device)
    times: list[float] = []
    while len(times) < repeats:
        if before is not None:
            before()
            _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
        if sum(times) > budget_s and (len(times) >= 3 or times[0] > budget_s):
            break
    return 1000.0 * statistics.median(times)


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(match.group(1))


# glibc mallopt parameters (malloc.h) and the defaults they are restored to
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_GLIBC_MMAP_MAX = 65536


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: the allocator settings do not apply
        return None


def reuse_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse: no mmap for large blocks, no trimming of the heap's top.

    Timings then exclude the page faults of a fresh mapping per large temporary per call, which otherwise appear
    only above glibc's 32 MiB mmap ceiling and bend time-vs-size curves upward there. The heap grows over the
    first few calls (a freed block lacks the alignment slack of the next request of its size), so time after
    warm-up runs. False where the C library is not glibc (nothing changed).
    """
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def cache_flusher(device: torch.device = torch.device("cpu"), megabytes: int = 256) -> Callable[[], None]:
    """A call that reads ``megabytes`` of memory on ``device``, evicting earlier data from the CPU caches (or the
    GPU's L2): a timed run after it reads its inputs from memory, whatever their size. Reading (not writing)
    leaves clean cache lines, so the timed run pays no write-back of the flush itself."""
    buffer = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32, device=device)

    def flush() -> None:
        buffer.sum()

    return flush


def _return_freed_memory_to_system() -> None:
    """Make glibc serve blocks >= 64 KiB with mmap (unmapped on free) and trim its heap: RSS follows live memory."""
    libc = _libc()
    if libc is None:
        return
    libc.mallopt(_M_MMAP_MAX, _GLIBC_MMAP_MAX)  # undoes reuse_freed_memory
    libc.mallopt(_M_MMAP_THRESHOLD, 64 * 1024)
    libc.malloc_trim(0)  # give back pages of blocks freed earlier, so reusing them shows in RSS


def peak_memory_mb(fn: Callable[[], object], device: torch.device = torch.device("cpu")) -> float | None:
    """Peak memory (MiB) that ``fn()`` allocates above what was in use before; None where unmeasurable."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    try:
        _return_freed_memory_to_system()
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current RSS
        before = _status_kb("VmRSS")
    except OSError:
        return None
    fn()
    return (_status_kb("VmHWM") - before) / 1024.0


def machine_info() -> dict[str, object]:
    """CPU/GPU, thread count, torch version and git commit for a benchmark's provenance."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False, cwd=Path(__file__).parent).stdout.strip() or None
    except OSError:
        commit = None
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def bench_log(args: argparse.Namespace) -> Callable[[str], None]:
    """Where a benchmark prints its table: stderr when ``--json`` puts the JSON on stdout, else stdout."""
    if getattr(args, "json", False):
        return lambda line: print(line, file=sys.stderr)
    return print


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--out`` option that :func:`emit_result` writes."""
    parser.add_argument("--out", help="also write the JSON result to this file (and its plot beside a .json file: "
                                      "same name, .png)")


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are ordinary readable files
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit_result(result: dict[str, object], args: argparse.Namespace) -> None:
    """Write ``result`` to ``--out`` and print it for ``--json``.

    Run from the command line (:func:`ecgformer.cli.main`), the result also records ``command`` (the command
    line) and ``wall_s`` (seconds from the start of the sub-command to here). An ``--out`` ending in ``.json``
    gets its plot beside it (same stem, ``.png``; :func:`ecgformer.bench.plots.render_png`).
    """
    if hasattr(args, "command_line"):
        result = {**result, "command": args.command_line,
                  "wall_s": round(time.perf_counter() - args.started, 1)}
    text = json.dumps(result, indent=2)
    if getattr(args, "out", None):
        target = Path(args.out)
        write_atomic(target, text.encode())
        if target.suffix == ".json":
            try:
                png = render_png(result)
            except ImportError as error:  # matplotlib is a dev extra
                print(f"no plot written beside {target}: {error}", file=sys.stderr)
            else:
                write_atomic(target.with_suffix(".png"), png)
    if getattr(args, "json", False):
        print(text)
