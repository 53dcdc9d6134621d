"""Threshold selection on validation outputs, against thresholds worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgformer.training import Thresholds, select_thresholds

pytestmark = pytest.mark.filterwarnings("error")

# One class, scores already sorted: candidate thresholds are the scores, decisions are score >= t.
CLEAN_Y = np.array([[1], [1], [0], [1], [0], [0]])
CLEAN_S = np.array([[0.9], [0.8], [0.7], [0.6], [0.4], [0.2]])
# F1 = 2TP / (2TP + FP + FN): t=.9 2/4; .8 4/5; .7 4/6; .6 6/7 (TP 3, FP 1); .4 6/8; .2 6/9 -> 0.6

TIE_Y = np.array([[1], [0], [1], [0], [0], [1]])
TIE_S = np.array([[0.9], [0.8], [0.7], [0.6], [0.5], [0.3]])
# F1:     .9 2/4; .8 2/5; .7 4/6; .6 4/7; .5 4/8; .3 6/9  -> tie 4/6 = 6/9 at .7 and .3 -> larger: 0.7
# F-beta2 = 5TP / (5TP + 4FN + FP): .9 5/13; .8 5/14; .7 10/15; .6 10/16; .5 10/17; .3 15/18 -> 0.3
# Youden TPR - FPR: .9 1/3 - 0; .8 1/3 - 1/3; .7 2/3 - 1/3; .6 0; .5 -1/3; .3 1 - 1 -> tie .9/.7 -> 0.9


def test_f1_optimal_threshold_by_hand() -> None:
    chosen = select_thresholds(CLEAN_Y, CLEAN_S, rule="f1")
    assert chosen.values == (0.6,)
    np.testing.assert_array_equal(chosen.apply(CLEAN_S)[:, 0], [1, 1, 1, 1, 0, 0])


@pytest.mark.parametrize(("rule", "expected"), [("f1", 0.7), ("fbeta2", 0.3), ("youden", 0.9), ("fixed", 0.5)])
def test_rules_by_hand(rule: str, expected: float) -> None:
    chosen = select_thresholds(TIE_Y, TIE_S, rule=rule)  # type: ignore[arg-type]
    assert chosen.values == (expected,)
    assert (chosen.rule, chosen.split, chosen.fallback) == (rule, "val", ())


def test_per_class_and_fallback_for_undefined_classes() -> None:
    y = np.column_stack([CLEAN_Y[:, 0], TIE_Y[:, 0], np.zeros(6, int), np.ones(6, int)])
    s = np.column_stack([CLEAN_S[:, 0], TIE_S[:, 0], TIE_S[:, 0], CLEAN_S[:, 0]])
    names = ["AF", "RBBB", "none", "all"]
    f1 = select_thresholds(y, s, "f1", class_names=names)
    # no positive -> 0.5 fallback; all positive -> F1 is largest (= 1) at the lowest score, 0.2
    assert f1.values == (0.6, 0.7, 0.5, 0.2)
    assert f1.fallback == ("none",)
    youden = select_thresholds(y, s, "youden", class_names=names)
    assert youden.values[2:] == (0.5, 0.5) and youden.fallback == ("none", "all")


def test_argmax_for_single_label_tasks() -> None:
    probs = np.array([[0.6, 0.3, 0.05, 0.05], [0.2, 0.2, 0.5, 0.1]])
    chosen = select_thresholds(np.eye(4, dtype=int)[[0, 2]], probs, rule="argmax", class_names="NAO~")
    assert chosen.values is None
    np.testing.assert_array_equal(chosen.apply(probs), [[1, 0, 0, 0], [0, 0, 1, 0]])
    with pytest.raises(ValueError, match="expected"):
        chosen.apply(probs[:, :3])


def test_round_trip_through_json() -> None:
    chosen = select_thresholds(TIE_Y, TIE_S, "fbeta2", split="val", class_names=["AF"])
    restored = Thresholds.from_dict(json.loads(json.dumps(chosen.to_dict())))
    assert restored == chosen
    assert chosen.to_dict() == {"values": [0.3], "rule": "fbeta2", "split": "val", "class_names": ["AF"],
                                "fallback": []}
    argmax = select_thresholds(TIE_Y, TIE_S, "argmax")
    assert Thresholds.from_dict(json.loads(json.dumps(argmax.to_dict()))) == argmax


def test_refuses_test_split_and_bad_input() -> None:
    with pytest.raises(ValueError, match="never on the test split"):
        select_thresholds(TIE_Y, TIE_S, split="test")
    with pytest.raises(ValueError, match="unknown threshold rule"):
        select_thresholds(TIE_Y, TIE_S, rule="accuracy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        select_thresholds(TIE_Y, np.hstack([TIE_S, TIE_S]))
    with pytest.raises(ValueError, match="lacks"):
        Thresholds.from_dict({"values": [0.5], "rule": "f1"})
    with pytest.raises(ValueError, match="None exactly when"):
        Thresholds(None, "f1", "val", ("a",))
    with pytest.raises(ValueError, match="2 thresholds for 1 classes"):
        Thresholds((0.5, 0.5), "fixed", "val", ("a",))


def brute_force_threshold(y: np.ndarray, s: np.ndarray, rule: str) -> float:
    """Every unique score tried as threshold with scikit-learn's metrics; ties to the largest threshold."""
    from sklearn.metrics import confusion_matrix, f1_score, fbeta_score

    best, best_score = None, -np.inf
    for t in np.unique(s)[::-1]:  # decreasing, so a later tie never replaces an earlier one
        decision = s >= t
        if rule == "f1":
            score = f1_score(y, decision)
        elif rule == "fbeta2":
            score = fbeta_score(y, decision, beta=2)
        else:
            tn, fp, fn, tp = confusion_matrix(y, decision, labels=[0, 1]).ravel()
            score = tp / (tp + fn) - fp / (fp + tn)
        if score > best_score + 1e-12:
            best, best_score = float(t), score
    return best


