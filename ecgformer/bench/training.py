"""``ecgformer bench train``: one training recipe over a grid of models and seeds, with a summary table and plot.

Every run is ``fit`` then ``test`` of the config with ``model.name``, ``seed`` and ``out_dir`` set per run (and
any ``--set section.key=value`` overrides for all runs). Per run the test report's ``metrics.json`` and
``per_class.csv`` are copied to ``OUT/<model>/seed<k>/`` together with ``run.json`` (the exact command, wall
time, machine and git commit). Runs whose ``run.json`` exists are skipped, so a long grid can be run in pieces
and resumed. ``OUT/summary.json``, ``summary.csv`` and ``summary.png`` (score per model, mean +- std over seeds;
score against forward FLOPs) are rewritten after every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..models import create_model, list_models
from .mixers import count_gflops
from .timing import bench_log, emit_result, machine_info

__all__ = ["add_train_parser", "run_training_grid", "summarize"]

RUN_FILES = ("metrics.json", "per_class.csv")


def _model_cost(name: str, num_classes: int, in_chans: int, length: int) -> dict[str, float]:
    """Parameters and forward GFLOPs of one evaluation window."""
    model = create_model(name, num_classes=num_classes, in_chans=in_chans).eval()
    with torch.no_grad():
        gflops = count_gflops(lambda: model(torch.zeros(1, in_chans, length)))
    return {"params": float(sum(p.numel() for p in model.parameters())), "gflops": gflops}


def run_training_grid(config_path: str, models: Sequence[str], seeds: Sequence[int], out: str | Path,
                      overrides: Sequence[str] = (), metric: str = "auroc_macro", runs_dir: str | Path = "runs/bench",
                      command: str = "", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fit and test ``config_path`` for every model and seed not yet in ``out``; returns :func:`summarize`."""
    from ..training import run
    from ..training.checkpoint_io import read_checkpoint
    from ..training.config import load_config

    out = Path(out)
    for name in models:
        for seed in seeds:
            target = out / name / f"seed{seed}"
            if (target / "run.json").is_file():
                log(f"{name} seed {seed}: done before ({target / 'run.json'}), skipped")
                continue
            work = Path(runs_dir) / out.name / name / f"seed{seed}"
            if work.exists():
                shutil.rmtree(work)  # a run interrupted before it finished starts over
            config = load_config(config_path, [*overrides, f"model.name={name}", f"seed={seed}",
                                               f"out_dir={work}"])
            log(f"{name} seed {seed}: training ({config_path})")
            start = time.perf_counter()
            best = run.fit(config)
            report = run.test(config, best)
            wall_s = time.perf_counter() - start
            metrics = json.loads((report / "metrics.json").read_text())
            hparams = read_checkpoint(best, required=("hyper_parameters",))["hyper_parameters"]
            data = hparams["data_config"]
            target.mkdir(parents=True, exist_ok=True)
            for file in RUN_FILES:
                shutil.copyfile(report / file, target / file)
            record = {"model": name, "seed": seed, "config": config_path, "overrides": list(overrides),
                      "command": command, "wall_s": round(wall_s, 1), "best_checkpoint": str(best),
                      "epochs": _epochs(work),
                      "input": {"in_chans": int(hparams["in_chans"]), "length": round(data["fs"] * data["length_s"])},
                      "machine": machine_info(), metric: metrics["metrics"].get(metric)}
            (target / "run.json").write_text(json.dumps(record, indent=2) + "\n")  # written last: marks it done
            log(f"{name} seed {seed}: test {metric} = {record[metric]:.4f} in {wall_s / 60:.1f} min")
            summarize(out, metric, log=lambda line: None)
    return summarize(out, metric, log=log)


def _epochs(work: Path) -> int | None:
    """Epochs trained, from the CSV log."""
    import pandas as pd

    logs = sorted(work.glob("logs/version_*/metrics.csv"))
    if not logs:
        return None
    epochs = pd.read_csv(logs[-1])["epoch"].dropna()
    return int(epochs.max()) + 1 if len(epochs) else None


