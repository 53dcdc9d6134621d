"""Synthetic multi-label 12-lead ECGs: no download needed (quickstart, fast tests).

Each beat is a sum of Gaussian waves (P, Q, R, S, T and, when labelled, R' and ST shifts) of a
3D heart dipole, projected onto the 12 lead vectors, so the limb leads obey Einthoven's and
Goldberger's relations exactly (III = II - I, aVR = -(I + II) / 2, ...) and the precordial R wave
progresses from V1 to V6. Sinus rhythms have heart-rate variability (respiratory sinus arrhythmia
at ~0.25 Hz and a Mayer wave at ~0.1 Hz); the QT interval follows Bazett's rule. Labels:

``SR`` sinus rhythm 60-100 bpm, ``SB`` sinus bradycardia < 60, ``STach`` sinus tachycardia > 100,
``AF`` atrial fibrillation (irregular RR, no P waves, 4-9 Hz fibrillatory waves), ``PVC``
premature wide ventricular beats with compensatory pauses, ``IAVB`` first-degree AV block
(PR > 200 ms), ``BBB`` wide QRS (> 120 ms) with a terminal R' (right-bundle-branch-block-like),
``STE``/``STD`` ST elevation (anterior leads) / depression (inferolateral), ``LQRSV`` low QRS
voltage. Noise: baseline wander, power-line interference and EMG-like white noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .augment import baseline_wander, gaussian_noise, powerline_noise
from .base import LabelledSource
from .labels import hash_fold, multi_hot
from .leads import STANDARD_LEADS
from .registry import register_dataset
from .wfdb_io import EcgRecord

__all__ = ["SYNTHETIC_CLASSES", "SyntheticECG", "synthesize_ecg", "sample_labels", "lead_vectors", "write_wfdb"]

SYNTHETIC_CLASSES: tuple[str, ...] = ("SR", "SB", "STach", "AF", "PVC", "IAVB", "BBB", "STE", "STD", "LQRSV")
_RHYTHMS = ("SR", "SB", "STach", "AF")


def _unit(v: tuple[float, float, float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def lead_vectors() -> np.ndarray:
    """``(12, 3)`` lead vectors in (left, inferior, anterior) coordinates, standard lead order."""
    lead_i = np.array([1.0, 0.0, 0.0])
    lead_ii = np.array([np.cos(np.pi / 3), np.sin(np.pi / 3), 0.0])
    limb = [lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2]
    angles = np.deg2rad([115.0, 94.0, 75.0, 60.0, 30.0, 0.0])  # V1..V6 in the horizontal plane
    chest = [1.2 * np.array([np.cos(a), 0.1, np.sin(a)]) for a in angles]
    return np.stack(limb + chest)


# Wave directions of the heart dipole (left, inferior, anterior).
_P_DIR = _unit((0.5, 0.8, 0.2))
_Q_DIR = _unit((-0.7, 0.1, 0.7))        # septal depolarisation: rightward, anterior
_R_DIR = _unit((0.6, 0.7, -0.4))        # main ventricular depolarisation
_S_DIR = _unit((-0.3, -0.4, -0.85))     # terminal, posterior-superior
_T_DIR = _unit((0.6, 0.6, 0.3))
_RP_DIR = _unit((-0.5, 0.0, 0.85))      # R' of right bundle branch block: late, rightward-anterior
_STE_DIR = _unit((0.2, 0.1, 0.95))      # anterior injury current
_STD_DIR = _unit((-0.6, -0.6, -0.3))    # subendocardial ischaemia of the inferolateral wall
_F_DIR = _unit((0.2, 0.5, 0.8))         # fibrillatory waves: seen best in V1 and II


def sample_labels(rng: np.random.Generator) -> tuple[str, ...]:
    """Draw a consistent label set: one rhythm plus independent findings (no IAVB under AF, not both ST shifts)."""
    rhythm = str(rng.choice(_RHYTHMS, p=[0.45, 0.15, 0.15, 0.25]))
    labels = {rhythm}
    if rng.random() < 0.15:
        labels.add("PVC")
    if rhythm != "AF" and rng.random() < 0.15:
        labels.add("IAVB")
    if rng.random() < 0.15:
        labels.add("BBB")
    st = rng.random()
    if st < 0.1:
        labels.add("STE")
    elif st < 0.2:
        labels.add("STD")
    if rng.random() < 0.1:
        labels.add("LQRSV")
    return tuple(c for c in SYNTHETIC_CLASSES if c in labels)


@dataclass
class _Wave:
    center: float   # s
    sigma: float    # s
    dipole: np.ndarray  # amplitude * direction (mV)


def _beat_times(labels: set[str], duration: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """R-peak times and the nominal heart rate of the rhythm."""
    if "SB" in labels:
        hr = rng.uniform(42, 56)
    elif "STach" in labels:
        hr = rng.uniform(108, 150)
    elif "AF" in labels:
        hr = rng.uniform(70, 130)
    else:
        hr = rng.uniform(64, 96)
    rr0 = 60.0 / hr
    times, t = [], rng.uniform(0.1, rr0)
    resp_phase, mayer_phase = rng.uniform(0, 2 * np.pi, 2)
    while t < duration + 1.0:
        times.append(t)
        if "AF" in labels:
            rr = rr0 * rng.uniform(0.6, 1.4)
        else:
            rr = rr0 * (1 + 0.04 * np.sin(2 * np.pi * 0.25 * t + resp_phase)
                        + 0.02 * np.sin(2 * np.pi * 0.1 * t + mayer_phase) + rng.normal(0, 0.005))
        t += rr
    return np.asarray(times), hr


def synthesize_ecg(labels: tuple[str, ...] | set[str], fs: float = 500.0, duration: float = 10.0,
                   rng: np.random.Generator | None = None, noise: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """One ``(12, T)`` float32 ECG in mV with the given labels, and its ground truth
    (``r_peaks`` in samples, ``beat_types`` ``"N"``/``"V"``, ``heart_rate``, ``pr_s``, ``qrs_s``)."""
    rng = rng if rng is not None else np.random.default_rng()
    labels = set(labels)
    unknown = labels - set(SYNTHETIC_CLASSES)
    if unknown or not labels & set(_RHYTHMS):
        raise ValueError(f"labels need exactly one rhythm of {_RHYTHMS} and only known classes, got {sorted(labels)}")
    n = int(round(duration * fs))
    times, hr = _beat_times(labels, duration, rng)
    qrs_gain = rng.uniform(0.22, 0.3) if "LQRSV" in labels else rng.uniform(0.9, 1.3)
    pr = rng.uniform(0.23, 0.32) if "IAVB" in labels else rng.uniform(0.13, 0.18)
    wide = "BBB" in labels
    qrs_sigma = rng.uniform(0.022, 0.028) if wide else rng.uniform(0.010, 0.013)
    st_shift = rng.uniform(0.15, 0.3) if labels & {"STE", "STD"} else 0.0
    st_dir = _STE_DIR if "STE" in labels else _STD_DIR
    pvc_beats: set[int] = set()
    if "PVC" in labels and len(times) > 4:
        candidates = np.arange(1 + int(rng.integers(0, 2)), len(times) - 2, 2)  # isolated PVCs, no couplets
        count = min(len(candidates), int(rng.integers(1, 4)))
        pvc_beats = set(rng.choice(candidates, size=count, replace=False).tolist())
    waves: list[_Wave] = []
    beat_types, r_times = [], []
    shift = 0.0
    for k, t_nominal in enumerate(times):
        t = t_nominal + shift
        rr = (times[k + 1] - times[k]) if k + 1 < len(times) else 60.0 / hr
        if k in pvc_beats:  # premature by 35 %, compensatory pause: the next sinus beat keeps its time
            t = t_nominal - 0.35 * (times[k] - times[k - 1])
            sign = -1.0 if rng.random() < 0.5 else 1.0
            waves += [_Wave(t, 0.035, sign * 1.4 * qrs_gain * _R_DIR),
                      _Wave(t + 0.3, 0.07, -sign * 0.4 * _R_DIR)]
            beat_types.append("V")
            r_times.append(t)
            continue
        qt = 0.40 * np.sqrt(max(rr, 0.3))
        if "AF" not in labels:
            waves.append(_Wave(t - pr + 0.04, 0.022, rng.uniform(0.12, 0.2) * _P_DIR))
        waves += [
            _Wave(t - 2.2 * qrs_sigma, 0.8 * qrs_sigma, 0.15 * qrs_gain * _Q_DIR),
            _Wave(t, qrs_sigma, 1.3 * qrs_gain * _R_DIR),
            _Wave(t + 2.4 * qrs_sigma, 1.1 * qrs_sigma, 0.4 * qrs_gain * _S_DIR),
            _Wave(t + 0.62 * qt, 0.055, rng.uniform(0.25, 0.4) * _T_DIR),
            _Wave(t + 0.72 * qt, 0.035, 0.1 * _T_DIR),
        ]
        if wide:
            waves.append(_Wave(t + 4.5 * qrs_sigma, 1.3 * qrs_sigma, 0.55 * qrs_gain * _RP_DIR))
        if st_shift:
            for j in range(4):  # a plateau from the J point to the T wave
                waves.append(_Wave(t + 0.08 + 0.045 * j, 0.03, st_shift * 0.55 * st_dir))
        beat_types.append("N")
        r_times.append(t)
    time = np.arange(n) / fs
    dipole = np.zeros((3, n))
    for wave in waves:
        lo, hi = int((wave.center - 6 * wave.sigma) * fs), int((wave.center + 6 * wave.sigma) * fs) + 1
        lo, hi = max(lo, 0), min(hi, n)
        if lo >= hi:
            continue
        shape = np.exp(-0.5 * ((time[lo:hi] - wave.center) / wave.sigma) ** 2)
        dipole[:, lo:hi] += wave.dipole[:, None] * shape
    if "AF" in labels:
        f_wave = np.zeros(n)
        for _ in range(3):
            f_wave += rng.uniform(0.02, 0.05) * np.sin(2 * np.pi * rng.uniform(4, 9) * time + rng.uniform(0, 2 * np.pi))
        dipole += _F_DIR[:, None] * f_wave
    ecg = (lead_vectors() @ dipole).astype(np.float32)
    if noise:
        ecg = baseline_wander(ecg, fs, rng, amplitude=rng.uniform(0.02, 0.15))
        ecg = powerline_noise(ecg, fs, rng, amplitude=rng.uniform(0.0, 0.02))
        ecg = gaussian_noise(ecg, rng, std=rng.uniform(0.003, 0.015))
    r = np.asarray(r_times)
    inside = (r >= 0) & (r < duration)
    return ecg, {"r_peaks": np.round(r[inside] * fs).astype(np.int64),
                 "beat_types": [b for b, keep in zip(beat_types, inside) if keep],
                 "heart_rate": float(hr), "pr_s": None if "AF" in labels else float(pr),
                 "qrs_s": float(qrs_sigma * (9.0 if wide else 6.0))}


@register_dataset
class SyntheticECG(LabelledSource):
    """``n_records`` synthetic 12-lead ECGs with the reader interface (``load`` regenerates record
    ``i`` from ``(seed, i)``, so nothing is stored). Folds: stable hash of the record id."""

    name = "synthetic"
    tasks = ("multilabel",)
    default_task = "multilabel"
    reads_files = False

    @classmethod
    def open(cls, root: str | Path | None, task: str, **kwargs: Any) -> SyntheticECG:
        """Generated records: ``root`` is unused; ``kwargs`` are ``n_records``, ``fs``, ``duration_s``, ``seed``."""
        return cls(**kwargs)

    def __init__(self, n_records: int = 1000, fs: float = 500.0, duration_s: float = 10.0, seed: int = 0,
                 noise: bool = True) -> None:
        if n_records <= 0:
            raise ValueError("n_records must be positive")
        self.task = "multilabel"
        self.fs_out, self.duration_s, self.seed, self.noise = float(fs), float(duration_s), int(seed), noise
        self.classes = list(SYNTHETIC_CLASSES)
        self.record_ids = [f"syn{i:06d}" for i in range(n_records)]
        label_sets = [sample_labels(np.random.default_rng([self.seed, i, 0])) for i in range(n_records)]
        self.labels = multi_hot(label_sets, self.classes)
        self.folds = np.array([hash_fold(r) for r in self.record_ids], dtype=np.int64)
        self.skipped = []
        n = int(round(fs * duration_s))
        self.metadata = pd.DataFrame({"fs": self.fs_out, "n_samples": n, "n_leads": 12},
                                     index=pd.Index(self.record_ids, name="record_id"))

    def label_set(self, i: int) -> tuple[str, ...]:
        """Class names of record ``i``."""
        return tuple(c for c, v in zip(self.classes, self.labels[i]) if v)

    def generate(self, i: int) -> tuple[EcgRecord, dict[str, Any]]:
        """Record ``i`` and its ground truth (R peaks, beat types, heart rate, PR, QRS width)."""
        rng = np.random.default_rng([self.seed, i, 1])
        signal, truth = synthesize_ecg(self.label_set(i), self.fs_out, self.duration_s, rng, self.noise)
        return EcgRecord(self.record_ids[i], signal, self.fs_out, STANDARD_LEADS), truth

    def load(self, i: int, start: int | None = None, stop: int | None = None) -> EcgRecord:
        """Record ``i`` (samples ``[start, stop)``)."""
        record = self.generate(i)[0]
        if start is not None or stop is not None:
            record.signal = record.signal[:, start or 0: stop]
        return record

    def config(self) -> dict[str, Any]:
        """What determines the records (for cache keys)."""
        return {"dataset": self.name, "n_records": len(self), "fs": self.fs_out, "duration_s": self.duration_s,
                "seed": self.seed, "noise": self.noise, "classes": self.classes}


def write_wfdb(source: SyntheticECG, out_dir: str | Path, indices: list[int] | None = None) -> Path:
    """Write records as WFDB (format 16, 1000 adu/mV) plus ``labels.csv`` (``record,labels``) and ``RECORDS``."""
    import wfdb

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in indices if indices is not None else range(len(source)):
        record = source.load(i)
        wfdb.wrsamp(record.record_id, fs=record.fs, units=["mV"] * len(record.leads), sig_name=list(record.leads),
                    p_signal=record.signal.T.astype(np.float64), fmt=["16"] * len(record.leads),
                    adc_gain=[1000.0] * len(record.leads), baseline=[0] * len(record.leads), write_dir=str(out))
        rows.append({"record": record.record_id, "labels": ",".join(source.label_set(i))})
    pd.DataFrame(rows).to_csv(out / "labels.csv", index=False)
    (out / "RECORDS").write_text("".join(f"{r['record']}\n" for r in rows))
    return out
