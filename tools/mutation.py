"""Mutation testing of the code that decides what a clinician sees, with mutmut.

Each *shard* is one area of the package (a module, or the functions of a module that matter), the test files that
must catch its bugs, and nothing else, so that a shard runs in minutes on a 2-core machine. A shard runs in its own
folder under ``build/mutation/<shard>`` (mutmut reads its configuration from the working folder's
``pyproject.toml``), which keeps mutmut's cache: a killed run picks up where it stopped.

Full run (the periodic job; writes ``benchmarks/results/mutation.json``, which ``ecgformer bench report`` puts in
``benchmarks/RESULTS.md`` with its plot)::

    python tools/mutation.py                       # every shard, one after the other
    python tools/mutation.py --shard metrics losses

Changed-code run (what CI does through ``tests/test_mutation.py``): only the mutants of the functions that the
commits since ``--changed REF`` touched, within a time budget, failing below the target score::

    python tools/mutation.py --changed HEAD~1 --budget-s 300 --check

Equivalent mutants (changes that cannot alter behaviour) are listed in ``tools/mutation_equivalents/<shard>.json``
with the line the mutant writes and the reason; they are left out of the score, and an entry whose mutant no longer
writes that line is reported as stale.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from ecgformer.bench.timing import machine_info

REPO = Path(__file__).resolve().parent.parent
EQUIVALENTS = REPO / "tools" / "mutation_equivalents"  # one JSON list per shard: <shard>.json
RESULTS = REPO / "benchmarks" / "results" / "mutation.json"
TARGET_SCORE = 0.90

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code), folded into the classes the score needs
TIMEOUT_CODES = {36, -24, 24, 152, 255}
KILLED_CODES = {1, 3, 37} | TIMEOUT_CODES  # a failing test, the type check, or a timeout (also counted on its own)
SURVIVED_CODES = {0}
NO_TEST_CODES = {5, 33}
SKIPPED_CODES = {34}


@dataclass(frozen=True)
class Shard:
    """One mutation run: the modules it mutates, optionally only some of their functions, and the tests it runs."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    functions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # module -> function names ("Class.method")
    pytest_args: tuple[str, ...] = ()  # e.g. a -k expression leaving out tests mutmut cannot instrument
    # seconds added to each mutant's CPU-time limit (mutmut's timeout_constant): tests whose fixtures export or train a
    # model spend that time once per mutant process, which mutmut's per-test estimate does not see
    setup_s: float = 1.0

    def selects(self, module: str, function: str) -> bool:
        """Whether the shard's score counts ``function`` (a name as ``Class.method`` or ``function``) of ``module``."""
        wanted = self.functions.get(module)
        return module in self.modules and (wanted is None or function in wanted)


