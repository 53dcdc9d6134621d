"""ecgformer.metrics against values worked out by hand from the published definitions.

Every expected value is written as the arithmetic that produces it, or, for the bootstrap, comes from a plain loop
over the published definitions (AUROC by counting pairs, the CinC 2017 confusion-matrix formula); no expected value
comes from the code under test. Any warning is an error here: undefined values must come back as NaN, silently.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize(("y", "roc", "pr"), [
    # scores 0.95, 0.9, 0.5: the one positive 0.9 beats 0.5 and loses to 0.95 => 1/2; AP: 0.95 N, 0.9 P (r 1, p 1/2)
    pytest.param([1, 0, 0], 1 / 2, 1 / 2, id="one positive"),
    # positives {0.5, 0.95} against 0.9: 0 + 1 => 1/2; AP: 0.95 P (r 1/2, p 1), 0.9 N, 0.5 P (r 1, p 2/3) => 5/6
    pytest.param([0, 1, 1], 1 / 2, 1 / 2 * 1 + 1 / 2 * 2 / 3, id="one negative"),
])
def test_a_single_positive_or_negative_record_defines_the_class(y: list[int], roc: float, pr: float) -> None:
    s = [0.9, 0.5, 0.95]
    assert metrics.per_class_auroc(y, s)[0] == pytest.approx(roc)
    assert metrics.per_class_auprc(y, s)[0] == pytest.approx(pr)


def test_macro_averages_exclude_undefined_classes() -> None:
    assert metrics.auroc(Y, S) == pytest.approx((5 / 6 + 3 / 6) / 2)  # macro is the default
    assert metrics.auprc(Y, S) == pytest.approx((5 / 6 + 34 / 45) / 2)
    assert math.isnan(metrics.auroc(np.zeros((3, 2)), np.full((3, 2), 0.5)))


def test_micro_auroc_auprc_pool_all_pairs() -> None:
    y = np.array([[1, 0], [0, 1]])
    s = np.array([[0.8, 0.5], [0.4, 0.3]])
    # pooled labels 1, 0, 0, 1 with scores 0.8, 0.5, 0.4, 0.3: positives {0.8, 0.3}, negatives {0.5, 0.4}
    # AUROC: 0.8 wins 2, 0.3 wins 0 => 2 / 4. AP: 0.8 P (r 1/2, p 1), 0.5 N, 0.4 N, 0.3 P (r 1, p 2/4).
    assert metrics.auroc(y, s, average="micro") == pytest.approx(2 / 4)
    assert metrics.auprc(y, s, average="micro") == pytest.approx(1 / 2 * 1 + 1 / 2 * 2 / 4)


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


BINARIZE_SCORES = np.array([[0.2, 0.3], [0.9, 0.1], [0.5, 0.7]])


def test_binarize_thresholds_argmax_and_at_least_one() -> None:
    s = BINARIZE_SCORES
    np.testing.assert_array_equal(metrics.binarize(s, [0.5, 0.5]), [[0, 0], [1, 0], [1, 1]])  # 0.5 >= 0.5: positive
    np.testing.assert_array_equal(metrics.binarize(s, [0.5, 0.5], at_least_one=True), [[0, 1], [1, 0], [1, 1]])
    argmax = metrics.binarize(s)
    np.testing.assert_array_equal(argmax, [[0, 1], [1, 0], [0, 1]])
    assert argmax.dtype == bool and metrics.binarize(s, [0.5, 0.5]).dtype == bool
    with pytest.raises(ValueError, match="^got 3 thresholds for 2 classes$"):
        metrics.binarize(s, [0.5, 0.5, 0.5])


@pytest.mark.parametrize("thresholds", [np.array([[0.5, 0.5]]), ("0.5", "0.5")], ids=["row array", "text"])
def test_binarize_flattens_and_parses_thresholds(thresholds: Any) -> None:
    """A ``(1, n_classes)`` row and numbers as text (as the csv module reads them) are the thresholds they hold."""
    np.testing.assert_array_equal(metrics.binarize(BINARIZE_SCORES, thresholds), [[0, 0], [1, 0], [1, 1]])


def test_binarize_one_class_with_a_scalar_threshold() -> None:
    np.testing.assert_array_equal(metrics.binarize([0.2, 0.5, 0.7], 0.5), [[False], [True], [True]])


# Fmax: records {0}, {1}, {0, 1} with scores below. Decisions per threshold region:
FMAX_TRUE = np.array([[1, 0], [0, 1], [1, 1]])
FMAX_SCORE = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.8]])
# t in (0.2, 0.3]: outputs {0}, {0,1}, {0,1}: precision (1 + 1/2 + 1)/3 = 5/6, recall 1 -> F = 10/11
# t in (0.3, 0.6]: {0}, {0,1}, {1}: precision (1 + 1/2 + 1)/3 = 5/6, recall (1 + 1 + 1/2)/3 = 5/6 -> 5/6
# t in (0.6, 0.7]: {0}, {1}, {1}: precision 1, recall 5/6 -> F = 10/11
# t in (0.7, 0.8]: {0}, {}, {1}: precision over 2 records = 1, recall (1 + 0 + 1/2)/3 = 1/2 -> 2/3
# t <= 0.2: all outputs: precision (1/2 + 1/2 + 1)/3 = 2/3, recall 1 -> 4/5; t in (0.8, 0.9]: 1/2


@pytest.mark.parametrize(("y_true", "y_score", "thresholds", "expected"), [
    pytest.param(FMAX_TRUE, FMAX_SCORE, None, 10 / 11, id="default grid"),
    pytest.param(FMAX_TRUE, FMAX_SCORE, [0.5, 0.75], 5 / 6, id="given thresholds"),
    pytest.param(FMAX_TRUE, FMAX_SCORE, ("0.5", "0.75"), 5 / 6, id="thresholds as text"),
    pytest.param(FMAX_TRUE, FMAX_SCORE, [0.95, 0.5], 5 / 6, id="unsorted: a skipped threshold stops nothing"),
    # score 0.6 >= 0.6 is a positive decision: outputs {0}, {0,1}, {1} as for t in (0.3, 0.6]
    pytest.param(FMAX_TRUE, FMAX_SCORE, 0.6, 5 / 6, id="scalar threshold equal to a score"),
    pytest.param(FMAX_TRUE, FMAX_SCORE, [0.95], 0.0, id="no decision at all"),
    # t <= 0.50: both records positive: precision (1 + 0) / 2, recall 1 -> 2/3; t = 0.51: record 0 only -> 1;
    # t >= 0.52: no decision. Only a grid with the point 0.51 (step 0.01) finds 1.
    pytest.param([[1], [0]], [[0.5101], [0.506]], None, 1.0, id="default grid step 0.01"),
    # record 1 has no label: its decision counts in precision (1 + 0) / 2, not in recall (1 / 1) -> 2 * 1/2 / (3/2)
    pytest.param([[1, 0], [0, 0]], [[0.9, 0.1], [0.8, 0.1]], [0.5], 2 / 3, id="record without labels"),
    # record 0 outputs {0, 1} for {0}: precision 1/2 (record 1 outputs nothing); recall (1 + 0) / 2 -> F = 1/2
    pytest.param([[1, 0], [0, 1]], [[0.9, 0.8], [0.1, 0.2]], [0.5], 1 / 2, id="precision + recall = 1"),
    # the only output is wrong: precision 0, recall 0, F undefined -> skipped
    pytest.param([[1, 0]], [[0.2, 0.9]], [0.5], 0.0, id="no hit"),
])
def test_fmax_by_hand(y_true: Any, y_score: Any, thresholds: Any, expected: float) -> None:
    assert metrics.fmax(y_true, y_score, thresholds=thresholds) == pytest.approx(expected)


CINC2017_CONFUSION = np.array([[5, 1, 1, 0],   # truth N
                               [0, 3, 1, 0],   # truth A
                               [1, 0, 2, 1],   # truth O
                               [0, 0, 1, 1]])  # truth ~
CINC2017_TRUTH = np.repeat(np.repeat(np.arange(4), 4), CINC2017_CONFUSION.ravel())
CINC2017_ANSWER = np.repeat(np.tile(np.arange(4), 4), CINC2017_CONFUSION.ravel())
# F1_N = 2*5 / (7 + 6) = 10/13, F1_A = 2*3 / (4 + 4) = 3/4, F1_O = 2*2 / (4 + 5) = 4/9
CINC2017_EXPECTED = (10 / 13 + 3 / 4 + 4 / 9) / 3


def test_cinc2017_score_from_confusion_matrix() -> None:
    assert metrics.cinc2017_score(CINC2017_TRUTH, CINC2017_ANSWER) == pytest.approx(CINC2017_EXPECTED)
    assert metrics.cinc2017_score(CINC2017_TRUTH[:, None], CINC2017_ANSWER[:, None]) == pytest.approx(
        CINC2017_EXPECTED)  # (n, 1) columns are the same answers
    assert metrics.cinc2017_score(CINC2017_TRUTH, CINC2017_TRUTH) == 1.0
    # one record, N answered N: F1_N = 2 / (1 + 1) = 1, but A and O are 0/0 (NaN, as in the official
    # MATLAB scorer) and so is their mean
    assert math.isnan(metrics.cinc2017_score([0], [0]))


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
    with pytest.raises(ValueError, match="^" + re.escape("class 1 is '426783006' but weights.csv has '222|333' there "
                                                         "(classes must be the codes of weights.csv, in its order)")):
        metrics.cinc2021_challenge_score(y, y, ["111", "426783006", "222|333"], tiny_weights)
    with pytest.raises(ValueError, match="^2 classes given, weights.csv has 3$"):
        metrics.cinc2021_challenge_score(y[:, :2], y[:, :2], ["111", "222|333"], tiny_weights)
    with pytest.raises(ValueError, match="^labels have 2 classes, weights.csv has 3$"):
        metrics.cinc2021_challenge_score(y[:, :2], y[:, :2], TINY_CLASSES, tiny_weights)
    with pytest.raises(ValueError, match=r"^y_true \(2, 3\) and outputs \(1, 3\) must have the same shape$"):
        metrics.cinc2021_challenge_score(y, y[:1], TINY_CLASSES, tiny_weights)
    with pytest.raises(ValueError, match=r"^y_true must hold only 0/1 \(or bool\) values$"):
        metrics.cinc2021_challenge_score(np.full((2, 3), 2), y, TINY_CLASSES, tiny_weights)
    with pytest.raises(ValueError, match=r"^outputs must hold only 0/1 \(or bool\) values$"):
        metrics.cinc2021_challenge_score(y, np.full((2, 3), 0.5), TINY_CLASSES, tiny_weights)
    missing = tmp_path / "nowhere" / "weights.csv"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        metrics.cinc2021_challenge_score(y, y, TINY_CLASSES, missing)
    no_normal = tmp_path / "no_normal.csv"
    no_normal.write_text(TINY_WEIGHTS.replace("426783006", "444"))
    with pytest.raises(ValueError, match="normal class 426783006"):
        metrics.cinc2021_challenge_score(y, y, ["111", "222|333", "444"], no_normal)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("", "empty weights table", id="empty file"),
    pytest.param(",111,222\n", "empty weights table", id="header only"),
    pytest.param(",111,222\n111,1,0\n", "expected a 2x2 table below the header row", id="missing row"),
    pytest.param(",111,222\n111,1\n222,0,1\n", "expected a 2x2 table below the header row", id="short first row"),
    pytest.param(TINY_WEIGHTS.replace("\n111,", "\n999,"), "row labels differ from the column labels", id="row labels"),
])
def test_malformed_weights_tables_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "weights.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {message}$"):
        metrics.load_challenge_weights(path)


def test_one_class_weights_table(tmp_path: Path) -> None:
    path = tmp_path / "weights.csv"
    path.write_text(",426783006\n426783006,1\n")
    classes, weights = metrics.load_challenge_weights(path)
    assert classes == ["426783006"] and weights.tolist() == [[1.0]]


def test_non_numeric_weight_is_nan_and_left_out_of_the_score(tmp_path: Path) -> None:
    path = tmp_path / "weights.csv"
    path.write_text(",111,426783006\n111,1,n/a\n426783006,0,1\n")
    classes, weights = metrics.load_challenge_weights(path)
    assert weights[0, 0] == 1.0 and math.isnan(weights[0, 1]) and weights[1].tolist() == [0.0, 1.0]
    labels, outputs = np.array([[1, 0]], dtype=bool), np.array([[1, 1]], dtype=bool)
    # observed: |{0, 1}| = 2 -> A[0,0] = A[0,1] = 1/2 -> nansum(1 * 1/2, nan * 1/2) = 1/2; correct: A[0,0] = 1 -> 1;
    # inactive (normal only): |{0, 1}| = 2 -> A[0,1] = 1/2 -> nansum(nan * 1/2) = 0  => (1/2 - 0) / (1 - 0)
    assert metrics.cinc2021_challenge_score(labels, outputs, classes, path) == pytest.approx(1 / 2)


def test_weights_file_is_read_as_utf8_csv_whatever_the_locale(tmp_path: Path) -> None:
    """The file is parsed by the csv module (``newline=""``: a quoted cell keeps its CR LF) from UTF-8, also under an
    ASCII locale without Python's UTF-8 mode (checked in a child process running this same package)."""
    path = tmp_path / "weights.csv"
    path.write_bytes(',"111\r\n22\u00e9",426783006\r\n"111\r\n22\u00e9",1,0\r\n426783006,0,1\r\n'.encode())
    expected = ["111\r\n22\u00e9", "426783006"]
    assert metrics.load_challenge_weights(path)[0] == expected
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONPATH": str(Path(metrics.__file__).resolve().parents[1])}
    code = "import sys; from ecgformer.metrics import load_challenge_weights as w; print(ascii(w(sys.argv[1])[0]))"
    child = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                           timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == ascii(expected)


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
    # one class (1-D arrays) with a scalar threshold: class a above
    assert metrics.classification_report(Y[:, 0], S[:, 0], 0.5) == [
        {"class": "0", "support": 2, "auroc": pytest.approx(5 / 6), "auprc": pytest.approx(5 / 6), "f1": 2 / 4,
         "threshold": 0.5}]


