"""Planted-bug check (issue 29): realistic bugs, planted one at a time in a copy of the package, that the tests must
catch, every one of them.

Each bug of ``tools/planted_bugs.json`` is an exact source edit (``find`` -> ``replace``, where ``find`` occurs
exactly once in ``file``) and the tests that must catch it (files or node ids, the smallest selection that does).
For each bug the package, the tests and pyproject.toml are copied into a fresh temporary folder, the edit is applied
there and ``pytest -x`` runs the bug's tests against the copy (the copy comes first on ``PYTHONPATH``, ahead of the
editable install). A failing test (pytest exit 1) catches the bug, passing tests miss it, anything else (a
collection error, a timeout) is an error, never a catch. Before the first bug, the selected tests run together on an
unmodified copy, where they must pass: otherwise a failure would mean nothing.

Full run (writes ``benchmarks/results/planted_bugs.json``, which ``ecgformer bench report`` puts in
``benchmarks/RESULTS.md`` with its plot)::

    python tools/planted_bugs.py
    python tools/planted_bugs.py --only hilo_halves_swapped smt_shuffle_removed   # no report unless --out

Exits 1 when a bug is missed or errored.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ecgformer.bench.timing import machine_info

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = REPO / "tools" / "planted_bugs.json"
RESULTS = REPO / "benchmarks" / "results" / "planted_bugs.json"
COPIED = ("ecgformer", "tests", "pyproject.toml")
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE")  # -rfE: the summary names what failed


@dataclass(frozen=True)
class Bug:
    """One planted bug: replace the only occurrence of ``find`` in ``file`` by ``replace``; ``tests`` must fail."""

    id: str
    title: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]


def load_catalogue(path: Path = CATALOGUE) -> list[Bug]:
    """The bugs listed in ``path``, in their order."""
    return [Bug(**{**entry, "tests": tuple(entry["tests"])}) for entry in json.loads(path.read_text())]


def bugs_named(bugs: list[Bug], names: list[str]) -> list[Bug]:
    """The bugs called ``names``, in catalogue order; a one-line error lists the ids otherwise."""
    unknown = sorted(set(names) - {bug.id for bug in bugs})
    if unknown:
        raise SystemExit(f"unknown bug {unknown[0]!r}; bugs: {', '.join(bug.id for bug in bugs)}")
    return [bug for bug in bugs if bug.id in names]


def planted_source(bug: Bug, source: str) -> str:
    """``source`` (the text of ``bug.file``) with the bug planted; a one-line error naming the bug when ``find`` does
    not occur exactly once (the catalogue is stale) or when the edited file would not compile."""
    count = source.count(bug.find)
    if count != 1:
        raise SystemExit(f"{bug.id}: its find text occurs {count} times in {bug.file}, not once: the catalogue "
                         f"({CATALOGUE.relative_to(REPO)}) is stale")
    edited = source.replace(bug.find, bug.replace)
    try:
        compile(edited, bug.file, "exec")
    except SyntaxError as exc:
        raise SystemExit(f"{bug.id}: the edited {bug.file} does not compile (line {exc.lineno}: {exc.msg})") from None
    return edited


def copy_project(folder: Path) -> Path:
    """Copy the package, the tests and pyproject.toml (no bytecode) into ``folder``; return ``folder``."""
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, folder / name)
    return folder


def plant(bug: Bug, folder: Path) -> None:
    """Apply ``bug``'s edit to the copy in ``folder``."""
    path = folder / bug.file
    path.write_text(planted_source(bug, path.read_text()))


def run_env(folder: Path) -> dict[str, str]:
    """The environment of a test run on the copy in ``folder``: the copy first on ``PYTHONPATH``, one thread, and
    the real records where the checkout's tests find them."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0",
               PYTHONPATH=os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.setdefault("ECGFORMER_DATA", str(REPO.parent / "shared" / "data"))
    return env


def imported_package(folder: Path) -> Path:
    """The ``ecgformer/__init__.py`` that a test run on the copy in ``folder`` imports."""
    done = subprocess.run([sys.executable, "-c", "import ecgformer; print(ecgformer.__file__)"], cwd=folder,
                          env=run_env(folder), capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def run_tests(folder: Path, tests: tuple[str, ...], stop_early: bool, timeout_s: float) -> tuple[int | None, str]:
    """Run pytest on ``tests`` in the copy in ``folder`` (``-x`` if ``stop_early``); return its exit code (None when
    killed after ``timeout_s``, with whatever it started) and its output."""
    command = [sys.executable, *PYTEST, *(["-x"] if stop_early else []), *tests]
    process = subprocess.Popen(command, cwd=folder, env=run_env(folder), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, f"{output}\ntimed out after {timeout_s:g} s"
    return process.returncode, output


def outcome(exit_code: int | None) -> str:
    """``caught`` (a test failed), ``missed`` (the tests passed) or ``error`` (anything else: collection error,
    usage error, timeout)."""
    return {1: "caught", 0: "missed"}.get(exit_code, "error")


def failure_line(output: str) -> str:
    """The first ``FAILED`` / ``ERROR`` line of pytest's short summary (what caught the bug), or ``""``."""
    return next((line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))), "")


