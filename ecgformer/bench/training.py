"""``ecgformer bench train`` and ``bench declare``: one training recipe over a grid of models and seeds, chosen on
validation and tested once (``benchmarks/PROTOCOL.md``).

Every run is ``fit`` of the config with ``model.name``, ``seed`` and ``out_dir`` set per run (and any
``--set section.key=value`` overrides for all runs). ``OUT/<model>/seed<k>/run.json`` records the exact command, wall
time, machine, git commit and the selection: the checkpoint's monitor, mode, best validation score and its epoch,
and every validation metric of that epoch. The test split is scored only with ``--test``, and only for the models,
seeds, config and overrides that ``ecgformer bench declare`` wrote into ``OUT/DECLARED.json`` beforehand; a run is
tested once (its test report's ``metrics.json``, ``per_class.csv`` and per-record ``predictions.csv`` are copied
beside ``run.json``). Finished runs are skipped, so a long grid can be run in pieces and resumed; a run interrupted
mid-training resumes from its ``last.ckpt`` when its runs folder records the same config and overrides
(``grid_run.json``), and starts over otherwise. A resumed run's ``wall_s`` counts its last segment only, and
``resumed_at_epochs`` lists the epochs it resumed after.

:func:`summarize` writes ``OUT/summary.json``, ``summary.csv`` and ``summary.png``: per model the validation and test
scores (mean +- std over seeds), ranked by validation only, and for every tested model the paired bootstrap interval
of its test difference to the validation-best tested model (:func:`ecgformer.metrics.paired_bootstrap`), and to
every other tested model. ``ecgformer bench compare GRID/A GRID/B`` compares two tested models, also across grids
that share their test records.
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
from ..training.cli import OverrideParser
from .mixers import count_gflops
from .report import RANKINGS, comparison_cell
from .timing import bench_log, emit_result, machine_info

__all__ = ["DECLARATION", "RANKINGS", "add_compare_parser", "add_declare_parser", "add_train_parser", "compare_runs",
           "declare_final", "run_training_grid", "summarize", "validation_record"]

RUN_FILES = ("metrics.json", "per_class.csv", "predictions.csv")
DECLARATION = "DECLARED.json"
#: Written into a run's working folder when it starts: what it trains, so an interrupted run resumes only as itself.
GRID_RUN = "grid_run.json"


def _model_cost(name: str, num_classes: int, in_chans: int, length: int,
                overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """Parameters and forward GFLOPs of one evaluation window (of the preset with the run's model overrides)."""
    model = create_model(name, num_classes=num_classes, in_chans=in_chans, **(overrides or {})).eval()
    with torch.no_grad():
        gflops = count_gflops(lambda: model(torch.zeros(1, in_chans, length)))
    return {"params": float(sum(p.numel() for p in model.parameters())), "gflops": gflops}


def validation_record(checkpoint: dict[str, Any], work: Path, mode: str) -> dict[str, Any]:
    """What chose a run's checkpoint: the ``ModelCheckpoint`` monitor, ``mode`` (the config's ``checkpoint.mode``),
    the best validation score, its epoch (counted from 1), the epochs trained and every validation metric logged at
    that epoch (from the CSV log)."""
    from ..training.checkpoint_io import best_selection

    selection = best_selection(checkpoint)
    if selection is None:
        raise ValueError(f"{work}: the best checkpoint records no ModelCheckpoint score; was validation run?")
    monitor, best, epoch = selection
    return {"monitor": monitor, "mode": mode, "best": best, "epoch": epoch,
            "rule": f"checkpoint of the epoch with the best {monitor} ({mode}) on the validation split",
            "epochs_run": _epochs(work), "metrics": _validation_metrics(work, epoch)}


def _csv_log(work: Path) -> Any:
    """The run's CSV log; a resumed run's versions concatenated in order (later rows supersede earlier ones)."""
    import pandas as pd

    logs = sorted(work.glob("logs/version_*/metrics.csv"), key=lambda path: int(path.parent.name.split("_")[-1]))
    return pd.concat([pd.read_csv(log) for log in logs], ignore_index=True) if logs else None


def _epochs(work: Path) -> int | None:
    """Epochs trained, from the CSV log."""
    log = _csv_log(work)
    if log is None:
        return None
    epochs = log["epoch"].dropna()
    return int(epochs.max()) + 1 if len(epochs) else None


def _validation_metrics(work: Path, epoch: int) -> dict[str, float]:
    """The ``val/*`` values the CSV log holds for ``epoch`` (counted from 1)."""
    log = _csv_log(work)
    if log is None:
        return {}
    columns = [c for c in log.columns if c.startswith("val/")]
    rows = log[(log["epoch"] == epoch - 1) & log[columns].notna().any(axis=1)] if columns else log.iloc[0:0]
    if rows.empty:
        return {}
    row = rows.iloc[-1]
    return {c.removeprefix("val/"): round(float(row[c]), 6) for c in columns if row[c] == row[c]}


def declare_final(out: str | Path, config_path: str, models: Sequence[str], seeds: Sequence[int],
                  overrides: Sequence[str] = (), reason: str = "", command: str = "") -> Path:
    """Write ``out/DECLARED.json``: the configuration (config, overrides, models, seeds) declared final before its
    test run, with the reason (the validation evidence), the commit and the date. A declaration is made once: an
    existing one is never replaced (a new configuration gets a new grid folder)."""
    out = Path(out)
    path = out / DECLARATION
    if path.exists():
        raise FileExistsError(f"{path} exists: a grid is declared once; declare a new configuration in a new folder")
    if not reason.strip():
        raise ValueError("a declaration needs --reason: the validation evidence that chose this configuration")
    tested = [p for p in out.glob("*/seed*/run.json") if "test" in json.loads(p.read_text())]
    if tested:
        raise ValueError(f"{out} already holds tested runs ({tested[0].parent}); declare before testing")
    out.mkdir(parents=True, exist_ok=True)
    declaration = {"config": config_path, "overrides": list(overrides), "models": list(models),
                   "seeds": [int(s) for s in seeds], "reason": reason, "command": command, "machine": machine_info()}
    path.write_text(json.dumps(declaration, indent=2) + "\n")
    return path


def _declared(out: Path, config_path: str, overrides: Sequence[str], name: str, seed: int) -> dict[str, Any]:
    path = out / DECLARATION
    if not path.is_file():
        raise ValueError(f"--test: {out} has no {DECLARATION}; declare the final configuration first "
                         "(ecgformer bench declare, benchmarks/PROTOCOL.md)")
    declaration = json.loads(path.read_text())
    if declaration["config"] != config_path or list(declaration["overrides"]) != list(overrides):
        raise ValueError(f"--test: {path} declares config {declaration['config']} with overrides "
                         f"{declaration['overrides']}, this run is {config_path} with {list(overrides)}")
    if name not in declaration["models"] or seed not in declaration["seeds"]:
        raise ValueError(f"--test: {name} seed {seed} is not among the declared models {declaration['models']} and "
                         f"seeds {declaration['seeds']} ({path})")
    return declaration


def run_training_grid(config_path: str, models: Sequence[str], seeds: Sequence[int], out: str | Path,
                      overrides: Sequence[str] = (), metric: str = "auroc_macro", runs_dir: str | Path = "runs/bench",
                      command: str = "", log: Callable[[str], None] = print, test: bool = False) -> dict[str, Any]:
    """Fit ``config_path`` for every model and seed not yet in ``out`` and record the validation selection; with
    ``test``, also score the test split once per declared run (see the module docstring). Returns :func:`summarize`.
    """
    from ..training import run
    from ..training.checkpoint_io import read_checkpoint
    from ..training.lightning_cli import load_config

    out = Path(out)
    for name in models:
        for seed in seeds:
            declaration = _declared(out, config_path, overrides, name, seed) if test else None
            target = out / name / f"seed{seed}"
            work = Path(runs_dir) / out.name / name / f"seed{seed}"
            config = load_config(config_path, [*overrides, f"model.name={name}", f"seed={seed}", f"out_dir={work}"])
            record = json.loads((target / "run.json").read_text()) if (target / "run.json").is_file() else None
            if record is not None and (record["config"], record["overrides"]) != (config_path, list(overrides)):
                raise ValueError(f"{target / 'run.json'} was trained with {record['config']} {record['overrides']}, "
                                 f"not {config_path} {list(overrides)}; use another --out")
            if record is None:
                resume, resumed_at = _interrupted_run(work, config_path, overrides, log)
                if resume is None:
                    log(f"{name} seed {seed}: training ({config_path})")
                start = time.perf_counter()
                best = run.fit(config, ckpt_path=resume)
                wall_s = time.perf_counter() - start
                checkpoint = read_checkpoint(best, required=("hyper_parameters",))
                data = checkpoint["hyper_parameters"]["data_config"]
                record = {"model": name, "seed": seed, "config": config_path, "overrides": list(overrides),
                          "command": command, "wall_s": round(wall_s, 1), "best_checkpoint": str(best),
                          "epochs": _epochs(work), "num_classes": int(checkpoint["hyper_parameters"]["num_classes"]),
                          "model_overrides": dict(checkpoint["hyper_parameters"].get("model_overrides") or {}),
                          "validation": validation_record(checkpoint, work, config["checkpoint"]["mode"]),
                          "input": {"in_chans": int(checkpoint["hyper_parameters"]["in_chans"]),
                                    "length": round(data["fs"] * data["length_s"])},
                          "machine": machine_info()}
                if resumed_at:
                    record["resumed_at_epochs"] = resumed_at
                target.mkdir(parents=True, exist_ok=True)
                (target / "run.json").write_text(json.dumps(record, indent=2) + "\n")
                log(f"{name} seed {seed}: best validation {record['validation']['monitor']} = "
                    f"{record['validation']['best']:.4f} (epoch {record['validation']['epoch']}) in "
                    f"{wall_s / 60:.1f} min")
            if declaration is not None and "test" not in record:
                start = time.perf_counter()
                report = run.test(config, record["best_checkpoint"])
                metrics = json.loads((report / "metrics.json").read_text())
                for file in RUN_FILES:
                    shutil.copyfile(report / file, target / file)
                record["test"] = {"metric": metric, "value": metrics["metrics"].get(metric),
                                  "wall_s": round(time.perf_counter() - start, 1), "command": command,
                                  "declared": declaration["machine"]["date"], "machine": machine_info()}
                record[metric] = record["test"]["value"]
                (target / "run.json").write_text(json.dumps(record, indent=2) + "\n")
                log(f"{name} seed {seed}: test {metric} = {record[metric]:.4f}")
            summarize(out, metric, log=lambda line: None, pairwise=False)
    return summarize(out, metric, log=log)


def _predictions(run_dir: Path) -> tuple[list[str], Any, Any] | None:
    """``(record ids, labels, probabilities)`` of a tested run's ``predictions.csv``, or None."""
    import pandas as pd

    path = run_dir / "predictions.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={"record_id": str})
    truth = [c for c in table.columns if c.startswith("true_")]
    prob = [f"prob_{c.removeprefix('true_')}" for c in truth]
    return list(table["record_id"]), table[truth].to_numpy(), table[prob].to_numpy()


def _tested_seeds(model_dir: Path) -> set[int]:
    return {int(path.parent.name.removeprefix("seed")) for path in model_dir.glob("seed*/predictions.csv")}


def compare_runs(model_a: str | Path, model_b: str | Path, metric: str = "auroc_macro",
                 seeds: Sequence[int] | None = None) -> dict[str, Any] | None:
    """Paired bootstrap of model A minus model B on their test records (:func:`ecgformer.metrics.paired_bootstrap`).

    ``model_a`` and ``model_b`` are ``GRID/<model>`` folders of tested runs (``seed<k>/predictions.csv``), from one
    grid or from two grids scored on the same test records. ``seeds`` defaults to the seeds tested in both. Returns
    ``{"a", "b", "seeds", "difference", "low", "high", "tie", ...}``, or None where ``metric`` cannot be resampled or
    no seed is tested in both; records that differ between the two raise ``ValueError``.
    """
    from ..metrics import RESAMPLED_METRICS, paired_bootstrap

    model_a, model_b = Path(model_a), Path(model_b)
    seeds = sorted(_tested_seeds(model_a) & _tested_seeds(model_b)) if seeds is None else list(seeds)
    if metric not in RESAMPLED_METRICS or not seeds:
        return None
    runs = [(_predictions(model_a / f"seed{s}"), _predictions(model_b / f"seed{s}")) for s in seeds]
    missing = [s for s, (a, b) in zip(seeds, runs) if a is None or b is None]
    if missing:
        raise ValueError(f"seeds {missing} are not tested in both {model_a} and {model_b} (no predictions.csv)")
    records, labels, _ = runs[0][0]
    for a, b in runs:
        if a[0] != records or b[0] != records:
            raise ValueError(f"{model_a} and {model_b} were tested on different records: not a paired comparison")
    result = paired_bootstrap(labels, [a[2] for a, _ in runs], [b[2] for _, b in runs], metric)
    return {"a": model_a.name, "b": model_b.name, "seeds": seeds, **result.to_dict()}


def summarize(out: str | Path, metric: str = "auroc_macro", log: Callable[[str], None] = print,
              rank_by: str = "validation", pairwise: bool = True) -> dict[str, Any]:
    """Gather ``out/<model>/seed*/`` into ``summary.json``, ``summary.csv`` and ``summary.png``; return the summary.

    Models are ranked by mean best validation score (``rank_by="validation"``); a grid whose runs recorded no
    validation selection (made before ``benchmarks/PROTOCOL.md``) is listed by name and says so. Test scores are
    reported, never used to rank: ``rank_by="test"`` is refused. Each tested model carries its paired bootstrap
    comparison to the validation-best tested model (``vs_reference``); with ``pairwise``, ``pairs`` also holds
    every pair of tested models (:func:`compare_runs`, the higher-ranked model as A), which takes a few seconds per
    pair.
    """
    import pandas as pd

    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by={rank_by!r}: models are ranked on validation (benchmarks/PROTOCOL.md), never on "
                         f"test; choose one of {RANKINGS}")
    out = Path(out)
    runs = [json.loads(path.read_text()) for path in sorted(out.glob("*/seed*/run.json"))]
    rows: list[dict[str, Any]] = []
    for name in sorted({r["model"] for r in runs}):
        mine = [r for r in runs if r["model"] == name]
        tested = [r for r in mine if r.get(metric) is not None]
        validated = [r for r in mine if r.get("validation")]
        cost = _model_cost(name, _num_classes(out, mine), mine[0]["input"]["in_chans"], mine[0]["input"]["length"],
                           mine[0].get("model_overrides") or {})
        per_class = [pd.read_csv(out / name / f"seed{r['seed']}" / "per_class.csv") for r in tested]
        rows.append({
            "model": name, "seeds": [r["seed"] for r in mine], "n": len(mine),
            "val_monitor": validated[0]["validation"]["monitor"] if validated else None,
            "val_mode": validated[0]["validation"]["mode"] if validated else None,
            "val_mean": _mean([r["validation"]["best"] for r in validated]),
            "val_std": _std([r["validation"]["best"] for r in validated]),
            "val_epochs": [r["validation"]["epoch"] for r in validated],
            "tested_seeds": [r["seed"] for r in tested], "n_tested": len(tested),
            f"{metric}_mean": _mean([float(r[metric]) for r in tested]),
            f"{metric}_std": _std([float(r[metric]) for r in tested]),
            "scores": [float(r[metric]) for r in tested], **cost,
            "wall_min_mean": statistics.fmean(r["wall_s"] for r in mine) / 60,
            "per_class_auroc": (pd.concat(per_class).groupby("class", sort=False)["auroc"].mean().round(4).to_dict()
                                if per_class else {}),
            "commits": sorted({r["machine"]["commit"] for r in mine if r["machine"].get("commit")})})
    ranking = "validation" if rows and all(row["val_mean"] is not None for row in rows) else "name"
    if ranking == "validation":
        rows.sort(key=lambda row: row["val_mean"] if row["val_mode"] == "min" else -row["val_mean"])
    reference = next((row for row in rows if row["n_tested"]), None) if ranking == "validation" else None
    for row in rows:  # over the seeds tested in both (runs tested before predictions.csv was kept: none)
        row["vs_reference"] = (compare_runs(out / row["model"], out / reference["model"], metric)
                               if reference is not None and row is not reference else None)
    tested = [row["model"] for row in rows if row["n_tested"]] if ranking == "validation" and pairwise else []
    pairs = [pair for i, a in enumerate(tested) for b in tested[i + 1:]
             if (pair := compare_runs(out / a, out / b, metric)) is not None]
    summary = {"metric": metric, "ranked_by": ranking, "reference": reference["model"] if reference else None,
               "declared": json.loads((out / DECLARATION).read_text()) if (out / DECLARATION).is_file() else None,
               "rows": rows, "pairs": pairs, "runs": runs}
    if rows:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        flat = [{k: v for k, v in row.items() if k not in ("per_class_auroc", "scores", "seeds", "val_epochs",
                                                          "tested_seeds", "vs_reference")} for row in rows]
        pd.DataFrame(flat).to_csv(out / "summary.csv", index=False, float_format="%.5g")
        _plot(out / "summary.png", rows, metric, ranking)
        for row in rows:
            log(f"{row['model']:<28} validation {_fmt(row['val_mean'])} +- {_fmt(row['val_std'])}  test {metric} "
                f"{_fmt(row[f'{metric}_mean'])} +- {_fmt(row[f'{metric}_std'])} (n={row['n']}, tested "
                f"{row['n_tested']})  params {row['params'] / 1e6:5.2f} M  GFLOPs {row['gflops']:.3f}")
    return summary


