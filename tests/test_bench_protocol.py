"""The selection protocol (benchmarks/PROTOCOL.md) as the tools enforce it: ``bench train`` records the validation
selection and never touches test unless the grid was declared final; a declared run is tested once; summaries and
the report rank by validation only; paired bootstrap intervals of test differences, checked against loops over the
same resamples with scikit-learn's AUROC and the CinC 2017 score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_training import one_thread  # noqa: F401  (autouse: one intra-op thread)

from ecgformer.bench.report import write_results
from ecgformer.bench.training import summarize
from ecgformer.cli import main
from ecgformer.metrics import (
    auroc,
    cinc2017_score,
    paired_bootstrap,
    resample_indices,
    resampled_auroc_macro,
    resampled_cinc2017_score,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "ecgformer" / "configs" / "quickstart_synthetic.yaml")
SET = ["data.options={n_records: 48, fs: 100, duration_s: 4}", "data.length_s=3", "data.batch_size=8",
       "data.cache=false", "model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}",
       "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "loggers=[csv]", "data.num_workers=0"]
MODELS = ["ecgformer_t", "ecgformer_s"]


def grid_args(out: Path, runs: Path, *extra: str) -> list[str]:
    return ["bench", "train", "--config", CONFIG, "--models", *MODELS, "--seeds", "0", "1", "--out", str(out),
            "--runs-dir", str(runs), "--threads", "1", *extra, "--set", *SET]


def declare_args(out: Path, reason: str = "validation: both models, 2 seeds") -> list[str]:
    return ["bench", "declare", "--config", CONFIG, "--models", *MODELS, "--seeds", "0", "1", "--out", str(out),
            "--reason", reason, "--set", *SET]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A grid of 2 models x 2 seeds trained without test (the grid folder and the runs folder)."""
    root = tmp_path_factory.mktemp("grid")
    assert main(grid_args(root / "grid", root / "runs")) == 0
    return root / "grid", root / "runs"


def test_training_records_the_validation_selection_and_no_test(grid: tuple[Path, Path]) -> None:
    out, runs = grid
    for model in MODELS:
        for seed in (0, 1):
            folder = out / model / f"seed{seed}"
            assert sorted(p.name for p in folder.iterdir()) == ["run.json"]  # no test file
            record = json.loads((folder / "run.json").read_text())
            assert "test" not in record and "auroc_macro" not in record
            log = pd.read_csv(next((runs / "grid" / model / f"seed{seed}").glob("logs/version_*/metrics.csv")))
            scores = log.dropna(subset=["val/auroc_macro"])
            best = scores.loc[scores["val/auroc_macro"].idxmax()]  # the first best epoch, as ModelCheckpoint keeps
            validation = record["validation"]
            assert validation["monitor"] == "val/auroc_macro" and validation["mode"] == "max"
            assert validation["best"] == pytest.approx(best["val/auroc_macro"], abs=1e-6)
            assert validation["epoch"] == int(best["epoch"]) + 1 and validation["epochs_run"] == 2
            assert validation["metrics"]["auroc_macro"] == pytest.approx(validation["best"], abs=1e-5)