def summarize(out: str | Path, metric: str = "auroc_macro", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Gather ``out/<model>/seed*/`` into ``summary.json``, ``summary.csv`` and ``summary.png``; return the summary."""
    import pandas as pd

    out = Path(out)
    runs = [json.loads(path.read_text()) for path in sorted(out.glob("*/seed*/run.json"))]
    rows: list[dict[str, Any]] = []
    for name in sorted({r["model"] for r in runs}):
        mine = [r for r in runs if r["model"] == name]
        scores = [float(r[metric]) for r in mine]
        first = json.loads((out / name / f"seed{mine[0]['seed']}" / "metrics.json").read_text())
        per_class = pd.concat([pd.read_csv(out / name / f"seed{r['seed']}" / "per_class.csv") for r in mine])
        cost = _model_cost(name, len(first["classes"]), mine[0]["input"]["in_chans"], mine[0]["input"]["length"])
        rows.append({"model": name, "seeds": [r["seed"] for r in mine], "n": len(scores),
                     f"{metric}_mean": statistics.fmean(scores),
                     f"{metric}_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                     "scores": scores, **cost, "wall_min_mean": statistics.fmean(r["wall_s"] for r in mine) / 60,
                     "per_class_auroc": per_class.groupby("class", sort=False)["auroc"].mean().round(4).to_dict(),
                     "commits": sorted({r["machine"]["commit"] for r in mine if r["machine"].get("commit")})})
    rows.sort(key=lambda row: -row[f"{metric}_mean"])
    summary = {"metric": metric, "rows": rows, "runs": runs}
    if rows:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        flat = [{k: v for k, v in row.items() if k not in ("per_class_auroc", "scores", "seeds")} for row in rows]
        pd.DataFrame(flat).to_csv(out / "summary.csv", index=False, float_format="%.5g")
        _plot(out / "summary.png", rows, metric)
        for row in rows:
            log(f"{row['model']:<28} {metric} {row[f'{metric}_mean']:.4f} +- {row[f'{metric}_std']:.4f} "
                f"(n={row['n']})  params {row['params'] / 1e6:5.2f} M  GFLOPs {row['gflops']:.3f}")
    return summary


def _plot(path: Path, rows: list[dict[str, Any]], metric: str) -> None:
    import numpy as np

    # not pyplot: the caller's plotting backend (e.g. a notebook's) stays as it is
    from matplotlib.figure import Figure

    names = [row["model"] for row in rows]
    means = np.array([row[f"{metric}_mean"] for row in rows])
    stds = np.array([row[f"{metric}_std"] for row in rows])
    fig = Figure(figsize=(12, 0.35 * len(rows) + 2.5))
    bars, cost = fig.subplots(1, 2)
    bars.barh(names[::-1], means[::-1], xerr=stds[::-1], color="tab:blue", alpha=0.8, capsize=3)
    low = float(np.min(means - stds))
    bars.set_xlim(max(0.0, low - 0.05), min(1.0, float(np.max(means + stds)) + 0.02))
    bars.set(xlabel=f"test {metric} (mean +- std over seeds)")
    for row in rows:
        cost.errorbar(row["gflops"], row[f"{metric}_mean"], yerr=row[f"{metric}_std"], fmt="o", capsize=3)
        cost.annotate(row["model"], (row["gflops"], row[f"{metric}_mean"]), fontsize=7, xytext=(3, 3),
                      textcoords="offset points")
    cost.set(xscale="log", xlabel="forward GFLOPs per evaluation window", ylabel=f"test {metric}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _run(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.models) - set(list_models()))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; registered: {', '.join(list_models())}")
    if not Path(args.config).is_file():
        raise SystemExit(f"--config {args.config!r} not found")
    log = bench_log(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_training_grid(args.config, args.models, args.seeds, args.out, args.set, args.metric,
                               args.runs_dir, args.command_line, log)
    emit_result(result, argparse.Namespace(**{**vars(args), "out": None}))  # --out: the grid folder, written above
    return 0


def add_train_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``bench train``."""
    parser = targets.add_parser("train", help="train and test a config for several models and seeds (resumable)")
    parser.add_argument("--config", required=True, help="YAML training config (see configs/)")
    parser.add_argument("--models", nargs="+", required=True, help="registered model names")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="overrides for every run, e.g. trainer.max_epochs=30")
    parser.add_argument("--metric", default="auroc_macro", help="test metric to summarise (a key of metrics.json)")
    parser.add_argument("--out", required=True, help="results folder (committed: small JSON/CSV/PNG files)")
    parser.add_argument("--runs-dir", default="runs/bench", help="where checkpoints and logs go (not committed)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(run=_run)
