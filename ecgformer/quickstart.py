"""``ecgformer quickstart``: the whole job on built-in synthetic data, with no download.

Train the packaged config ``quickstart_synthetic`` (a small hybrid on synthetic 12-lead ECGs), test it with the
thresholds chosen on the validation split, export the best checkpoint as a parity-checked ONNX bundle, write
the test split's records as WFDB files and classify them with the torch-free predictor. Prints the test macro
AUROC and where every file is.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .training.cli import OverrideParser

__all__ = ["QUICKSTART_CONFIG", "add_quickstart_parser", "run_quickstart"]

QUICKSTART_CONFIG = "quickstart_synthetic"


def run_quickstart(out_dir: str | Path = "runs/quickstart", config: str | Path | None = None,
                   overrides: Sequence[str] = (), n_predict: int = 8,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fit, test, export and predict; returns the test metrics and the paths written under ``out_dir``."""
    import numpy as np

    from .data.synthetic import SyntheticECG, write_wfdb
    from .export import export_bundle, load_checkpoint
    from .inference.predictor import Predictor, write_predictions
    from .training import run
    from .training.config import ConfigError
    from .training.lightning_cli import load_config

    out = Path(out_dir)
    settings = load_config(QUICKSTART_CONFIG if config is None else config, [*overrides, f"out_dir={out}"])
    if settings["data"]["dataset"] != "synthetic":
        raise ConfigError(f"quickstart trains on synthetic data; the config names {settings['data']['dataset']!r}")
    log(f"[1/4] training {settings['model']['name']} on synthetic ECGs ({out})")
    best = run.fit(settings, overwrite=True)  # quickstart's own folder: a rerun replaces the earlier quickstart
    log("[2/4] testing with the thresholds chosen on the validation split")
    report = run.test(settings, best)
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]
    log("[3/4] exporting the best checkpoint to a parity-checked ONNX bundle")
    bundle = export_bundle(load_checkpoint(best), out / "bundle", ["onnx"], overwrite=True)
    log("[4/4] predicting test-split records (written as WFDB) with the torch-free predictor")
    source = SyntheticECG(**settings["data"]["options"])
    test_records = [int(i) for i in np.flatnonzero(source.folds == 10)[:n_predict]]
    records = write_wfdb(source, out / "records", test_records)
    predictor = Predictor(bundle)
    predictions = predictor.predict(sorted(records.glob("*.hea")))
    table = write_predictions(predictions, predictor.class_names, out / "predictions.csv", overwrite=True)
    truth = _read_labels(records / "labels.csv")
    for p in predictions:
        log(f"  {Path(p.record).name}: predicted {'|'.join(p.labels) or '-'}  (true {truth[Path(p.record).name]})")
    result = {"test_auroc_macro": metrics["auroc_macro"], "metrics": metrics, "checkpoint": str(best),
              "report": str(report), "bundle": str(bundle), "records": str(records), "predictions": str(table)}
    log(f"test macro AUROC: {metrics['auroc_macro']:.4f}")
    for key in ("checkpoint", "report", "bundle", "predictions"):
        log(f"{key}: {result[key]}")
    return result


def _read_labels(path: Path) -> dict[str, str]:
    """``labels.csv`` of :func:`~ecgformer.data.synthetic.write_wfdb`: record -> labels joined by ``|``."""
    with open(path, newline="") as handle:
        return {row["record"]: row["labels"].replace(",", "|") or "-" for row in csv.DictReader(handle)}


def _run(args: argparse.Namespace) -> int:
    from .training.config import ConfigError

    try:
        run_quickstart(args.out, args.config, [*args.overrides, *args.set])
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


def add_quickstart_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``quickstart`` on the top-level parser."""
    parser = commands.add_parser("quickstart", help="train, test, export and predict on built-in synthetic data",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/quickstart",
                        help="output folder (default: runs/quickstart); a rerun replaces the quickstart outputs in it")
    parser.add_argument("--config", default=None, help=f"training config (default: {QUICKSTART_CONFIG})")
    parser.__class__ = OverrideParser
    parser.epilog = "Any --section.key=value argument (e.g. --trainer.max_epochs=2) overrides the config."
    parser.add_argument("--set", nargs="*", default=[], help=argparse.SUPPRESS)  # the spelling before 0.x
    parser.set_defaults(run=_run, overrides=[])