S_NAN = np.where(S > 0.85, np.nan, S)
IDENTITY = np.arange(5)[None]
NON_BINARY = r"must hold only 0/1 \(or bool\) values$"
NOT_FINITE = r"^y_score holds NaN or infinite values$"


@pytest.mark.parametrize(("function", "args", "message"), [
    pytest.param(metrics.per_class_auroc, (Y, S_NAN), NOT_FINITE, id="per_class_auroc"),
    pytest.param(metrics.auroc, (Y, S_NAN, "micro"), NOT_FINITE, id="micro auroc"),
    pytest.param(metrics.binarize, (S_NAN,), NOT_FINITE, id="binarize"),
    pytest.param(metrics.fmax, (Y, np.where(S > 0.85, np.inf, S)), NOT_FINITE, id="fmax"),
    pytest.param(metrics.classification_report, (Y, S_NAN, None), NOT_FINITE, id="classification_report"),
    pytest.param(metrics.resampled_auroc_macro, (Y, S_NAN, IDENTITY), NOT_FINITE, id="resampled_auroc_macro"),
    pytest.param(metrics.resampled_cinc2017_score, (Y, S_NAN, IDENTITY), NOT_FINITE, id="resampled_cinc2017"),
    pytest.param(metrics.per_class_f1, (Y, 2 * Y), "^y_pred " + NON_BINARY, id="per_class_f1 y_pred"),
    pytest.param(metrics.f_beta, (Y, 2 * Y), "^y_pred " + NON_BINARY, id="f_beta y_pred"),
    pytest.param(metrics.per_class_f1, (2 * Y, Y), "^y_true " + NON_BINARY, id="per_class_f1 y_true"),
    pytest.param(metrics.auroc, (2 * Y, S), "^y_true " + NON_BINARY, id="auroc y_true"),
    pytest.param(metrics.auroc, (Y, S[:, :2]), r"^y_true \(5, 3\) and y_score \(5, 2\) must have the same shape$",
                 id="score shape"),
    pytest.param(metrics.per_class_f1, (Y, Y[:, :2]), r"^y_true \(5, 3\) and y_pred \(5, 2\) must have the same shape$",
                 id="decision shape"),
    pytest.param(metrics.auroc, (np.zeros((0, 3)), np.zeros((0, 3))),
                 r"^y_true must be a non-empty \(n_records, n_classes\) array, got shape \(0, 3\)$", id="no record"),
    pytest.param(metrics.auroc, (Y, np.zeros((5, 0))),
                 r"^y_score must be a non-empty \(n_records, n_classes\) array, got shape \(5, 0\)$", id="no class"),
    pytest.param(metrics.per_class_f1, (Y, np.zeros((5, 3, 1))),
                 r"^y_pred must be a non-empty \(n_records, n_classes\) array, got shape \(5, 3, 1\)$", id="3-D"),
    pytest.param(metrics.auroc, (Y, S, "weighted"), r"^average must be 'macro' or 'micro', got 'weighted'$",
                 id="average"),
    pytest.param(metrics.classification_report, (Y, S, None, ["a", "b"]), "^2 class names for 3 classes$",
                 id="class names"),
    pytest.param(metrics.fmax, (np.zeros((2, 2)), np.full((2, 2), 0.5)),
                 "^fmax needs at least one record with a true label$", id="fmax without labels"),
    pytest.param(metrics.cinc2017_score, ([0, 1, 2], [0, 1]),
                 r"^y_true \(3,\) and y_pred \(2,\) must be equal-length 1-D$", id="cinc2017 lengths"),
    pytest.param(metrics.cinc2017_score, ([], []), r"^y_true \(0,\) and y_pred \(0,\) must be equal-length 1-D$",
                 id="cinc2017 empty"),
    pytest.param(metrics.cinc2017_score, ([0, 4], [0, 1]), r"^y_true must hold class indices 0\.\.3 \(N, A, O, ~\)$",
                 id="cinc2017 y_true"),
    pytest.param(metrics.cinc2017_score, ([0, 1], [0, -1]), r"^y_pred must hold class indices 0\.\.3 \(N, A, O, ~\)$",
                 id="cinc2017 y_pred"),
    pytest.param(metrics.paired_bootstrap, (Y, [S], [S], "accuracy"),
                 r"^metric must be one of \('auroc_macro', 'cinc2017_score'\), got 'accuracy'$", id="bootstrap metric"),
    pytest.param(metrics.paired_bootstrap, (Y, [], [S]), "^paired_bootstrap needs at least one score array per model$",
                 id="bootstrap without A"),
    pytest.param(metrics.paired_bootstrap, (Y, [S], []), "^paired_bootstrap needs at least one score array per model$",
                 id="bootstrap without B"),
    *[pytest.param(metrics.paired_bootstrap, (Y, [S], [S], "auroc_macro", 10, level),
                   rf"^level must be in \(0, 1\), got {re.escape(repr(level))}$", id=f"bootstrap level {level}")
      for level in (0.0, 1.0, 1.5)],
])
def test_errors_name_the_bad_argument(function: Callable[..., Any], args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        function(*args)


def test_check_inputs_defaults_to_finite_scores() -> None:
    labels, scores = metrics.check_inputs([[1, 0], [0, 1]], [[0.25, 2.0], [-1.0, 0.0]])
    assert labels.dtype == bool and labels.tolist() == [[True, False], [False, True]]
    assert scores.dtype == np.float64 and scores.tolist() == [[0.25, 2.0], [-1.0, 0.0]]


def test_resample_indices_are_numpy_draws_with_replacement() -> None:
    """The resamples are ``numpy.random.default_rng(seed)`` draws (seed 0 by default), so that a published
    interval can be reproduced from its seed."""
    rows = metrics.resample_indices(4, 50)
    np.testing.assert_array_equal(rows, np.random.default_rng(0).integers(0, 4, size=(50, 4)))
    assert set(rows.ravel().tolist()) == {0, 1, 2, 3}  # 200 draws of 4 records, with replacement
    np.testing.assert_array_equal(metrics.resample_indices(4, 50, seed=7),
                                  np.random.default_rng(7).integers(0, 4, size=(50, 4)))


# Resampled macro AUROC: two classes, six records, tied scores; resamples (rows of record indices) chosen so that a
# class has one positive, one negative, no positive, no negative, and, in the last, no class is defined.
RESAMPLED_TRUE = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]])
RESAMPLED_SCORE = np.array([[0.9, 0.3], [0.4, 0.3], [0.4, 0.8], [0.1, 0.2], [0.6, 0.5], [0.2, 0.3]])
RESAMPLES = np.array([[0, 1, 2, 3, 4, 5], [0, 1, 1, 3, 3, 3], [1, 2, 2, 5, 5, 0], [3, 3, 0, 4, 4, 0],
                      [2, 2, 0, 0, 4, 4], [3, 3, 3, 3, 3, 3]])
