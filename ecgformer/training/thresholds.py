"""Per-class decision thresholds, chosen on validation outputs only.

:func:`select_thresholds` sees nothing but the arrays it is given: the training module passes the
*validation* split's labels and probabilities and records ``split="val"``; choosing on ``"test"`` is
refused. The result, :class:`Thresholds`, travels in checkpoints and export bundles (``to_dict`` /
``from_dict``) and says which rule and which split chose it.

Rules (a record is positive for a class when ``probability >= threshold``):

* ``"f1"``: per class, the candidate (one of the class's unique validation scores) with the largest F1
  ``= 2TP / (2TP + FP + FN)``;
* ``"fbeta2"``: the same with F-beta, beta = 2 (``5TP / (5TP + 4FN + FP)``, recall-weighted);
* ``"youden"``: the candidate with the largest Youden index ``TPR - FPR``;
* ``"fixed"``: 0.5 for every class;
* ``"argmax"``: single-label tasks (e.g. CinC 2017 N/A/O/~) take no threshold: the decision is the
  arg-max class of each record (``values`` is None).

Ties go to the largest threshold (fewest positive decisions), also where float rounding makes two equal
fractions differ in their last bit. A class where the rule is undefined on
the validation data (no positive record; for ``"youden"`` also no negative record) gets 0.5 and is
listed in ``fallback``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from ..metrics import binarize, check_inputs, class_names_for

__all__ = ["FIXED_THRESHOLD", "RULES", "Thresholds", "select_thresholds"]

Rule = Literal["f1", "fbeta2", "youden", "fixed", "argmax"]
RULES: tuple[str, ...] = get_args(Rule)
FIXED_THRESHOLD = 0.5
TIE_TOLERANCE = 1e-14


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds per class (``values``; None for arg-max decisions), the ``rule`` and the
    ``split`` that chose them, the ``class_names`` they belong to, and the classes that fell back to 0.5."""

    values: tuple[float, ...] | None
    rule: str
    split: str
    class_names: tuple[str, ...]
    fallback: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_rule(self.rule)
        if (self.values is None) != (self.rule == "argmax"):
            raise ValueError("values must be None exactly when the rule is 'argmax'")
        if self.values is not None and len(self.values) != len(self.class_names):
            raise ValueError(f"{len(self.values)} thresholds for {len(self.class_names)} classes")

    def apply(self, y_prob: Any) -> np.ndarray:
        """Boolean decisions ``(n_records, n_classes)`` for probabilities of the same class order."""
        if np.ndim(y_prob) != 2 or np.shape(y_prob)[1] != len(self.class_names):
            raise ValueError(f"expected (n_records, {len(self.class_names)}) probabilities, got {np.shape(y_prob)}")
        return binarize(y_prob, self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for checkpoints and ``model.json``)."""
        return {"values": None if self.values is None else list(self.values), "rule": self.rule,
                "split": self.split, "class_names": list(self.class_names), "fallback": list(self.fallback)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Inverse of :meth:`to_dict`; ``ValueError`` on a missing key or inconsistent content."""
        missing = {"values", "rule", "split", "class_names"} - data.keys()
        if missing:
            raise ValueError(f"thresholds record lacks {sorted(missing)}")
        values = data["values"]
        return cls(values=None if values is None else tuple(float(v) for v in values), rule=str(data["rule"]),
                   split=str(data["split"]), class_names=tuple(str(c) for c in data["class_names"]),
                   fallback=tuple(str(c) for c in data.get("fallback", ())))


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; expected one of {RULES}")


def _sweep(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique scores in decreasing order and, for each as threshold, the TP and FP of ``s >= t`` (counts at the
    last position of each score value, so the order among equal scores does not matter)."""
    order = np.argsort(-s)
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last position of each score value
    tp = np.cumsum(y)[last]
    return s[last], tp, last + 1 - tp


def _best(y: np.ndarray, s: np.ndarray, rule: str) -> float | None:
    """The rule's threshold for one class, or None where the rule is undefined."""
    pos = float(y.sum())
    neg = len(y) - pos
    if pos == 0 or (rule == "youden" and neg == 0):
        return None
    candidates, tp, fp = _sweep(y, s)
    fn = pos - tp
    if rule == "f1":
        score = 2 * tp / (2 * tp + fp + fn)
    elif rule == "fbeta2":
        score = 5 * tp / (5 * tp + 4 * fn + fp)
    else:
        score = tp / pos - fp / neg
    # first maximum = largest threshold; scores within rounding of the maximum are ties (two different F1 or
    # Youden fractions of n records differ by at least 1 / (4 n^2), far above 1e-14 for any validation split)
    return float(candidates[np.flatnonzero(score >= score.max() - TIE_TOLERANCE)[0]])


def select_thresholds(y_true: Any, y_prob: Any, rule: Rule = "f1", split: str = "val",
                      class_names: Sequence[str] | None = None) -> Thresholds:
    """Thresholds per class by ``rule`` (see the module doc) from the given labels and probabilities,
    which must be the validation split's (``split`` records which; ``"test"`` is refused)."""
    _check_rule(rule)
    if split == "test":
        raise ValueError("thresholds must be chosen on validation data, never on the test split")
    labels, probs = check_inputs(y_true, y_prob, "y_prob")
    names = class_names_for(labels.shape[1], class_names)
    if rule == "argmax":
        return Thresholds(None, rule, split, names)
    if rule == "fixed":
        return Thresholds((FIXED_THRESHOLD,) * len(names), rule, split, names)
    chosen = [_best(labels[:, k], probs[:, k], rule) for k in range(len(names))]
    return Thresholds(tuple(FIXED_THRESHOLD if t is None else t for t in chosen), rule, split, names,
                      tuple(name for name, t in zip(names, chosen) if t is None))
