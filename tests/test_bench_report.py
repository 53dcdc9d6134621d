"""``ecgformer bench report`` (benchmarks/RESULTS.md) and the provenance and plot that ``--out`` records.

The report runs on the committed ops / mixers results, on the committed models result with its command and wall
time removed (as results of other tools or older versions come), on small inference and data results shaped like
the benchmarks' own, and on a training grid gathered by ``summarize`` from fake runs whose per-class AUROC the
test averages itself.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest

from ecgformer.bench.report import write_results
from ecgformer.bench.training import summarize
from ecgformer.cli import main

COMMITTED = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
CLASSES = ["NORM", "MI", "STTC", "CD", "HYP"]
MODELS = ["ecgformer_t", "xresnet1d50"]
GRID_COMMANDS = [f"ecgformer bench train --config configs/ptbxl_superdiag.yaml --models {' '.join(MODELS)} "
                 f"--seeds {seed} --out benchmarks/results/grid" for seed in (0, 1)]
MACHINE = {"cpu": "Test CPU", "threads": 2, "gpu": None, "torch": "2.13.0+cpu", "python": "3.11.7",
           "commit": "abc1234", "date": "2026-11-25 12:00:00"}
INFERENCE_COMMAND = "ecgformer bench inference --out benchmarks/results/inference_cpu.json"


def _inference_result() -> dict[str, object]:
    rows = [{"model": model, "threads": threads, "runtime": runtime, "p50_ms": p50, "p95_ms": p50 * 1.1,
             "throughput": 1000.0 / p50} for model in ("ecgformer_s", "xresnet1d101") for threads in (1, 2)
            for runtime, p50 in (("eager", 28.0), ("onnxruntime", 21.0 + threads))]
    targets = [{"target": f"ecgformer_s eager p50 / onnxruntime p50, {n} thread(s) (>= 1.5)",
                "value": round(28.0 / (21.0 + n), 3), "limit": 1.5, "met": False} for n in (1, 2)]
    return {"benchmark": "inference", "rows": rows, "ecgformer_s_p50_speedup": {}, "targets": targets,
            "length": 5000, "batch": 32, "repeats": 50, "machine": MACHINE, "command": INFERENCE_COMMAND,
            "wall_s": 754.0}


def _write_grid(folder: Path) -> dict[tuple[str, str], float]:
    """Two models x two seeds of fake runs; returns the per-class AUROC means computed here."""
    rng = np.random.default_rng(0)
    values: dict[tuple[str, str], list[float]] = {}
    for model in MODELS:
        for seed, command in enumerate(GRID_COMMANDS):
            run = folder / model / f"seed{seed}"
            run.mkdir(parents=True)
            aurocs = [0.002 * int(k) for k in rng.integers(250, 500, len(CLASSES))]  # means exact at 3 decimals
            with open(run / "per_class.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["class", "support", "auroc", "auprc", "f1", "threshold"])
                writer.writerows([name, 10, auroc, 0.5, 0.5, 0.5] for name, auroc in zip(CLASSES, aurocs))
            for name, auroc in zip(CLASSES, aurocs):
                values.setdefault((model, name), []).append(auroc)
            score = statistics.fmean(aurocs)
            (run / "metrics.json").write_text(json.dumps({"classes": CLASSES, "metrics": {"auroc_macro": score}}))
            (run / "run.json").write_text(json.dumps({
                "model": model, "seed": seed, "config": "configs/ptbxl_superdiag.yaml", "overrides": [],
                "command": command, "wall_s": 600.0 + seed, "epochs": 3, "input": {"in_chans": 12, "length": 250},
                "machine": MACHINE, "auroc_macro": score}))
    return {key: statistics.fmean(scores) for key, scores in values.items()}


def _table_after(text: str, caption: str) -> list[list[str]]:
    """The cells of the Markdown table that follows ``caption`` (header first, separator dropped)."""
    lines = text[text.index(caption):].splitlines()[2:]
    table = lines[:next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table if not line.startswith("|---")]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[tuple[str, str], float]]:
    """Results folder with the committed JSONs, an inference and a data result and a grid; the report's text."""
    root = tmp_path_factory.mktemp("bench")
    results = root / "results"
    results.mkdir()
    for name in ("ops_cpu.json", "mixers_cpu.json"):
        shutil.copyfile(COMMITTED / name, results / name)
    models = json.loads((COMMITTED / "models_cpu.json").read_text())
    (results / "models_cpu.json").write_text(json.dumps({key: value for key, value in models.items()
                                                          if key not in ("command", "wall_s")}))
    (results / "inference_cpu.json").write_text(json.dumps(_inference_result()))
    means = _write_grid(results / "grid")
    summarize(results / "grid", log=lambda line: None)
    (results / "grid" / "NOTES.md").write_text("Recipe notes: 2 epochs, *not* the paper's recipe.\n")
    text = write_results(results, root / "RESULTS.md", log=lambda line: None)
    return root, text, means