# pairs (positive, negative) won, ties 1/2:
# all:  class 0: P {.9, .4, .6} N {.4, .1, .2}: 3 + 2.5 + 3 = 8.5/9; class 1: P {.3, .8, .3} N {.3, .2, .5}:
#       1.5 + 3 + 1.5 = 6/9                                                                  => (8.5/9 + 6/9) / 2
# row 1: class 0: P {.9} N {.4, .4, .1, .1, .1}: 5/5; class 1: P {.3, .3} N {.3, .2, .2, .2}: 3.5 + 3.5 = 7/8
# row 2: class 0: P {.4, .4, .9} N {.4, .2, .2}: 2.5 + 2.5 + 3 = 8/9; class 1: P {.3, .8, .8, .3, .3} N {.3}:
#       3 * 1/2 + 2 = 3.5/5
# row 3: class 0: P {.9, .6, .6, .9} N {.1, .1}: 1; class 1: no positive, undefined          => 1
# row 4: class 0: no negative, undefined; class 1: P {.8, .8} N {.3, .3, .5, .5}: 1           => 1
# row 5: record 3 only: no class defined                                                     => NaN
RESAMPLED_AUROC = [(8.5 / 9 + 6 / 9) / 2, (1 + 7 / 8) / 2, (8 / 9 + 3.5 / 5) / 2, 1.0, 1.0, math.nan]


