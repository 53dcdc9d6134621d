"""Evaluation metrics for ECG classification (numpy + scikit-learn; no torch).

Conventions
-----------
* ``y_true``: ``(n_records, n_classes)`` multi-hot labels (bool or 0/1); ``y_score``: scores of the same
  shape (probabilities for :func:`fmax`); ``y_pred``: binary decisions of the same shape (see
  :func:`binarize`). A 1-D array is one class.
* **Undefined values are NaN, never a warning.** A class whose labels take one value only (no positive or
  no negative record) has AUROC and AUPRC NaN; a class with ``TP + FP + FN == 0`` has F1/F-beta/G-beta
  NaN. Macro averages are the mean over the *defined* classes (NaN when none is), which is the official
  PhysioNet/CinC 2020/2021 scorer's ``np.nanmean`` policy. Micro AUROC/AUPRC pool every (record, class)
  pair and are NaN when the pooled labels take one value.
* AUPRC is the average precision (step-wise area, no interpolation), the same quantity as the
  challenge scorer's ``sum((tpr[j+1] - tpr[j]) * ppv[j+1])``.
* A decision is positive when ``score >= threshold`` (:func:`binarize`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .paths import data_root, data_root_origin
from .registry import Registry

__all__ = [
    "NORMAL_CLASS",
    "RESAMPLED_METRICS",
    "BootstrapDifference",
    "CHALLENGE_SCORERS",
    "CINC2017_CLASSES",
    "ChallengeScorer",
    "challenge_headline",
    "challenge_metrics",
    "paired_bootstrap",
    "resample_indices",
    "resampled_auroc_macro",
    "resampled_cinc2017_score",
    "auprc",
    "auroc",
    "binarize",
    "check_inputs",
    "cinc2017_score",
    "cinc2021_challenge_score",
    "class_names_for",
    "classification_report",
    "f_beta",
    "fmax",
    "g_beta",
    "load_challenge_weights",
    "per_class_auprc",
    "per_class_auroc",
    "per_class_f1",
]

#: SNOMED CT code of sinus rhythm, the "inactive" class of the PhysioNet/CinC 2020/2021 metric.
NORMAL_CLASS = "426783006"
#: The PhysioNet/CinC 2017 classes in the scorer's order: normal rhythm, AF, other rhythm, too noisy to classify.
CINC2017_CLASSES: tuple[str, ...] = ("N", "A", "O", "~")

Average = Literal["macro", "micro"]


def _as_2d(name: str, array: Any) -> np.ndarray:
    out = np.asarray(array)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or out.shape[0] == 0 or out.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (n_records, n_classes) array, got shape {np.shape(array)}")
    return out


def _binary(name: str, array: Any) -> np.ndarray:
    out = _as_2d(name, array)
    if out.dtype != bool and not np.isin(out, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0/1 (or bool) values")
    return out.astype(bool)


def _scores(name: str, array: Any) -> np.ndarray:
    out = _as_2d(name, array).astype(np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return out


def check_inputs(y_true: Any, other: Any, other_name: str = "y_score",
                 binary: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(labels, other)``: bool 2-D labels and, of the same shape, finite float scores
    (``binary=False``) or bool decisions; ``ValueError`` naming the bad argument otherwise."""
    labels = _binary("y_true", y_true)
    values = _binary(other_name, other) if binary else _scores(other_name, other)
    if labels.shape != values.shape:
        raise ValueError(f"y_true {labels.shape} and {other_name} {values.shape} must have the same shape")
    return labels, values


def class_names_for(n_classes: int, class_names: Sequence[str] | None = None) -> tuple[str, ...]:
    """``class_names`` as strings (checked against ``n_classes``), or ``"0"``, ``"1"``, ... when None."""
    names = tuple(str(i) for i in range(n_classes)) if class_names is None else tuple(map(str, class_names))
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} class names for {n_classes} classes")
    return names


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite entries; NaN (without a warning) when there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _ranking_metric(metric: Callable[..., float], y_true: np.ndarray, y_score: np.ndarray) -> float:
    """``metric`` on one column, NaN when the labels take a single value."""
    return float(metric(y_true, y_score)) if 0 < y_true.sum() < y_true.size else float("nan")