def test_test_needs_a_declaration_and_runs_once(grid: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out, runs = grid
    with pytest.raises(SystemExit, match="no DECLARED.json; declare the final configuration first"):
        main(grid_args(out, runs, "--test"))
    assert not any(out.glob("*/seed*/metrics.json"))
    with pytest.raises(SystemExit, match="needs --reason"):
        main(declare_args(out, reason=" "))
    assert main(declare_args(out)) == 0
    with pytest.raises(SystemExit, match="a grid is declared once"):
        main(declare_args(out))
    other = [*grid_args(out, runs, "--test")[:-len(SET)], *SET[:-1]]  # overrides that differ from the declaration
    with pytest.raises(SystemExit, match="declares config"):
        main(other)
    assert main(grid_args(out, runs, "--test")) == 0
    first = {p: p.read_text() for p in out.glob("*/seed*/run.json")}
    assert all(json.loads(text)["test"]["declared"] for text in first.values())
    assert main(grid_args(out, runs, "--test")) == 0  # tested once: nothing runs again
    assert {p: p.read_text() for p in out.glob("*/seed*/run.json")} == first
    for path in first:
        assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json", "per_class.csv", "predictions.csv",
                                                                 "run.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranked_by"] == "validation" and summary["declared"]["reason"].startswith("validation:")
    validation = [row["val_mean"] for row in summary["rows"]]
    assert validation == sorted(validation, reverse=True)
    reference, other_row = summary["rows"]
    assert summary["reference"] == reference["model"] and reference["vs_reference"] is None
    comparison = other_row["vs_reference"]
    labels, a, b = [], [], []
    for seed in (0, 1):
        mine = pd.read_csv(out / other_row["model"] / f"seed{seed}" / "predictions.csv")
        ref = pd.read_csv(out / reference["model"] / f"seed{seed}" / "predictions.csv")
        labels = mine[[c for c in mine.columns if c.startswith("true_")]].to_numpy()
        a.append(mine[[c for c in mine.columns if c.startswith("prob_")]].to_numpy())
        b.append(ref[[c for c in ref.columns if c.startswith("prob_")]].to_numpy())
    direct = np.mean([auroc(labels, x) for x in a]) - np.mean([auroc(labels, x) for x in b])
    assert comparison["difference"] == pytest.approx(direct, abs=1e-9) and comparison["seeds"] == [0, 1]
    assert comparison["low"] <= comparison["difference"] <= comparison["high"]
    run_json = out / "ecgformer_t" / "seed0" / "run.json"  # the bundle says where its model comes from
    record = json.loads(run_json.read_text())
    bundle = tmp_path / "bundle"
    assert main(["export", record["best_checkpoint"], "--out", str(bundle), "--provenance", str(run_json)]) == 0
    provenance = json.loads((bundle / "model.json").read_text())["provenance"]
    run = provenance["run"]
    assert (run["grid"], run["model"], run["seed"]) == (out.name, "ecgformer_t", 0)
    assert run["test"] == record["test"] and run["declared"].startswith("validation:")
    assert provenance["commit"] == record["machine"]["commit"]
    validation, metrics = record["validation"], provenance["metrics"]
    assert (metrics["split"], metrics["selection"], metrics["monitor"], metrics["epoch"]) == (
        "val", validation["rule"], validation["monitor"], validation["epoch"])
    assert metrics["value"] == validation["best"] and metrics["values"] == pytest.approx(validation["metrics"])
    assert provenance["data"]["dataset"] == "synthetic"  # configs/quickstart_synthetic.yaml