def test_resampled_auroc_macro_by_hand() -> None:
    np.testing.assert_allclose(metrics.resampled_auroc_macro(RESAMPLED_TRUE, RESAMPLED_SCORE, RESAMPLES),
                               RESAMPLED_AUROC, rtol=1e-12)


def test_resampled_cinc2017_score_by_hand() -> None:
    truth, answer = np.array([0, 1, 2, 3, 0, 2]), np.array([0, 2, 2, 3, 1, 0])
    scores = 0.1 + 0.6 * np.eye(4)[answer]  # arg-max answers
    rows = np.array([[0, 1, 2, 3, 4, 5], [0, 0, 4, 4, 3, 3], [0, 1, 2, 2, 2, 5], [3, 3, 3, 3, 3, 3]])
    # all:   F1_N = 2*1 / (2 + 2) = 1/2, F1_A = 0 / (1 + 1) = 0, F1_O = 2*1 / (2 + 2) = 1/2 (F1_~ = 1 left out)
    # row 1: truth N N N N ~ ~, answers N N A A ~ ~: F1_N = 2*2 / (4 + 2), F1_A = 0 / (0 + 2), F1_O = 0/0 -> NaN
    # row 2: truth N A O O O O, answers N O O O O N: F1_N = 2*1 / (1 + 2), F1_A = 0 / (1 + 0), F1_O = 2*3 / (4 + 4)
    # row 3: record 3 (~) only: N, A and O are 0/0                                          -> NaN
    expected = [(1 / 2 + 0 + 1 / 2) / 3, math.nan, (2 / 3 + 0 + 3 / 4) / 3, math.nan]
    np.testing.assert_allclose(metrics.resampled_cinc2017_score(np.eye(4)[truth], scores, rows), expected, rtol=1e-12)
    # the same as the score itself on every resample
    for row, value in zip(rows, expected):
        np.testing.assert_allclose(metrics.cinc2017_score(truth[row], answer[row]), value, rtol=1e-12)