@pytest.mark.parametrize("rule", ["f1", "fbeta2", "youden"])
def test_rules_against_scikit_learn_by_brute_force(rule: str) -> None:
    """Random classes of every prevalence, scores rounded to two decimals so that many are tied."""
    rng = np.random.default_rng(7)
    n, classes = 60, 12
    prevalence = np.linspace(0.03, 0.9, classes)
    y = (rng.random((n, classes)) < prevalence).astype(int)
    y[0] = 1  # every class has a positive record
    y[1] = 0  # and a negative one
    s = np.round(np.clip(0.35 * y + rng.random((n, classes)) * 0.7, 0, 1), 2)
    chosen = select_thresholds(y, s, rule=rule)
    expected = [brute_force_threshold(y[:, k], s[:, k], rule) for k in range(classes)]
    np.testing.assert_allclose(chosen.values, expected)
    assert chosen.fallback == ()


def test_fallback_survives_the_json_round_trip_and_older_records_without_it() -> None:
    y = np.column_stack([CLEAN_Y[:, 0], np.zeros(6, int)])
    chosen = select_thresholds(y, np.column_stack([CLEAN_S[:, 0], CLEAN_S[:, 0]]), "f1", class_names=["AF", "none"])
    record = json.loads(json.dumps(chosen.to_dict()))
    assert record["fallback"] == ["none"] and Thresholds.from_dict(record) == chosen
    del record["fallback"]
    assert Thresholds.from_dict(record).fallback == ()


def test_error_messages_name_the_problem() -> None:
    with pytest.raises(ValueError, match="^values must be None exactly when the rule is 'argmax'$"):
        Thresholds((0.5,), "argmax", "val", ("a",))
    with pytest.raises(ValueError, match=r"^expected \(n_records, 1\) probabilities, got \(6, 2\)$"):
        select_thresholds(TIE_Y, TIE_S).apply(np.hstack([TIE_S, TIE_S]))
    with pytest.raises(ValueError, match="^thresholds must be chosen on validation data, never on the test split$"):
        select_thresholds(TIE_Y, TIE_S, split="test")
    with pytest.raises(ValueError, match=r"^y_true \(6, 1\) and y_prob \(6, 2\) must have the same shape$"):
        select_thresholds(TIE_Y, np.hstack([TIE_S, TIE_S]))


def test_fbeta2_weighs_missed_positives_by_beta_squared_4() -> None:
    """Two positives, at the top and after nine negatives. F2 = 5TP / (5TP + 4FN + FP): the top alone 5 / 9 = 0.556
    beats both 10 / 19 = 0.526, so the threshold is the top score (with 5FN it would be 1/2 against 10/19)."""
    y = np.array([[1]] + [[0]] * 9 + [[1]])
    s = np.linspace(1.0, 0.0, 11)[:, None]
    assert select_thresholds(y, s, "fbeta2").values == (1.0,)