SHARDS: tuple[Shard, ...] = (
    Shard("metrics", ("ecgformer/metrics.py",),
          ("tests/test_metrics.py",
           "tests/test_bench_protocol.py::test_resampled_metrics_equal_loops_with_the_reference_metrics",
           "tests/test_bench_protocol.py::test_paired_bootstrap_against_a_loop_and_its_limits")),
    Shard("losses", ("ecgformer/losses.py",), ("tests/test_losses.py",)),
    Shard("thresholds", ("ecgformer/training/thresholds.py",), ("tests/test_thresholds.py",)),
    Shard("module_evaluation", ("ecgformer/training/module.py",), ("tests/test_training.py",),
          {"ecgformer/training/module.py": (
              "evaluation_metrics", "EcgClassifier.probabilities", "EcgClassifier._record_probabilities",
              "EcgClassifier._evaluate", "EcgClassifier._gathered", "EcgClassifier._log_metrics",
              "EcgClassifier.validation_step", "EcgClassifier.on_validation_epoch_end", "EcgClassifier.test_step",
              "EcgClassifier.on_test_epoch_end")}, setup_s=120.0),
    Shard("preprocess", ("ecgformer/data/preprocess.py",), ("tests/test_data_preprocess.py",)),
    Shard("readers", ("ecgformer/data/ptbxl.py", "ecgformer/data/cinc2017.py", "ecgformer/data/cinc2021.py",
                      "ecgformer/data/mitdb.py", "ecgformer/data/ludb.py", "ecgformer/data/labels.py",
                      "ecgformer/data/base.py"),
          ("tests/test_data_ptbxl.py", "tests/test_data_cinc2017.py", "tests/test_data_cinc2021.py",
           "tests/test_data_mitdb.py", "tests/test_data_ludb.py"),
          {"ecgformer/data/ptbxl.py": ("ptbxl_task_map", "PTBXL._scan"),
           "ecgformer/data/cinc2017.py": ("CinC2017._scan",),
           "ecgformer/data/cinc2021.py": ("read_scored_classes", "CinC2021._scan"),
           "ecgformer/data/mitdb.py": ("read_annotations", "MITBIH._scan", "MITBIH._split_mask"),
           "ecgformer/data/ludb.py": ("ludb_statements", "_clean", "_header_statements", "LUDB._scan"),
           "ecgformer/data/labels.py": ("multi_hot", "hash_fold"),
           "ecgformer/data/base.py": ("LabelledSource.split", "Candidate.assign")}, setup_s=120.0),
    Shard("inference", ("ecgformer/inference/bundle.py", "ecgformer/inference/predictor.py"),
          ("tests/test_inference.py",),
          {"ecgformer/inference/bundle.py": ("BundleSpec.conform", "BundleSpec.windows", "BundleSpec.prepare",
                                             "BundleSpec.probabilities", "BundleSpec.labels"),
           "ecgformer/inference/predictor.py": ("Prediction.row", "_path_status", "Predictor.predict_signal",
                                                "Predictor.predict_file", "Predictor.predict",
                                                "write_predictions")}, setup_s=120.0),
    Shard("export_parity", ("ecgformer/export/bundle.py",),
          ("tests/test_export.py::test_parity_batch_is_the_first_window_of_each_record_and_names_them",
           "tests/test_export.py::test_parity_inputs_come_from_the_root_given_else_are_synthetic",
           "tests/test_export.py::test_parity_lengths_by_hand",
           "tests/test_export.py::test_check_parity_runs_every_length_and_the_first_record_alone",
           "tests/test_export.py::test_check_parity_failures_word_for_word",
           "tests/test_export.py::test_failed_export_leaves_no_half_bundle",
           "tests/test_export.py::test_every_preset_exports_onnx_within_tolerance[xresnet1d50]",
           "tests/test_export.py::test_every_preset_exports_an_exported_program_within_tolerance[xresnet1d50]"),
          {"ecgformer/export/bundle.py": ("parity_batch", "parity_inputs", "parity_lengths", "check_parity")},
          setup_s=120.0),
    # FlexAttention compiles its mask function, which calls window_bounds: torch.compile cannot trace mutmut's
    # trampoline (a ContextVar lookup), so the flex tests stay out; the reference and blocked backends use the same
    # window_bounds and neighborhood_mask. Of the 1,520 brute-force cases, the 288 of lengths 2 / 7 / 257 (one, a few
    # and several blocks), kernels 1 / 3 / 9 / 65 (65 > 7 and 257 / 8: the window clamps at both ends) and
    # dilations 1 / 3 / 8 run per mutant (a surviving mutant costs the whole selection).
    Shard("local_attention", ("ecgformer/ops/local_attention.py", "ecgformer/ops/neighborhood.py"),
          ("tests/test_ops_local_attention.py",),
          pytest_args=("-k", "not test_flex_ and (not test_matches_brute_force or ((N2- or N7- or N257-) and "
                             "(K1- or K3- or K9- or K65-) and (d1- or d3- or d8-)))")),
)


def shard_named(name: str) -> Shard:
    """The shard called ``name``; a one-line error lists the names otherwise."""
    for shard in SHARDS:
        if shard.name == name:
            return shard
    raise SystemExit(f"unknown shard {name!r}; shards: {', '.join(s.name for s in SHARDS)}")


def dotted(module: str) -> str:
    """``ecgformer/data/ptbxl.py`` -> ``ecgformer.data.ptbxl``."""
    return module.removesuffix(".py").replace("/", ".")


def mutant_prefix(module: str, function: str) -> str:
    """mutmut's name stem for the mutants of ``function`` (``name`` or ``Class.method``) in ``module``."""
    if "." in function:
        cls, method = function.split(".")
        return f"{dotted(module)}.x\u01c1{cls}\u01c1{method}__mutmut_"
    return f"{dotted(module)}.x_{function}__mutmut_"


def parse_mutant(name: str) -> tuple[str, str]:
    """Split a mutant name into its module (``ecgformer.metrics``) and function (``auroc`` or ``Class.method``)."""
    stem = name.rsplit("__mutmut_", 1)[0]
    module, _, function = stem.rpartition(".x")
    if function.startswith("\u01c1"):
        cls, method = function[1:].split("\u01c1", 1)
        return module, f"{cls}.{method}"
    return module, function.removeprefix("_")