def auroc_by_pairs(y: np.ndarray, s: np.ndarray) -> float:
    """Macro AUROC from its definition: per class the fraction of (positive, negative) pairs ranked right, ties
    counting 1/2; the mean over the classes with both label values, NaN when there is none."""
    values = []
    for k in range(y.shape[1]):
        positives, negatives = s[y[:, k] == 1, k], s[y[:, k] == 0, k]
        if len(positives) and len(negatives):
            pairs = positives[:, None] - negatives[None, :]
            values.append(float(np.mean((pairs > 0) + 0.5 * (pairs == 0))))
    return float(np.mean(values)) if values else math.nan


def cinc2017_by_confusion(y: np.ndarray, s: np.ndarray) -> float:
    """The CinC 2017 scorer's formula on the arg-max answers: ``F1_x = 2 N_xx / (row_x + column_x)`` of the 4x4
    confusion matrix (NaN for 0/0), mean over N, A, O."""
    confusion = np.zeros((4, 4))
    for t, a in zip(y.argmax(axis=1), s.argmax(axis=1)):
        confusion[t, a] += 1
    totals = [confusion[x].sum() + confusion[:, x].sum() for x in range(3)]
    return sum(2 * confusion[x, x] / totals[x] if totals[x] else math.nan for x in range(3)) / 3


