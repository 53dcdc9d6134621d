"""The test report folder: metrics JSON, per-class table, ROC/PR curves, confusion matrices, predictions.

Figures are built without pyplot, so writing a report leaves the caller's plotting backend (e.g. a notebook's) alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from ..metrics import classification_report
from .thresholds import Thresholds

__all__ = ["PER_CLASS_COLUMNS", "REPORT_FILES", "write_report"]

REPORT_FILES = ("metrics.json", "per_class.csv", "roc_curves.png", "pr_curves.png", "confusion_matrices.png",
                "predictions.csv")
PER_CLASS_COLUMNS = ("class", "support", "auroc", "auprc", "f1", "threshold")


def _grid(n: int) -> tuple[Figure, np.ndarray]:
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def _curves(path: Path, y_true: np.ndarray, y_prob: np.ndarray, names: Sequence[str], kind: str) -> None:
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for k, name in enumerate(names):
        if y_true[:, k].min() == y_true[:, k].max():
            continue  # the curve is undefined for a class with one outcome only
        if kind == "roc":
            fpr, tpr, _ = roc_curve(y_true[:, k], y_prob[:, k])
            ax.plot(fpr, tpr, label=name)
        else:
            precision, recall, _ = precision_recall_curve(y_true[:, k], y_prob[:, k])
            ax.plot(recall, precision, label=name)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curves")
    else:
        ax.set(xlabel="recall", ylabel="precision", title="precision-recall curves")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _confusions(path: Path, y_true: np.ndarray, decisions: np.ndarray, names: Sequence[str]) -> None:
    fig, axes = _grid(len(names))
    for k, (ax, name) in enumerate(zip(axes, names)):
        t, d = y_true[:, k].astype(bool), decisions[:, k]
        matrix = np.array([[np.sum(~t & ~d), np.sum(~t & d)], [np.sum(t & ~d), np.sum(t & d)]])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", color="black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["neg", "pos"], yticklabels=["neg", "pos"],
               xlabel="predicted", ylabel="true", title=name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(out_dir: str | Path, y_true: np.ndarray, y_prob: np.ndarray, record_ids: Sequence[str],
                 thresholds: Thresholds, metrics: dict[str, float], extra: dict[str, Any] | None = None) -> Path:
    """Write :data:`REPORT_FILES` into ``out_dir`` for test outputs ``y_prob`` of binary ``y_true`` (one row
    per record of ``record_ids``), decided by ``thresholds`` (chosen on ``thresholds.split``)."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(thresholds.class_names)
    decisions = thresholds.apply(y_prob)
    rows = classification_report(y_true, y_prob, thresholds.values, names)
    pd.DataFrame(rows, columns=list(PER_CLASS_COLUMNS)).to_csv(folder / "per_class.csv", index=False)
    summary = {"metrics": metrics, "n_records": len(y_true), "classes": names,
               "thresholds": thresholds.to_dict(), "thresholds_chosen_on": thresholds.split, **(extra or {})}
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    _curves(folder / "roc_curves.png", y_true, y_prob, names, "roc")
    _curves(folder / "pr_curves.png", y_true, y_prob, names, "pr")
    _confusions(folder / "confusion_matrices.png", y_true, decisions, names)
    table = {"record_id": list(record_ids)}
    table.update({f"true_{n}": y_true[:, k].astype(int) for k, n in enumerate(names)})
    table.update({f"prob_{n}": y_prob[:, k] for k, n in enumerate(names)})
    table.update({f"pred_{n}": decisions[:, k].astype(int) for k, n in enumerate(names)})
    pd.DataFrame(table).to_csv(folder / "predictions.csv", index=False, float_format="%.6f")
    return folder
