"""``ecgformer bench report``: ``benchmarks/RESULTS.md`` and every plot, from the benchmark results present.

Reads every ``*.json`` benchmark result directly under the results folder (``ops``, ``mixers``, ``models``,
``inference``, ``data``; see :func:`ecgformer.bench.plots.benchmark_kind`), draws its PNG beside it, and every
training grid folder (one with a ``summary.json`` from ``ecgformer bench train``, only read; a hand-written
``NOTES.md`` there, with the recipe's context and caveats, opens the grid's section). The Markdown has
one section per result: command, wall time, machine, git commit and date, the key numbers, the targets and
the plot. The text depends on the results only, so regenerating unchanged results gives the same file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .plots import DATA_RATES, KINDS, benchmark_kind, render_png
from .timing import write_atomic

__all__ = ["RANKINGS", "TITLES", "add_report_parser", "comparison_cell", "grid_section", "markdown_table",
           "result_markdown", "result_section", "result_tables", "write_results"]

TITLES = {"ops": "Local attention backends", "mixers": "Token mixers", "models": "Model presets",
          "inference": "Inference: eager PyTorch vs onnxruntime", "data": "Data loading",
          "mutation": "Mutation testing of the clinical-output code", "planted_bugs": "Planted bugs"}


#: How a grid's models may be ordered: by validation score, or by name when a grid's runs recorded none
#: (runs made before ``benchmarks/PROTOCOL.md``). Never by test score.
RANKINGS = ("validation", "name")

def _num(value: object, spec: str | None = None) -> str:
    """``value`` formatted with ``spec``, or to 3 significant digits with thousands separators; "-" if missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "-"
    if spec is not None:
        return format(value, spec)
    if value == 0 or math.isinf(value):
        return f"{value:g}"
    return f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: the first column left-aligned,
    the others right-aligned, as for a name followed by numbers)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _ops_tables(result: dict[str, Any]) -> list[str]:
    rows = result["rows"]
    impls = list(dict.fromkeys(str(row["impl"]) for row in rows))
    cases = list(dict.fromkeys((row["dilation"], row["N"]) for row in rows))
    by_case = {(row["dilation"], row["N"], row["impl"]): row for row in rows}

    def pivot(caption: str, first: str, second: str) -> str:
        cells = [[d, n, *(f"{_num(by_case.get((d, n, impl), {}).get(first))} / "
                          f"{_num(by_case.get((d, n, impl), {}).get(second))}" for impl in impls)]
                 for d, n in cases]
        return caption + "\n\n" + markdown_table(["d", "N", *impls], cells)

    return [pivot("Time in ms, forward / forward+backward (`-`: not measured):", "fwd_ms", "fwd_bwd_ms"),
            pivot("Peak memory in MiB above the inputs, forward / forward+backward:", "fwd_peak_mb",
                  "fwd_bwd_peak_mb")]


def _mixers_tables(result: dict[str, Any]) -> list[str]:
    rows = [row for row in result["rows"] if "error" not in row]
    lengths = sorted({int(row["N"]) for row in rows})
    flops_at = int(result.get("config", {}).get("slope_range", lengths)[0])
    by_case = {(row["mixer"], int(row["N"])): row for row in rows}
    fits = {fit["mixer"]: fit for fit in result.get("slopes", [])}
    limit = result.get("config", {}).get("slope_limit")
    per_n = " / ".join(str(n) for n in lengths)
    header = ["mixer", "params", f"GFLOPs N={flops_at}", f"fwd ms N={per_n}", f"fwd+bwd ms N={per_n}",
              f"peak fwd+bwd MiB N={lengths[-1]}", "slope fwd / fwd+bwd", f"linear by design (slope <= {limit})"]
    body = []
    for name in dict.fromkeys(str(row["mixer"]) for row in result["rows"]):
        fit = fits.get(name, {})
        verdict = f"yes: {_verdict(fit.get('met'))}" if fit.get("linear_by_design") else "no"
        mine = [by_case.get((name, n), {}) for n in lengths]
        params = next(row["params"] for row in result["rows"] if row["mixer"] == name)
        body.append([f"`{name}`", _num(params, ","),
                     _num(by_case.get((name, flops_at), {}).get("gflops"), ".2f"),
                     " / ".join(_num(row.get("fwd_ms")) for row in mine),
                     " / ".join(_num(row.get("fwd_bwd_ms")) for row in mine), _num(mine[-1].get("fwd_bwd_peak_mb")),
                     f"{_num(fit.get('fwd_slope'), '.2f')} / {_num(fit.get('fwd_bwd_slope'), '.2f')}", verdict])
    errors = [f"`{row['mixer']}` N={row['N']}: {row['error']}" for row in result["rows"] if "error" in row]
    return [markdown_table(header, body, align="lrrrrrrl")] + (["Errors: " + "; ".join(errors)] if errors else [])