def _per_class(metric: Callable[..., float], y_true: Any, y_score: Any) -> np.ndarray:
    labels, scores = check_inputs(y_true, y_score)
    return np.array([_ranking_metric(metric, labels[:, k], scores[:, k]) for k in range(labels.shape[1])])


def _averaged(metric: Callable[..., float], y_true: Any, y_score: Any, average: Average) -> float:
    if average == "macro":
        return _nanmean(_per_class(metric, y_true, y_score))
    if average == "micro":
        labels, scores = check_inputs(y_true, y_score)
        return _ranking_metric(metric, labels.ravel(), scores.ravel())
    raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")


def _sklearn_metric(name: str) -> Callable[..., float]:
    """``sklearn.metrics.<name>``, imported on first use (the predictor imports this module without needing it)."""
    import sklearn.metrics

    return getattr(sklearn.metrics, name)


def per_class_auroc(y_true: Any, y_score: Any) -> np.ndarray:
    """Area under the ROC curve of each class; NaN for a class with one label value."""
    return _per_class(_sklearn_metric("roc_auc_score"), y_true, y_score)


def per_class_auprc(y_true: Any, y_score: Any) -> np.ndarray:
    """Average precision (area under the precision-recall step curve) of each class; NaN for a class
    with one label value."""
    return _per_class(_sklearn_metric("average_precision_score"), y_true, y_score)


def auroc(y_true: Any, y_score: Any, average: Average = "macro") -> float:
    """Macro (mean over defined classes) or micro (pooled) AUROC."""
    return _averaged(_sklearn_metric("roc_auc_score"), y_true, y_score, average)


def auprc(y_true: Any, y_score: Any, average: Average = "macro") -> float:
    """Macro (mean over defined classes) or micro (pooled) AUPRC."""
    return _averaged(_sklearn_metric("average_precision_score"), y_true, y_score, average)


def binarize(y_score: Any, thresholds: Sequence[float] | np.ndarray | None = None,
             at_least_one: bool = False) -> np.ndarray:
    """Binary decisions ``score >= threshold`` per class, or the one-hot arg-max when ``thresholds`` is
    None (single-label tasks). ``at_least_one`` turns on the arg-max class of a record with no positive
    decision, as the PTB-XL benchmark's ``apply_thresholds`` does before F-beta/G-beta."""
    scores = _scores("y_score", y_score)
    argmax = np.zeros(scores.shape, dtype=bool)
    argmax[np.arange(len(scores)), scores.argmax(axis=1)] = True
    if thresholds is None:
        return argmax
    cut = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if cut.shape != (scores.shape[1],):
        raise ValueError(f"got {cut.size} thresholds for {scores.shape[1]} classes")
    decisions = scores >= cut
    if at_least_one:
        empty = ~decisions.any(axis=1)
        decisions[empty] = argmax[empty]
    return decisions