def _num_classes(out: Path, runs: list[dict[str, Any]]) -> int:
    """The class count of a model's runs: recorded by the run, or (runs made before it was) in its test report."""
    for run in runs:
        if run.get("num_classes"):
            return int(run["num_classes"])
        metrics = out / run["model"] / f"seed{run['seed']}" / "metrics.json"
        if metrics.is_file():
            return len(json.loads(metrics.read_text())["classes"])
    raise ValueError(f"{out}: no run of {runs[0]['model']} records its class count")


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _plot(path: Path, rows: list[dict[str, Any]], metric: str, ranking: str) -> None:
    import numpy as np

    # not pyplot: the caller's plotting backend (e.g. a notebook's) stays as it is
    from matplotlib.figure import Figure

    names = [row["model"] for row in rows][::-1]
    fig = Figure(figsize=(12, 0.4 * len(rows) + 2.5))
    bars, cost = fig.subplots(1, 2)
    positions = np.arange(len(names))
    for offset, key, label, color in ((0.2, "val", "validation (best epoch)", "tab:gray"),
                                      (-0.2, metric, f"test {metric}", "tab:blue")):
        means = [row[f"{key}_mean"] for row in rows][::-1]
        stds = [row[f"{key}_std"] for row in rows][::-1]
        shown = [k for k, m in enumerate(means) if m is not None]
        bars.barh(positions[shown] + offset, [means[k] for k in shown], height=0.38, xerr=[stds[k] for k in shown],
                  color=color, alpha=0.8, capsize=3, label=label)
    values = [row[f"{k}_mean"] for row in rows for k in ("val", metric) if row[f"{k}_mean"] is not None] or [0.5]
    bars.set_yticks(positions, names)
    bars.set_xlim(max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.03))
    bars.set(xlabel=f"mean +- std over seeds; ranked by {ranking}" + (" (no validation recorded)"
                                                                       if ranking == "name" else ""))
    bars.legend(fontsize=8, loc="lower right")
    for row in rows:
        if row[f"{metric}_mean"] is None:
            continue
        cost.errorbar(row["gflops"], row[f"{metric}_mean"], yerr=row[f"{metric}_std"], fmt="o", capsize=3)
        cost.annotate(row["model"], (row["gflops"], row[f"{metric}_mean"]), fontsize=7, xytext=(3, 3),
                      textcoords="offset points")
    cost.set(xscale="log", xlabel="forward GFLOPs per evaluation window", ylabel=f"test {metric}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _interrupted_run(work: Path, config_path: str, overrides: Sequence[str],
                     log: Callable[[str], None]) -> tuple[Path | None, list[int]]:
    """Prepare ``work`` for a run without ``run.json``: the ``last.ckpt`` to resume from (and the epochs it already
    resumed after) when ``work/grid_run.json`` records this config and these overrides, else an emptied folder."""
    from ..training.checkpoint_io import CheckpointError, read_checkpoint

    marker, last = work / GRID_RUN, work / "checkpoints" / "last.ckpt"
    started = json.loads(marker.read_text()) if marker.is_file() else None
    same = started is not None and (started["config"], started["overrides"]) == (config_path, list(overrides))
    try:
        epochs = int(read_checkpoint(last, required=("epoch",))["epoch"]) + 1 if same and last.is_file() else None
    except CheckpointError as exc:
        log(f"{work}: cannot resume ({exc}); starting over")
        epochs = None
    if epochs is not None:
        started["resumed_at_epochs"] = [*started.get("resumed_at_epochs", []), epochs]
        marker.write_text(json.dumps(started, indent=2) + "\n")
        log(f"{work}: resuming after epoch {epochs} from {last}")
        return last, started["resumed_at_epochs"]
    if work.exists():
        shutil.rmtree(work)  # a run interrupted before its first checkpoint, or of another configuration
    work.mkdir(parents=True)
    marker.write_text(json.dumps({"config": config_path, "overrides": list(overrides)}, indent=2) + "\n")
    return None, []