def test_declaring_after_a_test_is_refused(grid: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "copy"
    (out / "ecgformer_t" / "seed0").mkdir(parents=True)
    record = json.loads((grid[0] / "ecgformer_t" / "seed0" / "run.json").read_text())
    (out / "ecgformer_t" / "seed0" / "run.json").write_text(json.dumps({**record, "test": {"value": 0.5}}))
    with pytest.raises(SystemExit, match="already holds tested runs"):
        main(declare_args(out))


def one_run_args(out: Path, runs: Path, *extra: str) -> list[str]:
    return ["bench", "train", "--config", CONFIG, "--models", "ecgformer_t", "--seeds", "0", "--out", str(out),
            "--runs-dir", str(runs), "--threads", "1", "--set", *SET, *extra]


def interrupt_after_one_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next ``run.fit`` train one epoch (writing its checkpoints and log) and then fail, as a killed run."""
    from ecgformer.training import run

    fit = run.fit

    def interrupted(config: dict, ckpt_path: object = None) -> Path:
        fit({**config, "trainer": {**config["trainer"], "max_epochs": 1}}, ckpt_path=ckpt_path)
        monkeypatch.setattr(run, "fit", fit)
        raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(run, "fit", interrupted)


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, runs = tmp_path / "grid", tmp_path / "runs"
    work = runs / "grid" / "ecgformer_t" / "seed0"
    interrupt_after_one_epoch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        main(one_run_args(out, runs))
    assert not (out / "ecgformer_t" / "seed0" / "run.json").exists() and (work / "checkpoints" / "last.ckpt").is_file()
    assert main(one_run_args(out, runs)) == 0
    record = json.loads((out / "ecgformer_t" / "seed0" / "run.json").read_text())
    assert record["resumed_at_epochs"] == [1]
    first, second = (pd.read_csv(work / "logs" / f"version_{v}" / "metrics.csv") for v in (0, 1))
    assert set(first["epoch"].dropna()) == {0} and set(second["epoch"].dropna()) == {1}  # continued, not restarted
    scores = pd.concat([first, second]).dropna(subset=["val/auroc_macro"])
    best = scores.loc[scores["val/auroc_macro"].idxmax()]
    validation = record["validation"]
    assert validation["epochs_run"] == 2 and validation["epoch"] == int(best["epoch"]) + 1
    assert validation["best"] == pytest.approx(best["val/auroc_macro"], abs=1e-6)


def test_an_interrupted_run_of_another_configuration_starts_over(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out, runs = tmp_path / "grid", tmp_path / "runs"
    work = runs / "grid" / "ecgformer_t" / "seed0"
    interrupt_after_one_epoch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        main(one_run_args(out, runs, "module.lr=0.002"))
    assert main(one_run_args(out, runs)) == 0
    record = json.loads((out / "ecgformer_t" / "seed0" / "run.json").read_text())
    assert "resumed_at_epochs" not in record and record["validation"]["epochs_run"] == 2
    assert [p.parent.name for p in work.glob("logs/version_*/metrics.csv")] == ["version_0"]
    assert set(pd.read_csv(work / "logs" / "version_0" / "metrics.csv")["epoch"].dropna()) == {0, 1}


def test_ranking_by_test_is_refused_and_old_grids_are_listed_by_name(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="never on test"):
        summarize(tmp_path, rank_by="test")
    assert main(["bench", "report", "--results", str(tmp_path), "--out", str(tmp_path / "R.md"),
                 "--rank-by", "test"]) == 2
    assert "never on test" in capsys.readouterr().err
    grid = tmp_path / "old"
    for model, score in (("xresnet1d50", 0.9), ("ecgformer_t", 0.8)):  # a pre-protocol run: a test score only
        run = grid / model / "seed0"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"classes": ["a", "b"], "metrics": {"auroc_macro": score}}))
        (run / "per_class.csv").write_text("class,support,auroc,auprc,f1,threshold\na,1,0.9,0.5,0.5,0.5\n")
        (run / "run.json").write_text(json.dumps({
            "model": model, "seed": 0, "config": "c.yaml", "overrides": [], "command": "", "wall_s": 60.0,
            "input": {"in_chans": 12, "length": 250}, "auroc_macro": score,
            "machine": {"cpu": "x", "threads": 1, "commit": "abc", "date": "2026-01-01 00:00:00"}}))
    summary = summarize(grid, log=lambda line: None)
    assert summary["ranked_by"] == "name" and [row["model"] for row in summary["rows"]] == ["ecgformer_t",
                                                                                           "xresnet1d50"]
    text = write_results(tmp_path, tmp_path / "R.md", log=lambda line: None)
    section = text[text.index("## Training grid: [`old`]"):]
    assert "**Selection not recorded**" in section
    assert section.index("`ecgformer_t`") < section.index("`xresnet1d50`")  # by name, though it tested lower


def test_resampled_metrics_equal_loops_with_the_reference_metrics() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random((120, 5)) < [0.4, 0.2, 0.25, 0.05, 0.02]).astype(int)
    scores = np.round(rng.random((120, 5)) + 0.3 * labels, 1)  # many ties
    indices = resample_indices(120, 40, seed=3)
    loop = [auroc(labels[rows], scores[rows]) for rows in indices]  # classes absent from a resample: skipped
    np.testing.assert_allclose(resampled_auroc_macro(labels, scores, indices), loop, atol=1e-12)
    classes = np.eye(4)[rng.integers(0, 4, 200)]
    soft = rng.random((200, 4)) + 0.4 * classes
    indices = resample_indices(200, 30, seed=4)
    loop = [cinc2017_score(classes[rows].argmax(1), soft[rows].argmax(1)) for rows in indices]
    np.testing.assert_allclose(resampled_cinc2017_score(classes, soft, indices), loop, atol=1e-12)


def test_paired_bootstrap_against_a_loop_and_its_limits() -> None:
    rng = np.random.default_rng(2)
    labels = (rng.random((150, 3)) < 0.3).astype(int)
    a = [rng.random((150, 3)) + 0.5 * labels for _ in range(2)]
    b = [rng.random((150, 3)) + 0.2 * labels for _ in range(2)]
    result = paired_bootstrap(labels, a, b, n_resamples=200, seed=7)
    differences = [np.mean([auroc(labels[rows], x[rows]) for x in a]) - np.mean([auroc(labels[rows], x[rows])
                                                                                 for x in b])
                   for rows in resample_indices(150, 200, seed=7)]
    assert (result.low, result.high) == pytest.approx(tuple(np.percentile(differences, [2.5, 97.5])), abs=1e-12)
    assert result.difference == pytest.approx(np.mean([auroc(labels, x) for x in a]) -
                                              np.mean([auroc(labels, x) for x in b]))
    assert result.low > 0 and not result.tie  # A ranks positives far better: not a tie
    same = paired_bootstrap(labels, a, a, n_resamples=100)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0) and same.tie
    with pytest.raises(ValueError, match="metric must be one of"):
        paired_bootstrap(labels, a, b, metric="accuracy")


def write_tested_run(folder: Path, model: str, seed: int, validation: float, records: list[str], labels: np.ndarray,
               probabilities: np.ndarray) -> None:
    """A tested run as ``bench train --test`` leaves it: run.json with its selection, predictions and per-class."""
    from sklearn.metrics import roc_auc_score

    folder.mkdir(parents=True)
    classes = [f"c{i}" for i in range(labels.shape[1])]
    table = pd.DataFrame({"record_id": records})
    for i, name in enumerate(classes):
        table[f"true_{name}"] = labels[:, i]
        table[f"prob_{name}"] = probabilities[:, i]
    table.to_csv(folder / "predictions.csv", index=False)
    per_class = [roc_auc_score(labels[:, i], probabilities[:, i]) for i in range(len(classes))]
    pd.DataFrame({"class": classes, "support": labels.sum(0), "auroc": per_class, "auprc": 0.5, "f1": 0.5,
                  "threshold": 0.5}).to_csv(folder / "per_class.csv", index=False)
    (folder / "run.json").write_text(json.dumps({
        "model": model, "seed": seed, "config": "c.yaml", "overrides": [], "command": "", "wall_s": 60.0,
        "num_classes": len(classes), "input": {"in_chans": 12, "length": 250}, "auroc_macro": float(np.mean(per_class)),
        "validation": {"monitor": "val/auroc_macro", "mode": "max", "best": validation, "epoch": 3},
        "test": {"metric": "auroc_macro", "value": float(np.mean(per_class))},
        "machine": {"cpu": "x", "threads": 1, "commit": "abc", "date": "2026-01-01 00:00:00"}}))


def test_every_pair_of_tested_models_is_compared_within_and_across_grids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    records = [f"r{i:03d}" for i in range(90)]
    labels = (rng.random((90, 3)) < 0.35).astype(int)
    strength = {"inception1d": 1.5, "ecgformer_t": 0.8, "xresnet1d50": 0.1}  # ranked in this order on validation
    validation = {"inception1d": 0.95, "ecgformer_t": 0.9, "xresnet1d50": 0.85}
    scores: dict[str, list[np.ndarray]] = {}
    for model, gain in strength.items():
        scores[model] = [rng.random((90, 3)) + gain * labels for _ in range(2)]
        for seed in (0, 1):
            write_tested_run(tmp_path / "grid" / model / f"seed{seed}", model, seed, validation[model] + 0.001 * seed,
                       records, labels, scores[model][seed])
    summary = summarize(tmp_path / "grid", log=lambda line: None)
    assert [(pair["a"], pair["b"]) for pair in summary["pairs"]] == [
        ("inception1d", "ecgformer_t"), ("inception1d", "xresnet1d50"), ("ecgformer_t", "xresnet1d50")]

    def macro(x: np.ndarray) -> float:
        return float(np.mean([roc_auc_score(labels[:, i], x[:, i]) for i in range(3)]))

    for pair in summary["pairs"]:
        direct = np.mean([macro(x) for x in scores[pair["a"]]]) - np.mean([macro(x) for x in scores[pair["b"]]])
        assert pair["difference"] == pytest.approx(direct, abs=1e-9) and pair["seeds"] == [0, 1]
        assert pair["low"] <= pair["difference"] <= pair["high"]
    assert not summary["pairs"][1]["tie"] and summary["pairs"][1]["low"] > 0  # a strong model against a weak one
    text = write_results(tmp_path, tmp_path / "R.md", log=lambda line: None)
    assert "Every pair of tested models" in text and "| `ecgformer_t` | `xresnet1d50` | 0, 1 |" in text

    other = tmp_path / "other" / "xresnet1d50"  # another grid, same test records, seed 0 only
    write_tested_run(other / "seed0", "xresnet1d50", 0, 0.8, records, labels, scores["ecgformer_t"][0])
    assert main(["bench", "compare", str(tmp_path / "grid" / "ecgformer_t"), str(other), "--json"]) == 0
    across = json.loads(capsys.readouterr().out)
    assert across["seeds"] == [0] and across["difference"] == 0.0 and across["tie"]
    assert main(["bench", "compare", str(tmp_path / "grid" / "inception1d"), str(other)]) == 0
    assert "**" not in capsys.readouterr().out
    shuffled = tmp_path / "shuffled" / "xresnet1d50"
    write_tested_run(shuffled / "seed0", "xresnet1d50", 0, 0.8, records[::-1], labels, scores["ecgformer_t"][0])
    with pytest.raises(SystemExit, match="tested on different records"):
        main(["bench", "compare", str(tmp_path / "grid" / "ecgformer_t"), str(shuffled)])
    with pytest.raises(SystemExit, match="not tested in both"):
        main(["bench", "compare", str(tmp_path / "grid" / "ecgformer_t"), str(other), "--seeds", "0", "1"])
    with pytest.raises(SystemExit, match="is not a folder"):
        main(["bench", "compare", str(tmp_path / "grid" / "nothing"), str(other)])