def test_sections_commands_targets_and_plots(report: tuple[Path, str, dict[tuple[str, str], float]]) -> None:
    root, text, _ = report
    assert (root / "RESULTS.md").read_text() == text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split(":")[0] for h in headings] == ["## Local attention backends", "## Token mixers",
                                                   "## Model presets", "## Inference", "## Training grid"]
    for name in ("ops_cpu.json", "mixers_cpu.json"):  # the command, wall time and commit each result recorded
        recorded = json.loads((COMMITTED / name).read_text())
        section = text[text.index(f"[`{name}`]"):]
        assert section.index(f"- command: `{recorded['command']}`") < section.index("- wall time: ")
        assert f"- git commit: `{recorded['machine']['commit']}`, {recorded['machine']['date']}" in section
        assert f"- wall time: {recorded['wall_s'] / 60:.1f} min" in section or \
            f"- wall time: {recorded['wall_s']:.1f} s" in section
    assert text.count("- command: command not recorded") == 1 and text.count("- wall time: not recorded") == 1
    assert f"- command: `{INFERENCE_COMMAND}`" in text and "- wall time: 12.6 min" in text
    assert "- machine: Test CPU, 2 threads, torch 2.13.0+cpu, Python 3.11.7" in text
    # targets: every ops and models target of the committed runs is met, the fake inference ones are not
    ops = json.loads((COMMITTED / "ops_cpu.json").read_text())
    for target in ops["targets"]:
        assert f"| dilation {target['dilation']}, {target['target']} | {target['value']} | {target['limit']} | met |" \
            in text
    assert "| ecgformer_s eager p50 / onnxruntime p50, 2 thread(s) (>= 1.5) | 1.217 | 1.5 | **NOT MET** |" in text
    mixers = json.loads((COMMITTED / "mixers_cpu.json").read_text())
    for fit in mixers["slopes"]:
        verdict = ("yes: met" if fit["met"] else "yes: **NOT MET**") if fit["linear_by_design"] else "no"
        assert re.search(rf"\| `{fit['mixer']}` \|.*\| {re.escape(verdict)} \|", text), fit["mixer"]
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(links) == 5
    for link in links:
        png = root / link
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link


def test_training_grid_table_commands_and_per_class_means(
        report: tuple[Path, str, dict[tuple[str, str], float]]) -> None:
    root, text, means = report
    section = text[text.index("## Training grid: [`grid`]"):]
    assert section.index("Recipe notes: 2 epochs, *not* the paper's recipe.") < section.index("Per model: best")
    assert "**Selection not recorded**" in section  # fake runs made the pre-protocol way: no validation record
    table = _table_after(text, "Per model: best validation score")
    assert table[0] == ["model", "seeds (tested)", "validation mean ± std (best epochs)", "test auroc_macro mean ± std",
                        "Δ test vs reference [95% CI]", "params (M)", "GFLOPs", "wall min/run", "commits"]
    assert [row[0].strip("`") for row in table[1:]] == sorted(MODELS)  # by name, not by test score
    for row in table[1:]:
        model = row[0].strip("`")
        scores = [statistics.fmean(means_of_run) for means_of_run in _scores(root, model)]
        assert row[1] == "2 (2)" and row[3] == f"{statistics.fmean(scores):.4f} ± {statistics.stdev(scores):.4f}"
        assert row[2] == "- ± - (-)" and row[4] == "-" and row[7] == "10.0" and row[8] == "`abc1234`"
    for seed, command in enumerate(GRID_COMMANDS):  # one line per command, with the runs it produced
        assert f"- `{command}`: `ecgformer_t` seeds {seed}; `xresnet1d50` seeds {seed}" in text
    per_class = _table_after(text, "Per-class test AUROC (mean over tested seeds):")
    assert per_class[0] == ["model", *CLASSES]
    assert sorted(row[0].strip("`") for row in per_class[1:]) == MODELS
    for row in per_class[1:]:
        for name, cell in zip(CLASSES, row[1:]):
            assert cell == f"{means[(row[0].strip('`'), name)]:.3f}", (row[0], name)