def _models_tables(result: dict[str, Any]) -> list[str]:
    config = result["config"]
    header = ["model", "params (M)", f"GFLOPs ({config['in_chans']} x {config['length']})", "train ECG/s",
              "inference ECG/s", "peak train MiB", "peak inference MiB"]
    return [markdown_table(header, ([f"`{row['model']}`", _num(row["params"] / 1e6, ".2f"), _num(row["gflops"], ".3f"),
                                     _num(row["train_ecg_s"], ".1f"), _num(row["infer_ecg_s"], ".1f"),
                                     _num(row.get("train_peak_mb"), ".0f"), _num(row.get("infer_peak_mb"), ".0f")]
                                    for row in result["rows"]))]


def _inference_tables(result: dict[str, Any]) -> list[str]:
    header = ["model", "threads", "runtime", "p50 ms", "p95 ms", "batch ECGs/s"]
    return [markdown_table(header, ([f"`{row['model']}`", row["threads"], row["runtime"], _num(row["p50_ms"], ".1f"),
                                     _num(row["p95_ms"], ".1f"), _num(row["throughput"], ".1f")]
                                    for row in result["rows"]), align="lllrrr")]


def _data_tables(result: dict[str, Any]) -> list[str]:
    header = ["dataset", "records", *(f"{name} records/s" for name in DATA_RATES.values()),
              "cache vs WFDB + preprocessing"]
    row = [result["dataset"], result["records"], *(_num(result.get(key), ",.0f") for key in DATA_RATES),
           f"x{_num(result.get('speedup_vs_wfdb_preprocessed'), '.0f')}"]
    return [markdown_table(header, [row])]


def _mutation_tables(result: dict[str, Any]) -> list[str]:
    header = ["module", "mutants", "killed", "survived", "no test", "equivalent", "score"]
    rows = []
    for module, counts in sorted(result["modules"].items()):
        total = sum(counts[key] for key in ("killed", "survived", "no_tests", "equivalent", "other"))
        rows.append([f"`{module}`", total, counts["killed"], counts["survived"] + counts["other"], counts["no_tests"],
                     counts["equivalent"], "-" if counts["score"] is None else f"{100 * counts['score']:.1f} %"])
    shards = [[f"`{name}`", ", ".join(f"`{test}`" for test in shard.get("tests", [])) or shard.get("error", ""),
               "-" if shard.get("seconds") is None else _duration(shard["seconds"])]
              for name, shard in sorted(result["shards"].items())]
    return [markdown_table(header, rows, align="lrrrrrr"),
            "Shards (tests run against each mutant, time of the shard's last run):\n\n"
            + markdown_table(["shard", "tests", "time"], shards)]


def _planted_bugs_tables(result: dict[str, Any]) -> list[str]:
    rows = [[number, bug["title"], f"`{bug['file']}`", bug["outcome"], _num(bug["seconds"], ".1f")]
            for number, bug in enumerate(result["bugs"], 1)]
    return [markdown_table(["#", "bug", "file", "outcome", "seconds"], rows, align="rlllr")]


_TABLES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "ops": _ops_tables, "mixers": _mixers_tables, "models": _models_tables, "inference": _inference_tables,
    "data": _data_tables, "mutation": _mutation_tables, "planted_bugs": _planted_bugs_tables}