def tail(output: str, lines: int = 15) -> str:
    """The last ``lines`` lines of ``output``, indented."""
    return "\n".join("    " + line for line in output.rstrip().splitlines()[-lines:])


def check_baseline(bugs: list[Bug], timeout_s: float) -> float:
    """Run every test the bugs name, once, on an unmodified copy; they must pass and must import the copy's package.
    Returns the seconds taken; a one-line error (and pytest's tail) otherwise."""
    tests = tuple(dict.fromkeys(test for bug in bugs for test in bug.tests))
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="planted-bugs-") as tmp:
        folder = copy_project(Path(tmp))
        package = imported_package(folder)
        if not package.resolve().is_relative_to(folder.resolve()):
            raise SystemExit(f"the tests would import {package}, not the copy in {folder}")
        print(f"ecgformer imported from the copy: {package}")
        print(f"baseline: {len(tests)} test selection(s) on the unmodified copy ... ", end="", flush=True)
        code, output = run_tests(folder, tests, stop_early=False, timeout_s=timeout_s)
    seconds = time.monotonic() - start
    if code != 0:
        raise SystemExit(f"failed (exit {code}): the unmodified tests must pass before a bug can be caught\n"
                         f"{tail(output)}")
    print(f"passed in {seconds:.1f} s")
    return seconds


def run_bug(bug: Bug, timeout_s: float) -> tuple[str, float, str]:
    """Plant ``bug`` in a fresh copy and run its tests there; return the outcome, the seconds taken and pytest's
    output."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"planted-{bug.id}-") as tmp:
        folder = copy_project(Path(tmp))
        plant(bug, folder)
        code, output = run_tests(folder, bug.tests, stop_early=True, timeout_s=timeout_s)
    return outcome(code), time.monotonic() - start, output


def main(argv: list[str] | None = None) -> int:
    """Plant the chosen bugs (all by default) one at a time, report which the tests catch, exit 1 unless all are."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ID", default=None, help="bugs to plant (default: all)")
    parser.add_argument("--timeout-s", type=float, default=600.0,
                        help="limit of one pytest run, in seconds; past it the bug counts as an error (default 600)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"write the results here (default for a full run: {RESULTS.relative_to(REPO)})")
    parser.add_argument("--list", action="store_true", help="list the bugs and exit")
    args = parser.parse_args(argv)
    catalogue = load_catalogue()
    if args.list:
        for bug in catalogue:
            print(f"{bug.id}: {bug.title} ({bug.file}) <- {', '.join(bug.tests)}")
        return 0
    bugs = bugs_named(catalogue, args.only) if args.only else catalogue
    for bug in bugs:  # a stale entry stops the run before anything runs
        planted_source(bug, (REPO / bug.file).read_text())
    start = time.monotonic()
    baseline_s = check_baseline(bugs, args.timeout_s)
    rows = []
    for number, bug in enumerate(bugs, 1):
        print(f"[{number}/{len(bugs)}] {bug.id} ... ", end="", flush=True)
        result, seconds, output = run_bug(bug, args.timeout_s)
        print(f"{result} in {seconds:.1f} s", flush=True)
        if result != "caught":
            print(tail(output))
        rows.append({"id": bug.id, "title": bug.title, "file": bug.file, "tests": list(bug.tests), "outcome": result,
                     "seconds": round(seconds, 1), "failure": failure_line(output)[:300]})
    totals = {name: sum(row["outcome"] == name for row in rows) for name in ("caught", "missed", "error")}
    total_s = time.monotonic() - start
    print(f"caught {totals['caught']} of {len(rows)} planted bugs in {total_s:.0f} s "
          f"(baseline {baseline_s:.0f} s)")
    out = args.out or (RESULTS if args.only is None else None)
    if out is not None:
        report = {"benchmark": "planted_bugs", "machine": machine_info(), "cpus": os.cpu_count(), "wall_s": total_s,
                  "command": shlex.join(["python", "tools/planted_bugs.py", *argv]),
                  "totals": {"bugs": len(rows), **totals, "baseline_seconds": round(baseline_s, 1),
                             "seconds": round(total_s, 1)},
                  "targets": [{"target": "planted bugs caught", "value": totals["caught"], "limit": len(rows),
                               "met": totals["caught"] == len(rows)}],
                  "bugs": rows}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out}")
    return 0 if totals["caught"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