def function_spans(source: str) -> list[tuple[str, int, int]]:
    """``(name, first line, last line)`` of every function mutmut mutates on its own: module-level functions and
    methods of module-level classes (nested functions belong to the function around them). Decorators count."""
    spans = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans.append((node.name, _first_line(node), node.end_lineno or node.lineno))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    spans.append((f"{node.name}.{item.name}", _first_line(item), item.end_lineno or item.lineno))
    return spans


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return min([node.lineno] + [d.lineno for d in node.decorator_list])


HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def changed_lines(diff: str) -> dict[str, set[int]]:
    """Lines of the new files that a ``git diff -U0`` adds or changes, per file; a pure deletion marks the line it
    happened at, so the function that lost lines counts as changed."""
    lines: dict[str, set[int]] = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else None
            if current is not None:
                lines.setdefault(current, set())
        elif current is not None and (match := HUNK.match(line)):
            start, count = int(match.group(1)), int(match.group(2) or 1)
            lines[current].update(range(start, start + count) if count else {max(start, 1)})
    return lines


def changed_functions(diff: str, read_source=lambda path: (REPO / path).read_text()) -> dict[str, set[str]]:
    """Functions (``name`` or ``Class.method``) of each file that the diff touches."""
    touched: dict[str, set[str]] = {}
    for path, lines in changed_lines(diff).items():
        if not path.endswith(".py"):
            continue
        spans = function_spans(read_source(path))
        names = {name for name, first, last in spans if any(first <= n <= last for n in lines)}
        if names:
            touched[path] = names
    return touched


def git_diff(base: str) -> str:
    """``git diff -U0 base`` of the working tree over every shard's modules."""
    modules = sorted({m for shard in SHARDS for m in shard.modules})
    done = subprocess.run(["git", "diff", "-U0", base, "--", *modules], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"git diff {base} failed: {done.stderr.strip()}")
    return done.stdout


def changed_patterns(shard: Shard, touched: dict[str, set[str]]) -> list[str]:
    """mutmut name patterns for the shard's functions among ``touched``."""
    return [mutant_prefix(module, function) + "*"
            for module in shard.modules for function in sorted(touched.get(module, ()))
            if shard.selects(module, function)]


def shard_patterns(shard: Shard) -> list[str]:
    """mutmut name patterns for every function the shard counts (every mutant of a module without a filter)."""
    patterns = []
    for module in shard.modules:
        wanted = shard.functions.get(module)
        if wanted is None:
            patterns.append(f"{dotted(module)}.x*")
        else:
            patterns += [mutant_prefix(module, function) + "*" for function in wanted]
    return patterns