def result_tables(result: dict[str, Any]) -> list[str]:
    """The key numbers of a benchmark result as Markdown tables (each with its caption where it needs one)."""
    kind = benchmark_kind(result)
    if kind not in _TABLES:
        raise ValueError(f"no tables for benchmark kind {kind!r}; known: {', '.join(_TABLES)}")
    return _TABLES[kind](result)


def result_markdown(result: dict[str, Any]) -> str:
    """:func:`result_tables` joined into one Markdown block (what ``bench models --markdown`` prints)."""
    return "\n\n".join(result_tables(result))


def _verdict(met: object) -> str:
    return "met" if met else "**NOT MET**"


def _targets_table(targets: list[dict[str, Any]]) -> str:
    """Targets with their verdicts; keys besides the standard ones (e.g. ``dilation``) prefix the target."""
    standard = ("target", "value", "limit", "met")
    body = [[", ".join([*(f"{key} {value}" for key, value in target.items() if key not in standard),
                        str(target["target"])]), target["value"], target["limit"], _verdict(target["met"])]
            for target in targets]
    return markdown_table(["target", "value", "limit", "verdict"], body, align="lrrl")


def _machine(machine: dict[str, Any]) -> str:
    threads = machine.get("threads")
    parts = [str(machine.get("cpu")), f"{threads} thread{'' if threads == 1 else 's'}"]
    if machine.get("gpu"):
        parts.append(f"GPU {machine['gpu']}")
    return ", ".join([*parts, f"torch {machine.get('torch')}", f"Python {machine.get('python')}"])


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _link(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (the report's folder), as a Markdown link target."""
    return Path(os.path.relpath(path, base)).as_posix()


def result_section(path: Path, result: dict[str, Any], base: Path) -> str:
    """The RESULTS.md section of the benchmark result ``path`` (its PNG beside it, links relative to ``base``)."""
    kind = benchmark_kind(result)
    machine = result.get("machine", {})
    command = f"`{result['command']}`" if "command" in result else "command not recorded"
    lines = [f"## {TITLES[kind]}: [`{path.name}`]({_link(path, base)})", "",
             f"- command: {command}",
             f"- wall time: {_duration(result['wall_s']) if 'wall_s' in result else 'not recorded'}",
             f"- machine: {_machine(machine)}",
             f"- git commit: `{machine.get('commit')}`, {machine.get('date')}"]
    if "config" in result:
        lines.append("- configuration: " + ", ".join(f"{key} {value}" for key, value in result["config"].items()))
    lines += ["", "\n\n".join(result_tables(result))]
    if result.get("targets"):
        lines += ["", "Targets:", "", _targets_table(result["targets"])]
    png = path.with_suffix(".png")
    lines += ["", f"![{kind} plot]({_link(png, base)})", ""]
    return "\n".join(lines)


NOTES_FILE = "NOTES.md"  # hand-written context of a grid (recipe, targets, caveats), put first in its section


def _seeds(runs: list[dict[str, Any]]) -> str:
    models = dict.fromkeys(str(run["model"]) for run in runs)
    return "; ".join(f"`{model}` seeds " + ", ".join(str(run["seed"]) for run in runs if run["model"] == model)
                     for model in models)


def comparison_cell(comparison: dict[str, Any] | None) -> str:
    """``+0.004 [-0.010, +0.018] tie`` for a paired bootstrap result, ``-`` without one."""
    if not comparison:
        return "-"
    verdict = "tie" if comparison["tie"] else ("better" if comparison["difference"] > 0 else "worse")
    return (f"{comparison['difference']:+.4f} [{comparison['low']:+.4f}, {comparison['high']:+.4f}] "
            f"{verdict if comparison['tie'] else f'**{verdict}**'}")


def _ranking_text(summary: dict[str, Any], metric: str) -> str:
    if summary.get("ranked_by", "name") == "validation":
        reference = summary.get("reference")
        return (f"Models ranked by their mean best validation score ({summary['rows'][0]['val_monitor']}, the "
                "checkpoint's epoch), never by test (`benchmarks/PROTOCOL.md`)."
                + (f" Δ test: the difference in test `{metric}` to `{reference}` (the validation-best tested model), "
                   "mean over the common seeds, with its paired bootstrap 95% interval over test records; an interval "
                   "covering 0 is a tie." if reference else " No run is tested yet."))
    return ("**Selection not recorded**: these runs were made before `benchmarks/PROTOCOL.md` and kept no validation "
            "score, so rows are in name order and the order is no ranking; where the NOTES say a choice was made on "
            "test scores, read those figures as chosen on test.")


def _ordered(summary: dict[str, Any], rank_by: str) -> dict[str, Any]:
    """``summary`` with its rows ranked by validation (when every row has a validation score) or by name; a summary
    written before the protocol (rows in test order) is re-ordered by name and marked as such."""
    if rank_by not in RANKINGS:
        raise ValueError(f"--rank-by {rank_by}: grids are ranked on validation (benchmarks/PROTOCOL.md), never on "
                         f"test; choose one of {', '.join(RANKINGS)}")
    rows = list(summary["rows"])
    validated = rank_by == "validation" and summary.get("ranked_by") == "validation" and \
        all(row.get("val_mean") is not None for row in rows)
    if validated:
        rows.sort(key=lambda row: row["val_mean"] if row.get("val_mode") == "min" else -row["val_mean"])
    else:
        rows.sort(key=lambda row: row["model"])
    return {**summary, "rows": rows, "ranked_by": "validation" if validated else "name"}


def grid_section(folder: Path, summary: dict[str, Any], base: Path, rank_by: str = "validation") -> str:
    """The RESULTS.md section of a training grid folder (``summary.json`` of ``ecgformer bench train``), its models
    ranked by validation (``rank_by="validation"``, falling back to names where no validation was recorded) or by
    name; ranking by test is refused."""
    summary = _ordered(summary, rank_by)
    metric, rows, runs = summary["metric"], summary["rows"], summary["runs"]
    table = markdown_table(
        ["model", "seeds (tested)", "validation mean ± std (best epochs)", f"test {metric} mean ± std",
         "Δ test vs reference [95% CI]", "params (M)", "GFLOPs", "wall min/run", "commits"],
        ([f"`{row['model']}`", f"{row['n']} ({row.get('n_tested', row['n'])})",
          (f"{_num(row.get('val_mean'), '.4f')} ± {_num(row.get('val_std'), '.4f')} "
           f"({', '.join(map(str, row.get('val_epochs') or [])) or '-'})"),
          f"{_num(row[f'{metric}_mean'], '.4f')} ± {_num(row[f'{metric}_std'], '.4f')}",
          "reference" if row["model"] == summary.get("reference") else comparison_cell(row.get("vs_reference")),
          _num(row["params"] / 1e6, ".2f"), _num(row["gflops"], ".3f"), _num(row["wall_min_mean"], ".1f"),
          ", ".join(f"`{commit}`" for commit in row["commits"])] for row in rows), align="lrrrlrrrl")
    machines = [_machine(run["machine"]) for run in runs]
    dates = sorted(str(run["machine"].get("date")) for run in runs)
    notes = folder / NOTES_FILE
    declared = summary.get("declared")
    lines = [f"## Training grid: [`{folder.name}`]({_link(folder / 'summary.json', base)})", "",
             *([notes.read_text().strip(), ""] if notes.is_file() else []),
             _ranking_text(summary, metric), "",
             *([f"Declared final on {declared['machine']['date']} (commit `{declared['machine'].get('commit')}`) "
                f"before its test runs: {declared['reason']}", ""] if declared else []),
             (f"Per model: best validation score, test `{metric}` (mean ± std over the tested seeds), GFLOPs of one "
              "forward pass over an evaluation window, wall time of training per run."), "", table, "",
             *(f"- machine: {machine} (runs: {machines.count(machine)})" for machine in dict.fromkeys(machines)),
             f"- runs dated {dates[0]} to {dates[-1]}; total wall time {_duration(sum(r['wall_s'] for r in runs))}",
             "", "Commands, each with the runs it made (finished runs are skipped, so a grid runs in pieces):", ""]
    for command in dict.fromkeys(str(run.get("command") or "") for run in runs):
        mine = [run for run in runs if str(run.get("command") or "") == command]
        lines.append(f"- {f'`{command}`' if command else 'command not recorded'}: {_seeds(mine)}")
    pairs = summary.get("pairs") or []
    if len(pairs) > 1:  # one pair is the Δ column already
        lines += ["", (f"Every pair of tested models: test `{metric}` of A minus B (A ranked above B on validation), "
                       "mean over the seeds tested in both, with its paired bootstrap 95% interval over test records; "
                       "an interval covering 0 is a tie."), "",
                  markdown_table(["A", "B", "seeds", "Δ test A − B [95% CI]"],
                                 ([f"`{pair['a']}`", f"`{pair['b']}`", ", ".join(map(str, pair["seeds"])),
                                   comparison_cell(pair)] for pair in pairs), align="llll")]
    classes = list(dict.fromkeys(name for row in rows for name in row.get("per_class_auroc") or {}))
    if classes:
        lines += ["", "Per-class test AUROC (mean over tested seeds):", "",
                  markdown_table(["model", *classes],
                                 ([f"`{row['model']}`", *(_num((row.get("per_class_auroc") or {}).get(name), ".3f")
                                                          for name in classes)] for row in rows))]
    if (folder / "summary.png").is_file():
        lines += ["", f"![{folder.name} summary]({_link(folder / 'summary.png', base)})"]
    return "\n".join([*lines, ""])


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: cannot read {path}: {error}") from error


def write_results(results: str | Path = "benchmarks/results", out: str | Path = "benchmarks/RESULTS.md",
                 log: Callable[[str], None] = print, rank_by: str = "validation") -> str:
    """Redraw the PNG of every benchmark JSON in ``results``, write ``out`` from them and the training grids (models
    ranked by ``rank_by``: validation or name, never test; see :func:`grid_section`)."""
    results, out = Path(results), Path(out)
    _ordered({"rows": []}, rank_by)  # refuses a test ranking before anything is written
    found = []
    for path in sorted(results.glob("*.json")):
        result = _load(path)
        kind = benchmark_kind(result)
        if kind not in KINDS:
            log(f"skipped {path}: not a benchmark result")
            continue
        write_atomic(path.with_suffix(".png"), render_png(result))
        found.append((KINDS.index(kind), path.name, path, result))
    sections = [result_section(path, result, out.parent) for *_, path, result in sorted(found, key=lambda f: f[:2])]
    grids = sorted((path.parent for path in results.glob("*/summary.json")), key=lambda folder: folder.name)
    sections += [grid_section(folder, _load(folder / "summary.json"), out.parent, rank_by) for folder in grids]
    header = [
        "# Benchmark results", "",
        (f"Generated by `ecgformer bench report` from the results under `{results.as_posix()}/`; do not edit by "
         "hand. Regenerate this file and every plot after a benchmark wrote new results:"), "",
        "```bash", f"ecgformer bench report --results {results.as_posix()} --out {out.as_posix()}", "```", "",
        ("Every benchmark is one command that writes a JSON result (`--out FILE.json`) and its plot beside it "
         "(`FILE.png`); `ecgformer bench train` writes one folder per training grid (`summary.json`, `summary.csv`, "
         "`summary.png` and a folder per run). Each section gives the command, its wall time, the machine and the "
         "git commit its numbers come from. Rows of one table were measured in one run and compare; numbers of different "
         "sections or machines do not."), ""]
    if not sections:
        header += [f"No results under `{results.as_posix()}/` yet.", ""]
    text = "\n".join(header + sections)
    write_atomic(out, text.encode())
    log(f"wrote {out} ({len(found)} benchmark results, {len(grids)} training grids)")
    return text


def _run(args: argparse.Namespace) -> int:
    try:
        write_results(args.results, args.out, log=lambda line: print(line, file=sys.stderr), rank_by=args.rank_by)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_report_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``ecgformer bench report``."""
    parser = targets.add_parser("report", help="write benchmarks/RESULTS.md and every plot from the results present")
    parser.add_argument("--results", default="benchmarks/results",
                        help="folder of benchmark JSONs and training grid folders")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help="Markdown file to write")
    parser.add_argument("--rank-by", default="validation",
                        help="order of a grid's models: validation (default; by name where none was recorded) or "
                             "name; test is refused (benchmarks/PROTOCOL.md)")
    parser.set_defaults(run=_run)
