"""Synthetic ECGs: lead physics, determinism, and each label visible in the signal as defined."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ecgformer.data import STANDARD_LEADS, SyntheticECG, synthesize_ecg
from ecgformer.data.wfdb_io import load_wfdb_record, read_header

FS = 500.0
SEEDS = range(15)


def clean(labels: tuple[str, ...], seed: int) -> tuple[np.ndarray, dict]:
    return synthesize_ecg(labels, fs=FS, rng=np.random.default_rng(seed), noise=False)


def normal_beats(truth: dict, n: int) -> list[int]:
    return [p for p, t in zip(truth["r_peaks"], truth["beat_types"]) if t == "N" and 225 < p < n - 150]


def qrs_width(x: np.ndarray, truth: dict) -> float:
    """Median span where the spatial velocity exceeds 15 % of its peak within +-150 ms of each R."""
    velocity = np.sqrt((np.diff(x, axis=1) ** 2).sum(0))
    widths = []
    for p in normal_beats(truth, x.shape[1]):
        seg = velocity[p - 75:p + 75]
        above = np.flatnonzero(seg > 0.15 * seg.max())
        widths.append((above[-1] - above[0]) / FS)
    return float(np.median(widths))


def pr_interval(x: np.ndarray, truth: dict) -> float:
    """R peak minus the lead II maximum between 450 and 60 ms before it, plus the 40 ms R offset."""
    return float(np.median([(225 - np.argmax(x[1, p - 225:p - 30])) / FS + 0.04
                            for p in normal_beats(truth, x.shape[1])]))


def st_level(x: np.ndarray, truth: dict, lead: str) -> float:
    """Median of (signal 100 ms after R) - (signal 70 ms before R) in ``lead``."""
    row = STANDARD_LEADS.index(lead)
    return float(np.median([x[row, p + 50] - x[row, p - 35] for p in normal_beats(truth, x.shape[1])]))


def test_limb_leads_obey_einthoven_and_goldberger() -> None:
    x, _ = clean(("SR",), 0)
    i, ii, iii, avr, avl, avf = x[:6]
    np.testing.assert_allclose(iii, ii - i, atol=1e-5)
    np.testing.assert_allclose(avr, -(i + ii) / 2, atol=1e-5)
    np.testing.assert_allclose(avl, i - ii / 2, atol=1e-5)
    np.testing.assert_allclose(avf, ii - i / 2, atol=1e-5)


def test_r_peaks_are_qrs_maxima_and_rates_match_rhythm_labels() -> None:
    for seed in SEEDS:
        for rhythm, low, high in (("SR", 60, 100), ("SB", 0, 60), ("STach", 100, 250)):
            x, truth = clean((rhythm,), seed)
            magnitude = np.sqrt((x ** 2).sum(0))
            for p in truth["r_peaks"][1:-1]:
                assert abs(int(np.argmax(magnitude[p - 25:p + 26])) - 25) <= 2
            rate = 60 * FS / np.diff(truth["r_peaks"]).mean()
            assert low < rate < high, (rhythm, seed, rate)


def test_af_is_irregular_and_pvcs_are_premature() -> None:
    def rr_variation(truth: dict) -> float:
        beats = np.asarray(truth["r_peaks"])
        rr = np.diff(beats) / FS
        return float(rr.std() / rr.mean())

    for seed in SEEDS:
        assert rr_variation(clean(("AF",), seed)[1]) > 0.12
        assert rr_variation(clean(("SR",), seed)[1]) < 0.05
        _, truth = clean(("SR", "PVC"), seed)
        rr = np.diff(truth["r_peaks"])
        kinds = truth["beat_types"]
        assert "V" in kinds
        for k, kind in enumerate(kinds[1:], start=1):
            if kind == "V":
                assert rr[k - 1] < 0.75 * np.median(rr)  # premature


def test_bbb_widens_qrs_iavb_prolongs_pr() -> None:
    for seed in SEEDS:
        assert qrs_width(*clean(("SR",), seed)) < 0.11
        assert qrs_width(*clean(("SR", "BBB"), seed)) > 0.15
        assert pr_interval(*clean(("SB",), seed)) < 0.2
        assert pr_interval(*clean(("SB", "IAVB"), seed)) > 0.21


def test_st_shifts_and_low_voltage() -> None:
    for seed in SEEDS:
        normal, truth = clean(("SR",), seed)
        assert abs(st_level(normal, truth, "V2")) < 0.05 and st_level(normal, truth, "V5") > -0.06
        assert st_level(*clean(("SR", "STE"), seed), "V2") > 0.1
        assert st_level(*clean(("SR", "STD"), seed), "V5") < -0.07
        for labels, ok in ((("SR", "LQRSV"), lambda v: v < 0.5), (("SR",), lambda v: v > 1.0)):
            x, truth = clean(labels, seed)
            qrs_ptp = max(np.ptp(x[lead, p - 30:p + 30]) for lead in range(6) for p in normal_beats(truth, x.shape[1]))
            assert ok(qrs_ptp), (labels, seed, qrs_ptp)


def test_dataset_is_deterministic_and_consistent(tmp_path: Path) -> None:
    a, b = SyntheticECG(30, seed=4), SyntheticECG(30, seed=4)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.load(7).signal, b.load(7).signal)
    assert not np.array_equal(a.load(7).signal, SyntheticECG(30, seed=5).load(7).signal)
    assert (a.labels[:, :4].sum(axis=1) == 1).all()  # exactly one rhythm
    assert not (a.labels[:, 7] & a.labels[:, 8]).any()  # never both ST elevation and depression
    record = a.load(3)
    assert record.signal.shape == (12, 5000) and record.signal.dtype == np.float32 and record.leads == STANDARD_LEADS
    from ecgformer.data.synthetic import write_wfdb

    out = write_wfdb(a, tmp_path, indices=[3])
    written = load_wfdb_record(read_header(out / "syn000003"))
    np.testing.assert_allclose(written.signal, record.signal, atol=1e-3)
    with open(out / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{"record": "syn000003", "labels": ",".join(a.label_set(3))}]


def test_bad_label_sets_are_rejected() -> None:
    with pytest.raises(ValueError, match="exactly one rhythm"):
        synthesize_ecg(("PVC",))
    with pytest.raises(ValueError, match="known classes"):
        synthesize_ecg(("SR", "XYZ"))