def _counts(y_true: np.ndarray, y_pred: np.ndarray,
            record_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (TP, FP, FN), each record counted with ``record_weight`` (default 1)."""
    w = np.ones(len(y_true)) if record_weight is None else record_weight
    tp = (w[:, None] * (y_true & y_pred)).sum(axis=0)
    fp = (w[:, None] * (~y_true & y_pred)).sum(axis=0)
    fn = (w[:, None] * (y_true & ~y_pred)).sum(axis=0)
    return tp, fp, fn


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with NaN where the denominator is 0."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def per_class_f1(y_true: Any, y_pred: Any) -> np.ndarray:
    """F1 ``= 2TP / (2TP + FP + FN)`` of each class from record counts; NaN where the denominator is 0."""
    tp, fp, fn = _counts(*check_inputs(y_true, y_pred, "y_pred", binary=True))
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _label_normalized_counts(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels, decisions = check_inputs(y_true, y_pred, "y_pred", binary=True)
    return _counts(labels, decisions, 1.0 / np.maximum(labels.sum(axis=1), 1))


def f_beta(y_true: Any, y_pred: Any, beta: float = 2.0) -> float:
    """Macro F-beta of the PhysioNet/CinC 2020 challenge (unofficial phase), used on ICBEB2018 by the
    PTB-XL benchmark: per class ``(1+b^2)TP / ((1+b^2)TP + b^2 FN + FP)`` where every record counts
    ``1 / max(1, number of its true labels)``; the mean over classes with a non-zero denominator.

    This is the challenge scorer's ``compute_beta_measures``; the PTB-XL benchmark's ``challenge_metrics``
    gives the same value whenever every record has a label and every class a non-zero denominator (it
    divides by the label count unguarded). The benchmark binarises with ``binarize(..., at_least_one=True)``.
    """
    tp, fp, fn = _label_normalized_counts(y_true, y_pred)
    b2 = beta**2
    return _nanmean(_ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp))


def g_beta(y_true: Any, y_pred: Any, beta: float = 2.0) -> float:
    """Macro G-beta of the same challenge: per class ``TP / (TP + FP + b FN)`` with the label-normalised
    counts of :func:`f_beta`; the mean over classes with a non-zero denominator."""
    tp, fp, fn = _label_normalized_counts(y_true, y_pred)
    return _nanmean(_ratio(tp, tp + fp + beta * fn))


def fmax(y_true: Any, y_score: Any, thresholds: Sequence[float] | np.ndarray | None = None) -> float:
    """Sample-centric Fmax (CAFA, Radivojac et al. 2013; reported by the PTB-XL benchmark).

    For each threshold ``t`` (default ``0.00, 0.01, ..., 1.00``; scores are probabilities) the record
    decisions are ``score >= t``; precision is averaged over the records with at least one positive
    decision, recall over the records with at least one true label, and
    ``F(t) = 2 pr rc / (pr + rc)``. Fmax is the largest ``F(t)`` (thresholds where no record has a
    positive decision are skipped; 0.0 when every threshold is skipped).
    """
    labels, scores = check_inputs(y_true, y_score)
    grid = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    n_true = labels.sum(axis=1)
    annotated = n_true > 0
    if not annotated.any():
        raise ValueError("fmax needs at least one record with a true label")
    best = 0.0
    for t in grid.reshape(-1):
        decisions = scores >= t
        n_pred = decisions.sum(axis=1)
        predicted = n_pred > 0
        if not predicted.any():
            continue
        hits = (decisions & labels).sum(axis=1)
        precision = float((hits[predicted] / n_pred[predicted]).mean())
        recall = float((hits[annotated] / n_true[annotated]).mean())
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def cinc2017_score(y_true: Any, y_pred: Any) -> float:
    """PhysioNet/CinC 2017 score: ``(F1_N + F1_A + F1_O) / 3`` with, from the 4x4 confusion matrix of the
    classes ``N, A, O, ~`` (rows truth, columns answer), ``F1_x = 2 N_xx / (row_x sum + column_x sum)``.

    ``y_true`` and ``y_pred`` are class indices in that order (``CINC2017_CLASSES``); turn scores into
    answers with ``argmax`` (:func:`binarize` without thresholds). Since the row sum is TP+FN and the
    column sum TP+FP, ``F1_x`` is :func:`per_class_f1` of the one-hot classes.
    """
    n = len(CINC2017_CLASSES)
    truth, answer = (np.asarray(a).reshape(-1) for a in (y_true, y_pred))
    if truth.shape != answer.shape or truth.size == 0:
        raise ValueError(f"y_true {np.shape(y_true)} and y_pred {np.shape(y_pred)} must be equal-length 1-D")
    for name, values in (("y_true", truth), ("y_pred", answer)):
        if not np.isin(values, np.arange(n)).all():
            raise ValueError(f"{name} must hold class indices 0..{n - 1} ({', '.join(CINC2017_CLASSES)})")
    eye = np.eye(n, dtype=bool)
    f1 = per_class_f1(eye[truth.astype(int)], eye[answer.astype(int)])
    return float(f1[:3].mean())


def _default_weights_file() -> Path:
    return data_root() / "cinc2021" / "weights.csv"


def load_challenge_weights(weights_file: str | Path | None = None) -> tuple[list[str], np.ndarray]:
    """The classes (SNOMED CT codes, equivalent codes joined by ``|``) and the reward matrix of a
    PhysioNet/CinC 2020/2021 ``weights.csv`` (default ``$ECGFORMER_DATA/cinc2021/weights.csv``).

    As the official ``load_weights``: the row labels must name the same code sets as the column labels,
    in the same order; a non-numeric entry is NaN (ignored by the score's ``nansum``).
    """
    path = Path(weights_file).expanduser() if weights_file is not None else _default_weights_file()
    if not path.is_file():
        raise FileNotFoundError(f"challenge weights file not found: {path} "
                                f"(pass weights_file=; {data_root_origin()})")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if row]
    if len(rows) < 2:
        raise ValueError(f"{path}: empty weights table")
    classes = rows[0][1:]
    if len(rows) - 1 != len(classes) or any(len(row) != len(classes) + 1 for row in rows[1:]):
        raise ValueError(f"{path}: expected a {len(classes)}x{len(classes)} table below the header row")
    if [set(row[0].split("|")) for row in rows[1:]] != [set(c.split("|")) for c in classes]:
        raise ValueError(f"{path}: row labels differ from the column labels")

    def number(cell: str) -> float:
        try:
            return float(cell)
        except ValueError:
            return float("nan")

    weights = np.array([[number(cell) for cell in row[1:]] for row in rows[1:]], dtype=np.float64)
    return classes, weights


def _modified_confusion(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The challenge's ``A[j, k]``: sum over records with label j and output k of
    ``1 / max(1, |labels ∪ outputs|)`` of the record."""
    normalization = np.maximum((labels | outputs).sum(axis=1), 1)
    return labels.T.astype(np.float64) @ (outputs / normalization[:, None])


def cinc2021_challenge_score(labels: Any, outputs: Any, classes: Sequence[str],
                             weights_file: str | Path | None = None) -> float:
    """The PhysioNet/CinC 2020/2021 challenge metric, as the official ``evaluate_model.py`` computes it.

    ``labels`` and ``outputs`` are boolean ``(n_records, n_classes)``; ``classes`` are the SNOMED CT codes
    of ``weights.csv`` in its order (equivalent codes joined by ``|``, in any order within a class).
    With ``W`` the weights and ``A`` the record-normalised confusion matrix, ``score(out) = nansum(W * A)``;
    the result is ``(observed - inactive) / (correct - inactive)`` where *correct* outputs the labels
    and *inactive* outputs only the normal class ``426783006``; 0.0 when ``correct == inactive``.
    """
    file_classes, weights = load_challenge_weights(weights_file)
    given = [set(str(c).split("|")) for c in classes]
    expected = [set(c.split("|")) for c in file_classes]
    if given != expected:
        if len(given) != len(expected):
            raise ValueError(f"{len(given)} classes given, weights.csv has {len(expected)}")
        k = next(i for i, (g, e) in enumerate(zip(given, expected)) if g != e)
        raise ValueError(f"class {k} is {classes[k]!r} but weights.csv has {file_classes[k]!r} there "
                         "(classes must be the codes of weights.csv, in its order)")
    truth, answer = check_inputs(labels, outputs, "outputs", binary=True)
    if truth.shape[1] != len(file_classes):
        raise ValueError(f"labels have {truth.shape[1]} classes, weights.csv has {len(file_classes)}")
    normal = next((i for i, codes in enumerate(expected) if NORMAL_CLASS in codes), None)
    if normal is None:
        raise ValueError(f"the normal class {NORMAL_CLASS} is not among the classes of weights.csv")
    inactive = np.zeros_like(truth)
    inactive[:, normal] = True
    observed, correct, inactive_score = (float(np.nansum(weights * _modified_confusion(truth, out)))
                                         for out in (answer, truth, inactive))
    if correct == inactive_score:
        return 0.0
    return (observed - inactive_score) / (correct - inactive_score)


def classification_report(y_true: Any, y_score: Any, thresholds: Sequence[float] | np.ndarray | None,
                          class_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per class: ``class``, ``support`` (positive records), ``auroc``, ``auprc``, ``f1`` (of the
    decisions ``score >= threshold``, or arg-max decisions when ``thresholds`` is None) and
    ``threshold`` (None for arg-max). Undefined values are NaN as in the rest of this module."""
    labels, scores = check_inputs(y_true, y_score)
    names = class_names_for(labels.shape[1], class_names)
    decisions = binarize(scores, thresholds)
    cut = [None] * len(names) if thresholds is None else [float(t) for t in np.asarray(thresholds).reshape(-1)]
    columns = zip(names, labels.sum(axis=0), per_class_auroc(labels, scores), per_class_auprc(labels, scores),
                  per_class_f1(labels, decisions), cut)
    return [{"class": name, "support": int(support), "auroc": float(roc), "auprc": float(pr), "f1": float(f1),
             "threshold": t} for name, support, roc, pr, f1, t in columns]


def resample_indices(n_records: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """``(n_resamples, n_records)`` record indices drawn with replacement (the bootstrap's resamples)."""
    return np.random.default_rng(seed).integers(0, n_records, size=(n_resamples, n_records))


def resampled_auroc_macro(y_true: Any, y_score: Any, indices: np.ndarray) -> np.ndarray:
    """Macro AUROC (mean over the classes defined in each resample, as :func:`auroc`) of every resample
    ``indices[b]`` of the records, computed for all resamples at once from average ranks (Mann-Whitney U)."""
    from scipy.stats import rankdata

    labels, scores = check_inputs(y_true, y_score)
    per_class = np.full((len(indices), labels.shape[1]), np.nan)
    for k in range(labels.shape[1]):
        y = labels[indices, k]
        ranks = rankdata(scores[indices, k], axis=1)
        positives = y.sum(axis=1)
        negatives = y.shape[1] - positives
        defined = (positives > 0) & (negatives > 0)
        u = np.where(y, ranks, 0.0).sum(axis=1) - positives * (positives + 1) / 2.0
        per_class[defined, k] = u[defined] / (positives[defined] * negatives[defined])
    finite = np.isfinite(per_class)
    counts = finite.sum(axis=1)
    sums = np.where(finite, per_class, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.full(len(indices), np.nan), where=counts > 0)


def resampled_cinc2017_score(y_true: Any, y_score: Any, indices: np.ndarray) -> np.ndarray:
    """:func:`cinc2017_score` of the arg-max answers for every resample ``indices[b]`` of the records (one-hot
    ``y_true`` in ``CINC2017_CLASSES`` order); NaN, as there, for a resample where N, A or O is in neither its truth
    nor its answers."""
    labels, scores = check_inputs(y_true, y_score)
    eye = np.eye(labels.shape[1], dtype=bool)
    truth, answer = eye[labels.argmax(axis=1)][indices], eye[scores.argmax(axis=1)][indices]
    hits = (truth & answer).sum(axis=1)
    totals = truth.sum(axis=1) + answer.sum(axis=1)
    f1 = np.divide(2.0 * hits, totals, out=np.full(hits.shape, np.nan), where=totals > 0)
    return f1[:, :3].mean(axis=1)


#: Test statistics :func:`paired_bootstrap` can resample: name -> ``(y_true, y_score, indices) -> per-resample values``.
RESAMPLED_METRICS: dict[str, Callable[[Any, Any, np.ndarray], np.ndarray]] = {
    "auroc_macro": resampled_auroc_macro, "cinc2017_score": resampled_cinc2017_score}


@dataclass(frozen=True)
class BootstrapDifference:
    """``difference`` = mean over seeds of model A's metric minus model B's, on the test records as they are, and
    its paired bootstrap percentile interval ``[low, high]`` at ``level``; a tie when the interval covers 0."""

    metric: str
    difference: float
    low: float
    high: float
    level: float
    n_resamples: int
    n_records: int

    @property
    def tie(self) -> bool:
        """Whether the interval covers 0 (the data cannot tell the two models apart)."""
        return self.low <= 0.0 <= self.high

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (with ``tie``)."""
        return {**asdict(self), "tie": self.tie}


def paired_bootstrap(y_true: Any, scores_a: Sequence[Any], scores_b: Sequence[Any], metric: str = "auroc_macro",
                     n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> BootstrapDifference:
    """Paired bootstrap of the difference between two models on one test set.

    ``scores_a`` and ``scores_b`` hold each model's ``(n_records, n_classes)`` scores for the records of ``y_true``,
    one array per training seed (the same seeds for both). Each resample draws the records with replacement, the
    same records for both models and every seed, and takes the mean over seeds of A's ``metric`` minus B's; the
    interval is the ``level`` percentile interval of those differences (Efron and Tibshirani 1993). The record-level
    sampling error of a small test fold is what separates "better" from "a tie" here; the seed spread enters
    through the means.
    """
    if metric not in RESAMPLED_METRICS:
        raise ValueError(f"metric must be one of {tuple(RESAMPLED_METRICS)}, got {metric!r}")
    if not scores_a or not scores_b:
        raise ValueError("paired_bootstrap needs at least one score array per model")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    labels = np.asarray(y_true)
    statistic = RESAMPLED_METRICS[metric]
    identity = np.arange(len(labels))[None]
    indices = resample_indices(len(labels), n_resamples, seed)

    def mean_over_seeds(scores: Sequence[Any], rows: np.ndarray) -> np.ndarray:
        return np.mean([statistic(labels, s, rows) for s in scores], axis=0)

    difference = float(mean_over_seeds(scores_a, identity)[0] - mean_over_seeds(scores_b, identity)[0])
    resampled = mean_over_seeds(scores_a, indices) - mean_over_seeds(scores_b, indices)
    resampled = resampled[np.isfinite(resampled)]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(resampled, [tail, 100.0 - tail])
    return BootstrapDifference(metric, difference, float(low), float(high), level, n_resamples, len(labels))


@dataclass(frozen=True)
class ChallengeScorer:
    """A dataset's official challenge metric: ``score(spec, y_true, y_prob, decisions)`` returns its named values
    (``decisions`` is ``None`` without thresholds), ``headline`` the one to show and select on (or ``None``)."""

    score: Callable[[dict[str, Any], np.ndarray, np.ndarray, np.ndarray | None], dict[str, float]]
    headline: str | None = None


def _cinc2017_metrics(spec: dict[str, Any], y_true: np.ndarray, y_prob: np.ndarray,
                      decisions: np.ndarray | None) -> dict[str, float]:
    return {"cinc2017_score": cinc2017_score(np.asarray(y_true).argmax(axis=1), np.asarray(y_prob).argmax(axis=1))}


def _cinc2021_metrics(spec: dict[str, Any], y_true: np.ndarray, y_prob: np.ndarray,
                      decisions: np.ndarray | None) -> dict[str, float]:
    if decisions is None:
        return {}
    return {"challenge_score": cinc2021_challenge_score(y_true, decisions, spec["class_codes"], spec["weights_file"])}


#: Challenge scorers by the ``scorer`` key of a reader's :meth:`~ecgformer.data.base.LabelledSource.challenge_scoring`.
CHALLENGE_SCORERS: Registry[ChallengeScorer] = Registry("challenge scorer", {
    "cinc2017": ChallengeScorer(_cinc2017_metrics, headline="cinc2017_score"),
    "cinc2021": ChallengeScorer(_cinc2021_metrics)})


def challenge_metrics(spec: dict[str, Any] | None, y_true: Any, y_prob: Any,
                      decisions: np.ndarray | None = None) -> dict[str, float]:
    """The official challenge metrics ``spec`` (a reader's ``challenge_scoring()``: ``{"scorer": name, ...}``)
    names, for labels ``y_true``, probabilities ``y_prob`` and thresholded ``decisions``; ``{}`` without a spec."""
    if not spec:
        return {}
    return CHALLENGE_SCORERS[spec["scorer"]].score(spec, y_true, y_prob, decisions)


def challenge_headline(spec: dict[str, Any] | None) -> str | None:
    """The metric a challenge ``spec`` ranks by (``"cinc2017_score"``), or ``None``."""
    return CHALLENGE_SCORERS[spec["scorer"]].headline if spec else None