def _scores(root: Path, model: str) -> list[list[float]]:
    """Per seed, the per-class AUROCs written for ``model`` (the run's macro AUROC is their mean)."""
    return [[float(r["auroc"]) for r in csv.DictReader(path.read_text().splitlines())]
            for path in sorted((root / "results" / "grid" / model).glob("seed*/per_class.csv"))]


def test_report_is_deterministic(report: tuple[Path, str, dict[tuple[str, str], float]]) -> None:
    root, text, _ = report
    pngs = {path: path.read_bytes() for path in (root / "results").glob("*.png")}
    assert write_results(root / "results", root / "RESULTS.md", log=lambda line: None) == text
    assert {path: path.read_bytes() for path in pngs} == pngs


def test_out_records_command_wall_time_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the CLI: ``--out x.json`` writes the result with its command and wall time, and ``x.png``."""
    out = tmp_path / "data_synthetic.json"
    argv = ["bench", "data", "--dataset", "synthetic", "--records", "8", "--repeats", "1", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["benchmark"] == "data" and result["command"] == "ecgformer " + " ".join(argv)
    assert 0 < result["wall_s"] < 600 and result["machine"]["threads"] >= 1
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    text = write_results(tmp_path, tmp_path / "RESULTS.md", log=lambda line: None)
    assert "## Data loading: [`data_synthetic.json`](data_synthetic.json)" in text
    assert f"- command: `{result['command']}`" in text and "![data plot](data_synthetic.png)" in text


def test_mutation_and_planted_bug_results_get_their_tables_targets_and_plots(tmp_path: Path) -> None:
    """Hand-made results shaped like tools/mutation.py's and tools/planted_bugs.py's."""
    results = tmp_path / "results"
    results.mkdir()
    counts = {"ecgformer/losses.py": {"killed": 257, "survived": 0, "no_tests": 0, "equivalent": 6, "other": 0,
                                      "skipped": 0, "not_checked": 0, "score": 1.0},
              "ecgformer/metrics.py": {"killed": 600, "survived": 90, "no_tests": 10, "equivalent": 2, "other": 0,
                                       "skipped": 0, "not_checked": 0, "score": round(600 / 700, 4)}}
    targets = [{"target": f"{m} mutants killed", "value": c["score"], "limit": 0.9, "met": c["score"] >= 0.9}
               for m, c in counts.items()]
    (results / "mutation.json").write_text(json.dumps({
        "benchmark": "mutation", "target_score": 0.9, "machine": MACHINE, "command": "python tools/mutation.py",
        "wall_s": 5400.0, "modules": counts, "targets": targets,
        "shards": {"losses": {"seconds": 480, "tests": ["tests/test_losses.py"]}}}))
    bugs = [{"id": "focal_exponent", "title": "focal-loss exponent", "file": "ecgformer/losses.py", "outcome": "caught",
             "seconds": 7.7}, {"id": "cinc_noisy", "title": "CinC 2017 score with ~", "file": "ecgformer/metrics.py",
                               "outcome": "missed", "seconds": 8.0}]
    (results / "planted_bugs.json").write_text(json.dumps({
        "benchmark": "planted_bugs", "machine": MACHINE, "command": "python tools/planted_bugs.py", "wall_s": 315.0,
        "bugs": bugs, "targets": [{"target": "planted bugs caught", "value": 1, "limit": 2, "met": False}]}))
    text = write_results(results, tmp_path / "RESULTS.md", log=lambda line: None)
    assert _table_after(text, "| module | mutants |") == [
        ["`ecgformer/losses.py`", "263", "257", "0", "0", "6", "100.0 %"],
        ["`ecgformer/metrics.py`", "702", "600", "90", "10", "2", "85.7 %"]]  # 600 / (600 + 90 + 10)
    assert "| ecgformer/metrics.py mutants killed | 0.8571 | 0.9 | **NOT MET** |" in text
    assert _table_after(text, "| # | bug |") == [
        ["1", "focal-loss exponent", "`ecgformer/losses.py`", "caught", "7.7"],
        ["2", "CinC 2017 score with ~", "`ecgformer/metrics.py`", "missed", "8.0"]]
    assert (results / "mutation.png").stat().st_size > 0 and (results / "planted_bugs.png").stat().st_size > 0