def _check_grid_args(args: argparse.Namespace) -> None:
    unknown = sorted(set(args.models) - set(list_models()))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; registered: {', '.join(list_models())}")
    from ..training.config import ConfigError, resolve_config

    try:
        resolve_config(args.config)
    except ConfigError as exc:
        raise SystemExit(f"--config: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    _check_grid_args(args)
    log = bench_log(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = run_training_grid(args.config, args.models, args.seeds, args.out, [*args.overrides, *args.set],
                                   args.metric, args.runs_dir, args.command_line, log, test=args.test)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    emit_result(result, argparse.Namespace(**{**vars(args), "out": None}))  # --out: the grid folder, written above
    return 0


def _declare(args: argparse.Namespace) -> int:
    _check_grid_args(args)
    try:
        path = declare_final(args.out, args.config, args.models, args.seeds, [*args.overrides, *args.set], args.reason,
                             args.command_line)
    except (ValueError, FileExistsError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"declared: {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    for folder in (args.model_a, args.model_b):
        if not Path(folder).is_dir():
            raise SystemExit(f"error: {folder} is not a folder of a grid's model (GRID/<model>)")
    try:
        result = compare_runs(args.model_a, args.model_b, args.metric, args.seeds)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if result is None:
        raise SystemExit(f"error: no paired comparison of {args.metric}: it cannot be resampled, or no seed is "
                         f"tested in both {args.model_a} and {args.model_b}")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.model_a} - {args.model_b}: test {args.metric} {comparison_cell(result).replace('**', '')} "
              f"(paired bootstrap {result['level']:.0%} interval, {result['n_resamples']} resamples of "
              f"{result['n_records']} records; seeds {', '.join(map(str, result['seeds']))})")
    return 0


def _grid_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training config: a YAML path or a packaged config's name (ecgformer configs)")
    parser.add_argument("--models", nargs="+", required=True, help="registered model names")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.__class__ = OverrideParser  # --section.key=value overrides for every run, as fit takes them
    parser.description = ("Any --section.key=value argument (e.g. --trainer.max_epochs=30) overrides the config for "
                          "every run (values are YAML).")
    parser.set_defaults(overrides=[])
    parser.add_argument("--set", nargs="*", default=[], help=argparse.SUPPRESS)  # the spelling before 0.x
    parser.add_argument("--out", required=True, help="results folder (committed: small JSON/CSV/PNG files)")


def add_train_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``bench train``."""
    parser = targets.add_parser("train", help="train a config for several models and seeds, record the validation "
                                "selection; --test scores declared runs once (resumable)")
    _grid_arguments(parser)
    parser.add_argument("--test", action="store_true",
                        help="also score the test split, once per run, for the configuration of OUT/DECLARED.json")
    parser.add_argument("--metric", default="auroc_macro", help="test metric to summarise (a key of metrics.json)")
    parser.add_argument("--runs-dir", default="runs/bench", help="where checkpoints and logs go (not committed)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(run=_run)


def add_declare_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``bench declare``."""
    parser = targets.add_parser("declare", help="declare a grid's configuration final before its test run "
                                "(writes OUT/DECLARED.json once)")
    _grid_arguments(parser)
    parser.add_argument("--reason", required=True, help="the validation evidence that chose this configuration")
    parser.set_defaults(run=_declare)


def add_compare_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``bench compare``."""
    parser = targets.add_parser("compare", help="paired bootstrap of two tested models' test difference "
                                "(GRID/<model> folders, also from two grids with the same test records)")
    parser.add_argument("model_a", help="GRID/<model> folder of model A (tested runs)")
    parser.add_argument("model_b", help="GRID/<model> folder of model B")
    parser.add_argument("--metric", default="auroc_macro", help="auroc_macro or cinc2017_score")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the seeds tested in both")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(run=_compare)