def mutmut_config(shard: Shard) -> str:
    """The ``[tool.mutmut]`` table of the shard's folder."""
    def array(items: list[str] | tuple[str, ...]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return ("\n[tool.mutmut]\n"
            'source_paths = ["ecgformer"]\n'
            f"only_mutate = {array(shard.modules)}\n"
            f"pytest_add_cli_args_test_selection = {array(shard.tests)}\n"
            f"pytest_add_cli_args = {array(['-p', 'no:cacheprovider', '-q', *shard.pytest_args])}\n"
            f"timeout_constant = {shard.setup_s}\n"
            # torch is not fork-safe once it has run: fork each mutant from a process that imported, never ran
            'process_isolation = "forkserver"\n')


def prepare(shard: Shard, root: Path) -> Path:
    """Mirror the package, the tests and pyproject.toml (with the shard's mutmut table) into the shard's folder."""
    folder = root / shard.name
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ecgformer", "tests"):
        target = folder / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(REPO / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    project = (REPO / "pyproject.toml").read_text()
    (folder / "pyproject.toml").write_text(project.split("\n[tool.mutmut]")[0] + mutmut_config(shard))
    return folder


class MutmutError(RuntimeError):
    """mutmut stopped with an error (e.g. the tests failed on the unmutated code): the shard has no score."""


def run_mutmut(folder: Path, patterns: list[str], max_children: int, budget_s: float | None) -> tuple[float, bool]:
    """Run mutmut in ``folder`` on the mutants matching ``patterns``; return (seconds, stopped by the budget)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.setdefault("ECGFORMER_DATA", str(REPO.parent / "shared" / "data"))
    start = time.monotonic()
    with open(folder / "mutmut.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children),
                                    *patterns], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)
            process.wait()
            return time.monotonic() - start, True
    if process.returncode:
        lines = [line for line in (folder / "mutmut.log").read_text(errors="replace").splitlines()
                 if line.strip() and not "\u2800" <= line.lstrip()[0] <= "\u28ff"]  # not the braille spinner
        raise MutmutError(f"mutmut failed in {folder} (exit {process.returncode}): " + " | ".join(lines[-5:]))
    return time.monotonic() - start, False


def pending(folder: Path, shard: Shard, patterns: list[str], rerun: str) -> list[str]:
    """The mutants a run with ``rerun`` (``"all"``, ``"unchecked"``, ``"survivors"``) must check: the shard's
    patterns for a first or full run, else the names, from the previous run's results, not yet checked (a run that
    was stopped) or not killed (after tests were added)."""
    results = mutant_results(folder, shard, patterns)
    if rerun == "all" or not results:
        return patterns
    return [n for n, c in results.items() if c is None or (rerun == "survivors" and c not in KILLED_CODES)]


def mutant_results(folder: Path, shard: Shard, patterns: list[str] | None = None) -> dict[str, int | None]:
    """Exit code per mutant that the shard counts (None: not checked yet), read from mutmut's ``.meta`` files; only
    the names matching one of ``patterns`` when given."""
    results: dict[str, int | None] = {}
    for module in shard.modules:
        meta = folder / "mutants" / (module + ".meta")
        if not meta.exists():
            continue
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            module_name, function = parse_mutant(name)
            if dotted(module) == module_name and shard.selects(module, function) and (
                    patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)):
                results[name] = code
    return results


def shard_seconds(folder: Path, seconds: float, rerun: str) -> float | None:
    """The shard's mutmut time since its last full run: ``seconds`` plus, unless ``rerun`` is ``"all"``, the time
    of the runs that resumed or re-checked it (kept in ``run_seconds.json`` of its folder); for ``rerun="none"``
    the recorded time, None when no run of this tool recorded one."""
    record = folder / "run_seconds.json"
    if rerun == "none":
        return json.loads(record.read_text()) if record.exists() else None
    total = seconds + (json.loads(record.read_text()) if rerun != "all" and record.exists() else 0.0)
    record.write_text(json.dumps(total))
    return total


def stats_run(folder: Path) -> dict[str, str]:
    """``date`` and short ``commit`` of the shard's last mutmut run, from its stats file: a re-scored shard keeps
    those of the run that checked its mutants."""
    stats = folder / "mutants" / "mutmut-stats.json"
    if not stats.exists():
        return {}
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stats.stat().st_mtime))
    return {"date": date, "commit": (json.loads(stats.read_text()).get("git_commit") or "")[:7]}


def load_equivalents(folder: Path = EQUIVALENTS) -> dict[str, dict[str, str]]:
    """The listed equivalent mutants of every shard: name -> {"mutant", "line": the line the mutant writes,
    "reason": why it cannot change behaviour}."""
    return {entry["mutant"]: entry for path in sorted(folder.glob("*.json")) for entry in json.loads(path.read_text())}


def mutant_diff(folder: Path, name: str) -> str:
    """``mutmut show NAME``: the mutant as a diff against the original function."""
    return subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=folder, capture_output=True,
                          text=True).stdout


def added_lines(diff: str) -> list[str]:
    """The stripped lines a unified diff adds."""
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def module_scores(folder: Path, shard: Shard, results: dict[str, int | None],
                  equivalents: dict[str, dict[str, str]]) -> tuple[dict[str, dict], list[str], list[str]]:
    """Per module: counts and score; plus the surviving mutants and the stale equivalence entries."""
    scores: dict[str, dict] = {}
    survivors, stale = [], []
    for module in shard.modules:
        counts = dict.fromkeys(("killed", "timeout", "survived", "no_tests", "equivalent", "skipped", "other",
                                "not_checked"), 0)
        for name, code in results.items():
            if parse_mutant(name)[0] != dotted(module):
                continue
            if code is None:
                counts["not_checked"] += 1
            elif code in KILLED_CODES:
                counts["killed"] += 1
                counts["timeout"] += code in TIMEOUT_CODES
            elif code in SKIPPED_CODES:
                counts["skipped"] += 1
            elif name in equivalents:
                if equivalents[name]["line"].strip() in added_lines(mutant_diff(folder, name)):
                    counts["equivalent"] += 1
                else:
                    stale.append(name)
                    counts["survived"] += 1
                    survivors.append(name)
            elif code in SURVIVED_CODES | NO_TEST_CODES:
                counts["survived" if code in SURVIVED_CODES else "no_tests"] += 1
                survivors.append(name)
            else:  # suspicious, segfault: neither a clean kill nor a survivor; counted against the score
                counts["other"] += 1
                survivors.append(name)
        scored = counts["killed"] + counts["survived"] + counts["no_tests"] + counts["other"]
        counts["score"] = round(counts["killed"] / scored, 4) if scored else None
        scores[module] = counts
    return scores, survivors, stale


def main(argv: list[str] | None = None) -> int:
    """Run the chosen shards (all by default, or only the changed functions) and report the score per module."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shard", nargs="+", default=None, help="shards to run (default: all)")
    parser.add_argument("--changed", metavar="REF", default=None,
                        help="only the mutants of the functions changed since the git revision REF")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="stop after this many seconds in all (mutants not reached are reported as not checked)")
    parser.add_argument("--rerun", choices=("all", "unchecked", "survivors", "none"), default="all",
                        help="all mutants (default), or, from the shard's previous run, those not checked yet "
                             "(resume a stopped run), those not killed (after adding tests), or none (score the "
                             "previous run again, e.g. after listing equivalents)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant processes (default 1)")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when a module scores below {TARGET_SCORE:.0%} or an equivalence entry is stale")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "mutation", help="folder of the shard runs")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"write the scores here (default for a full run: {RESULTS.relative_to(REPO)})")
    parser.add_argument("--list", action="store_true", help="list the shards and exit")
    args = parser.parse_args(argv)
    if args.list:
        for shard in SHARDS:
            print(f"{shard.name}: {', '.join(shard.modules)} <- {', '.join(shard.tests)}")
        return 0
    shards = [shard_named(n) for n in args.shard] if args.shard else list(SHARDS)
    touched = changed_functions(git_diff(args.changed)) if args.changed else None
    equivalents = load_equivalents()
    machine = machine_info()
    report: dict = {"benchmark": "mutation", "tool": f"mutmut {version('mutmut')}", "target_score": TARGET_SCORE,
                    "machine": machine, "cpus": os.cpu_count(), "shards": {}, "modules": {}}
    failed = broken = False
    deadline = None if args.budget_s is None else time.monotonic() + args.budget_s
    for shard in shards:
        patterns = changed_patterns(shard, touched) if touched is not None else shard_patterns(shard)
        if not patterns:
            print(f"{shard.name}: no changed function to mutate")
            continue
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            print(f"{shard.name}: not run, the budget is spent")
            continue
        folder = args.work / shard.name if args.rerun == "none" else prepare(shard, args.work)
        names = [] if args.rerun == "none" else pending(folder, shard, patterns, args.rerun)
        print(f"{shard.name}: mutmut on {len(names)} mutant name pattern(s) in {folder}", flush=True)
        try:
            seconds, out_of_time = run_mutmut(folder, names, args.max_children, left) if names else (0.0, False)
            seconds = shard_seconds(folder, seconds, args.rerun)
        except MutmutError as error:  # one broken shard does not stop the others
            print(f"  {error}")
            report["shards"][shard.name] = {"error": str(error)}
            broken = True
            continue
        results = mutant_results(folder, shard, patterns)
        scores, survivors, stale = module_scores(folder, shard, results, equivalents)
        ran = stats_run(folder) if args.rerun == "none" else machine
        report["shards"][shard.name] = {"seconds": None if seconds is None else round(seconds), "stopped_by_budget": out_of_time,
                                        "date": ran.get("date"), "commit": ran.get("commit"),
                                        "tests": list(shard.tests), "survivors": survivors, "stale_equivalents": stale}
        report["modules"].update(scores)
        for module, counts in scores.items():
            low = counts["score"] is not None and counts["score"] < TARGET_SCORE
            failed |= low
            print(f"  {module}: {counts}{'  BELOW TARGET' if low else ''}")
        for name in survivors:
            print(f"  survived: {name}")
        for name in stale:
            print(f"  stale equivalence entry (the mutant no longer writes the listed line): {name}")
        failed |= bool(stale)
        if out_of_time:
            print(f"  stopped by the budget ({seconds:.0f} s of mutmut in all); mutants not checked are listed as "
                  "not_checked")
    out = args.out or (RESULTS if touched is None else None)
    if out is not None:  # shards run on their own update their entries of an existing report
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            previous = json.loads(out.read_text())
            report["shards"] = {**previous.get("shards", {}), **report["shards"]}
            report["modules"] = {**previous.get("modules", {}), **report["modules"]}
        report["command"] = "python tools/mutation.py" + "".join(f" --shard {name}" for name in report["shards"])
        report["wall_s"] = sum(shard.get("seconds") or 0 for shard in report["shards"].values())
        report["targets"] = [{"target": f"{module} mutants killed", "value": counts["score"], "limit": TARGET_SCORE,
                              "met": counts["score"] is not None and counts["score"] >= TARGET_SCORE}
                             for module, counts in sorted(report["modules"].items())]
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out}")
    return 1 if broken or (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