def two_models(one_hot: bool) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Labels and two seeds' scores of a better model A and a worse model B."""
    rng = np.random.default_rng(11)
    labels = np.eye(4)[rng.integers(0, 4, 40)] if one_hot else (rng.random((30, 2)) < 0.4).astype(float)
    scores_a = [rng.random(labels.shape) + 0.5 * labels for _ in range(2)]
    scores_b = [rng.random(labels.shape) + 0.2 * labels for _ in range(2)]
    return labels, scores_a, scores_b


REFERENCE_STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc_macro": auroc_by_pairs, "cinc2017_score": cinc2017_by_confusion}
BOOTSTRAP_DEFAULTS = {"metric": "auroc_macro", "n_resamples": 2000, "level": 0.95, "seed": 0}


@pytest.mark.parametrize("options", [
    pytest.param({}, id="defaults"),
    pytest.param({"metric": "cinc2017_score", "n_resamples": 300, "level": 0.9, "seed": 5}, id="cinc2017_score"),
])
def test_paired_bootstrap_against_a_loop(options: dict[str, Any]) -> None:
    """The difference of the seed means on all records, and the percentile interval of that difference over the
    resamples (``default_rng(seed)`` draws, as :func:`test_resample_indices_are_numpy_draws_with_replacement`)."""
    setting = BOOTSTRAP_DEFAULTS | options
    metric, level, n_resamples = setting["metric"], setting["level"], setting["n_resamples"]
    statistic = REFERENCE_STATISTICS[metric]
    labels, scores_a, scores_b = two_models(one_hot=metric == "cinc2017_score")

    def difference(rows: np.ndarray) -> float:
        return float(np.mean([statistic(labels[rows], s[rows]) for s in scores_a])
                     - np.mean([statistic(labels[rows], s[rows]) for s in scores_b]))

    draws = np.random.default_rng(setting["seed"]).integers(0, len(labels), size=(n_resamples, len(labels)))
    resampled = np.array([difference(rows) for rows in draws])
    low, high = np.percentile(resampled[np.isfinite(resampled)], [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    result = metrics.paired_bootstrap(labels, scores_a, scores_b, **options)
    assert (result.metric, result.level, result.n_resamples, result.n_records) == (
        metric, level, n_resamples, len(labels))
    assert result.difference == pytest.approx(difference(np.arange(len(labels))), abs=1e-12)
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-12)
    assert result.low < result.high


@pytest.mark.parametrize(("low", "high", "tie"), [(-0.1, 0.2, True), (0.0, 0.2, True), (-0.2, 0.0, True),
                                                  (0.01, 0.2, False), (-0.2, -0.01, False)])
def test_bootstrap_difference_is_a_tie_when_its_interval_covers_zero(low: float, high: float, tie: bool) -> None:
    result = metrics.BootstrapDifference("auroc_macro", 0.05, low, high, 0.95, 100, 30)
    assert result.tie is tie
    assert result.to_dict() == {"metric": "auroc_macro", "difference": 0.05, "low": low, "high": high, "level": 0.95,
                                "n_resamples": 100, "n_records": 30, "tie": tie}


def test_challenge_metrics_cinc2017() -> None:
    spec = {"scorer": "cinc2017"}
    y_true = np.eye(4)[CINC2017_TRUTH]
    y_prob = 0.1 + 0.6 * np.eye(4)[CINC2017_ANSWER]  # arg-max answers; decisions do not matter
    assert metrics.challenge_metrics(spec, y_true, y_prob) == {"cinc2017_score": pytest.approx(CINC2017_EXPECTED)}
    assert metrics.challenge_headline(spec) == "cinc2017_score"


def test_challenge_metrics_cinc2021(tiny_weights: Path) -> None:
    spec = {"scorer": "cinc2021", "class_codes": TINY_CLASSES, "weights_file": str(tiny_weights)}
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    decisions = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=bool)
    probabilities = np.full(labels.shape, 0.5)
    # the tiny case above: 8/29
    assert metrics.challenge_metrics(spec, labels, probabilities, decisions) == {
        "challenge_score": pytest.approx(8 / 29)}
    assert metrics.challenge_metrics(spec, labels, probabilities) == {}  # no thresholds, no decisions
    with pytest.raises(ValueError, match=r"^outputs must hold only 0/1"):  # probabilities are not decisions
        metrics.challenge_metrics(spec, labels, probabilities, probabilities)
    assert metrics.challenge_headline(spec) is None


@pytest.mark.parametrize("spec", [None, {}])
def test_no_challenge_without_a_spec(spec: dict[str, Any] | None) -> None:
    assert metrics.challenge_metrics(spec, Y, S, Y) == {}
    assert metrics.challenge_headline(spec) is None
