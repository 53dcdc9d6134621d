"""ecgformer.metrics against values worked out by hand from the published definitions.

Every expected value is written as the arithmetic that produces it; no expected value comes from the
code under test. Any warning is an error here: undefined values must come back as NaN, silently.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ecgformer import metrics
from ecgformer.data import data_root

pytestmark = pytest.mark.filterwarnings("error")

# Three classes, five records. Class 0 and 1 are worked by hand below; class 2 has no positive record.
Y = np.array([[1, 0, 0],
              [0, 1, 0],
              [1, 1, 0],
              [0, 0, 0],
              [0, 1, 0]])
S = np.array([[0.9, 0.2, 0.1],
              [0.8, 0.7, 0.2],
              [0.4, 0.6, 0.3],
              [0.3, 0.65, 0.4],
              [0.1, 0.1, 0.5]])
# Class 0: positives {0.9, 0.4}, negatives {0.8, 0.3, 0.1}; pairs won: 0.9 -> 3, 0.4 -> 2 => 5 / 6.
#   AP: ranks 0.9 P (recall 1/2, precision 1), 0.8 N, 0.4 P (recall 1, precision 2/3)
#   => 1/2 * 1 + 1/2 * 2/3 = 5/6.
# Class 1: positives {0.7, 0.6, 0.1}, negatives {0.2, 0.65}; pairs won: 0.7 -> 2, 0.6 -> 1, 0.1 -> 0 => 3 / 6.
#   AP: 0.7 P (r 1/3, p 1), 0.65 N, 0.6 P (r 2/3, p 2/3), 0.2 N, 0.1 P (r 1, p 3/5)
#   => 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5 = 34/45.
AUROC = [5 / 6, 3 / 6]
AUPRC = [5 / 6, 34 / 45]


def test_per_class_auroc_auprc_by_hand_and_nan_for_one_valued_class() -> None:
    roc = metrics.per_class_auroc(Y, S)
    pr = metrics.per_class_auprc(Y, S)
    np.testing.assert_allclose(roc[:2], AUROC)
    np.testing.assert_allclose(pr[:2], AUPRC)
    assert math.isnan(roc[2]) and math.isnan(pr[2])
    all_positive = metrics.per_class_auroc(np.ones((3, 1)), [0.1, 0.5, 0.9])
    assert math.isnan(all_positive[0])


def test_macro_averages_exclude_undefined_classes() -> None:
    assert metrics.auroc(Y, S) == pytest.approx((5 / 6 + 3 / 6) / 2)
    assert metrics.auprc(Y, S, average="macro") == pytest.approx((5 / 6 + 34 / 45) / 2)
    assert math.isnan(metrics.auroc(np.zeros((3, 2)), np.full((3, 2), 0.5)))


def test_micro_auroc_auprc_pool_all_pairs() -> None:
    y = np.array([[1, 0], [0, 1]])
    s = np.array([[0.8, 0.5], [0.4, 0.3]])
    # pooled labels 1, 0, 0, 1 with scores 0.8, 0.5, 0.4, 0.3: positives {0.8, 0.3}, negatives {0.5, 0.4}
    # AUROC: 0.8 wins 2, 0.3 wins 0 => 2 / 4. AP: 0.8 P (r 1/2, p 1), 0.5 N, 0.4 N, 0.3 P (r 1, p 2/4).
    assert metrics.auroc(y, s, average="micro") == pytest.approx(2 / 4)
    assert metrics.auprc(y, s, average="micro") == pytest.approx(1 / 2 * 1 + 1 / 2 * 2 / 4)
    with pytest.raises(ValueError, match="average"):
        metrics.auroc(y, s, average="weighted")  # type: ignore[arg-type]


# F-beta / G-beta (beta = 2): each record counts 1 / (its number of true labels).
BETA_TRUE = np.array([[1, 0, 0, 0],   # 1 label  -> weight 1
                      [1, 1, 0, 0],   # 2 labels -> weight 1/2
                      [0, 0, 1, 0],   # 1 label  -> weight 1
                      [0, 1, 0, 0]])  # 1 label  -> weight 1
BETA_PRED = np.array([[1, 0, 0, 0],
                      [1, 0, 1, 0],
                      [0, 0, 0, 0],
                      [1, 1, 0, 0]])
# class 0: TP = 1 + 1/2 = 1.5, FP = 1 (record 3), FN = 0 -> F = 5*1.5 / (5*1.5 + 1) = 7.5/8.5 = 15/17,
#          G = 1.5 / (1.5 + 1 + 0) = 0.6
# class 1: TP = 1 (record 3), FP = 0, FN = 1/2 (record 1) -> F = 5 / (5 + 4*0.5) = 5/7, G = 1 / (1 + 2*0.5) = 0.5
# class 2: TP = 0, FP = 1/2 (record 1), FN = 1 (record 2) -> F = 0, G = 0
# class 3: no label, no output: 0/0, undefined -> left out of the mean


def test_f_beta_g_beta_by_hand() -> None:
    assert metrics.f_beta(BETA_TRUE, BETA_PRED) == pytest.approx((15 / 17 + 5 / 7 + 0) / 3)
    assert metrics.g_beta(BETA_TRUE, BETA_PRED) == pytest.approx((0.6 + 0.5 + 0) / 3)
    # beta = 1 on the same counts: class 0: 2*1.5 / (3 + 1) = 3/4; class 1: 2 / (2 + 0.5) = 4/5; class 2: 0
    assert metrics.f_beta(BETA_TRUE, BETA_PRED, beta=1) == pytest.approx((3 / 4 + 4 / 5 + 0) / 3)


def test_f_beta_record_without_labels_counts_once() -> None:
    # record 1 has no label and predicts class 1: weight 1 / max(1, 0) = 1, an FP of class 1
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[1, 0], [0, 1]])
    # class 0: F = 5/5 = 1, G = 1; class 1: TP 0, FP 1 -> F = 0, G = 0
    assert metrics.f_beta(y, p) == pytest.approx((1 + 0) / 2)
    assert metrics.g_beta(y, p) == pytest.approx((1 + 0) / 2)


def test_per_class_f1_counts_records() -> None:
    # class 0: TP 2, FP 1, FN 0 -> 4/5; class 1: TP 1, FN 1 -> 2/3; class 2: TP 0, FP 1, FN 1 -> 0; class 3: NaN
    f1 = metrics.per_class_f1(BETA_TRUE, BETA_PRED)
    np.testing.assert_allclose(f1[:3], [4 / 5, 2 / 3, 0])
    assert math.isnan(f1[3])


def test_binarize_thresholds_argmax_and_at_least_one() -> None:
    s = np.array([[0.2, 0.3], [0.9, 0.1], [0.5, 0.7]])
    np.testing.assert_array_equal(metrics.binarize(s, [0.5, 0.5]), [[0, 0], [1, 0], [1, 1]])
    np.testing.assert_array_equal(metrics.binarize(s, [0.5, 0.5], at_least_one=True), [[0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(metrics.binarize(s), [[0, 1], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="3 thresholds for 2 classes"):
        metrics.binarize(s, [0.5, 0.5, 0.5])


# Fmax: records {0}, {1}, {0, 1} with scores below. Decisions per threshold region:
FMAX_TRUE = np.array([[1, 0], [0, 1], [1, 1]])
FMAX_SCORE = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.8]])
# t in (0.2, 0.3]: outputs {0}, {0,1}, {0,1}: precision (1 + 1/2 + 1)/3 = 5/6, recall 1 -> F = 10/11
# t in (0.3, 0.6]: {0}, {0,1}, {1}: precision (1 + 1/2 + 1)/3 = 5/6, recall (1 + 1 + 1/2)/3 = 5/6 -> 5/6
# t in (0.6, 0.7]: {0}, {1}, {1}: precision 1, recall 5/6 -> F = 10/11
# t in (0.7, 0.8]: {0}, {}, {1}: precision over 2 records = 1, recall (1 + 0 + 1/2)/3 = 1/2 -> 2/3
# t <= 0.2: all outputs: precision (1/2 + 1/2 + 1)/3 = 2/3, recall 1 -> 4/5; t in (0.8, 0.9]: 1/2


def test_fmax_by_hand() -> None:
    assert metrics.fmax(FMAX_TRUE, FMAX_SCORE) == pytest.approx(10 / 11)
    assert metrics.fmax(FMAX_TRUE, FMAX_SCORE, thresholds=[0.5, 0.75]) == pytest.approx(5 / 6)
    assert metrics.fmax(FMAX_TRUE, FMAX_SCORE, thresholds=[0.95]) == 0.0  # no decision at all


def test_cinc2017_score_from_confusion_matrix() -> None:
    confusion = np.array([[5, 1, 1, 0],   # truth N
                          [0, 3, 1, 0],   # truth A
                          [1, 0, 2, 1],   # truth O
                          [0, 0, 1, 1]])  # truth ~
    truth = np.repeat(np.repeat(np.arange(4), 4), confusion.ravel())
    answer = np.repeat(np.tile(np.arange(4), 4), confusion.ravel())
    # F1_N = 2*5 / (7 + 6) = 10/13, F1_A = 2*3 / (4 + 4) = 3/4, F1_O = 2*2 / (4 + 5) = 4/9
    assert metrics.cinc2017_score(truth, answer) == pytest.approx((10 / 13 + 3 / 4 + 4 / 9) / 3)
    assert metrics.cinc2017_score(truth, truth) == 1.0
    with pytest.raises(ValueError, match="class indices"):
        metrics.cinc2017_score([0, 4], [0, 1])


# CinC 2021 metric on a 3-class weights.csv (the normal class last, an equivalent-code class in the middle).
TINY_CLASSES = ["111", "222|333", "426783006"]
TINY_WEIGHTS = ",111,222|333,426783006\n111,1,0.5,0\n222|333,0.5,1,0.25\n426783006,0,0.25,1\n"


@pytest.fixture()
def tiny_weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.csv"
    path.write_text(TINY_WEIGHTS)
    return path


def test_cinc2021_tiny_case_by_hand(tiny_weights: Path) -> None:
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    outputs = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=bool)
    # A[j, k] += 1 / |labels ∪ outputs| per record:
    #   observed: r0 A[0,0] += 1; r1 (|{0,1}| = 2) A[0,1] += 1/2, A[1,1] += 1/2; r2 (|{0,2}| = 2) A[2,0] += 1/2
    #     = 1*1 + 0.5*0.5 + 1*0.5 + 0*0.5 = 1.75
    #   correct: r0 A[0,0] += 1; r1 A[0,0], A[0,1], A[1,0], A[1,1] += 1/2; r2 A[2,2] += 1
    #     = 1*1.5 + 0.5*0.5 + 0.5*0.5 + 1*0.5 + 1*1 = 3.5
    #   inactive (normal only): r0 (|{0,2}| = 2) A[0,2] += 1/2; r1 (3) A[0,2], A[1,2] += 1/3; r2 A[2,2] += 1
    #     = 0 + 0.25/3 + 1 = 13/12
    expected = (1.75 - 13 / 12) / (3.5 - 13 / 12)  # = 8/29
    assert metrics.cinc2021_challenge_score(labels, outputs, TINY_CLASSES, tiny_weights) == pytest.approx(expected)
    # equivalent codes in another order name the same class
    assert metrics.cinc2021_challenge_score(labels, outputs, ["111", "333|222", "426783006"],
                                            tiny_weights) == pytest.approx(8 / 29)
    assert metrics.cinc2021_challenge_score(labels, labels, TINY_CLASSES, tiny_weights) == 1.0
    normal_only = np.zeros_like(labels)
    normal_only[:, 2] = True
    assert metrics.cinc2021_challenge_score(labels, normal_only, TINY_CLASSES, tiny_weights) == 0.0
    # every record normal: correct == inactive -> 0.0 by the scorer's convention
    assert metrics.cinc2021_challenge_score(normal_only, normal_only, TINY_CLASSES, tiny_weights) == 0.0


def test_cinc2021_validation_errors(tiny_weights: Path, tmp_path: Path) -> None:
    y = np.zeros((2, 3), dtype=bool)
    with pytest.raises(ValueError, match="class 1 is '426783006'"):
        metrics.cinc2021_challenge_score(y, y, ["111", "426783006", "222|333"], tiny_weights)
    with pytest.raises(ValueError, match="2 classes given"):
        metrics.cinc2021_challenge_score(y[:, :2], y[:, :2], ["111", "222|333"], tiny_weights)
    with pytest.raises(ValueError, match="same shape"):
        metrics.cinc2021_challenge_score(y, y[:1], TINY_CLASSES, tiny_weights)
    with pytest.raises(ValueError, match="0/1"):
        metrics.cinc2021_challenge_score(np.full((2, 3), 2), y, TINY_CLASSES, tiny_weights)
    missing = tmp_path / "nowhere" / "weights.csv"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        metrics.cinc2021_challenge_score(y, y, TINY_CLASSES, missing)
    bad = tmp_path / "bad.csv"
    bad.write_text(TINY_WEIGHTS.replace("\n111,", "\n999,"))
    with pytest.raises(ValueError, match="row labels"):
        metrics.load_challenge_weights(bad)
    no_normal = tmp_path / "no_normal.csv"
    no_normal.write_text(TINY_WEIGHTS.replace("426783006", "444"))
    with pytest.raises(ValueError, match="normal class 426783006"):
        metrics.cinc2021_challenge_score(y, y, ["111", "222|333", "444"], no_normal)


def test_default_weights_file_follows_ecgformer_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECGFORMER_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "cinc2021" / "weights.csv")):
        metrics.load_challenge_weights()
    (tmp_path / "cinc2021").mkdir()
    (tmp_path / "cinc2021" / "weights.csv").write_text(TINY_WEIGHTS)
    assert metrics.load_challenge_weights()[0] == TINY_CLASSES


@pytest.fixture(scope="module")
def official_weights() -> Path:
    path = data_root() / "cinc2021" / "weights.csv"
    if not path.is_file():
        pytest.skip(f"official CinC 2021 weights.csv not found at {path} (set $ECGFORMER_DATA)")
    return path


def test_cinc2021_on_the_official_weights(official_weights: Path) -> None:
    classes, weights = metrics.load_challenge_weights()  # the default file is the official one
    assert len(classes) == 26 and weights.shape == (26, 26)
    af, afl, normal = classes.index("164889003"), classes.index("164890007"), classes.index("426783006")
    assert (weights[af, afl], weights[af, normal]) == (0.5, 0.25)  # the entries used by hand below
    rng = np.random.default_rng(0)
    labels = rng.random((40, 26)) < 0.1
    labels[:, normal] |= ~labels.any(axis=1)
    assert metrics.cinc2021_challenge_score(labels, labels, classes) == pytest.approx(1.0)
    normal_only = np.zeros_like(labels)
    normal_only[:, normal] = True
    assert metrics.cinc2021_challenge_score(labels, normal_only, classes) == pytest.approx(0.0)
    # r0: AF predicted as AFL, r1: normal predicted normal.
    two = np.zeros((2, 26), dtype=bool)
    labels2, outputs2 = two.copy(), two.copy()
    labels2[0, af], outputs2[0, afl], labels2[1, normal], outputs2[1, normal] = True, True, True, True
    # observed: r0 |{AF, AFL}| = 2 -> 0.5 * w(AF, AFL) = 0.25; r1 -> 1          => 1.25
    # correct:  r0 -> 1; r1 -> 1                                                 => 2
    # inactive: r0 |{AF, N}| = 2 -> 0.5 * w(AF, N) = 0.125; r1 -> 1              => 1.125
    expected = (1.25 - 1.125) / (2 - 1.125)  # = 1/7
    assert metrics.cinc2021_challenge_score(labels2, outputs2, classes, official_weights) == pytest.approx(expected)


def test_classification_report_rows() -> None:
    rows = metrics.classification_report(Y, S, [0.5, 0.6, 0.35], ["a", "b", "c"])
    assert [r["class"] for r in rows] == ["a", "b", "c"]
    assert [r["support"] for r in rows] == [2, 3, 0]
    assert [r["threshold"] for r in rows] == [0.5, 0.6, 0.35]
    np.testing.assert_allclose([r["auroc"] for r in rows[:2]], AUROC)
    np.testing.assert_allclose([r["auprc"] for r in rows[:2]], AUPRC)
    assert math.isnan(rows[2]["auroc"]) and math.isnan(rows[2]["auprc"])
    # a: decisions 1,1,0,0,0 -> TP 1, FP 1, FN 1 -> 2/4; b: 0,1,1,1,0 -> TP 2, FP 1, FN 1 -> 4/6;
    # c: 0,0,0,1,1 -> TP 0, FP 2 -> 0
    np.testing.assert_allclose([r["f1"] for r in rows], [2 / 4, 4 / 6, 0])
    argmax_rows = metrics.classification_report(Y, S, None)
    assert [r["threshold"] for r in argmax_rows] == [None, None, None]
    assert [r["class"] for r in argmax_rows] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        metrics.classification_report(Y, S, None, ["a", "b"])


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="same shape"):
        metrics.auroc(Y, S[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc(Y, np.where(S > 0.85, np.nan, S))
    with pytest.raises(ValueError, match="0/1"):
        metrics.f_beta(Y * 2, Y)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.auroc(np.zeros((0, 2)), np.zeros((0, 2)))
