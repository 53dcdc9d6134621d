"""Seedable ECG augmentations on numpy ``(leads, T)`` arrays, and multi-label mixup/cutmix on batches.

Each function takes an explicit ``numpy.random.Generator``; :class:`Augment` chains them with
per-transform probabilities, so one seed reproduces a whole training stream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .preprocess import fixed_length

__all__ = [
    "random_crop", "amplitude_scale", "gaussian_noise", "baseline_wander", "powerline_noise",
    "lead_dropout", "time_warp", "mixup", "cutmix", "Augment",
]

#: A per-record augmentation: ``transform(x, fs, rng) -> x``.
Transform = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def random_crop(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``length``-sample window (zero-padded when the record is shorter)."""
    return fixed_length(x, length, "random", rng)


def amplitude_scale(x: np.ndarray, rng: np.random.Generator, low: float = 0.8, high: float = 1.2,
                    per_lead: bool = True) -> np.ndarray:
    """Multiply each lead (or the whole record) by a factor drawn uniformly from ``[low, high]``."""
    shape = (x.shape[0], 1) if per_lead else (1, 1)
    return (x * rng.uniform(low, high, size=shape)).astype(np.float32)


def gaussian_noise(x: np.ndarray, rng: np.random.Generator, std: float = 0.02) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``std`` (mV; ~EMG / electronic noise)."""
    return (x + rng.normal(0.0, std, size=x.shape)).astype(np.float32)


def _time(x: np.ndarray, fs: float) -> np.ndarray:
    return np.arange(x.shape[-1]) / fs


def baseline_wander(x: np.ndarray, fs: float, rng: np.random.Generator, amplitude: float = 0.1,
                    freq_range: tuple[float, float] = (0.05, 0.5), components: int = 3) -> np.ndarray:
    """Add slow drift (respiration, electrode motion): a sum of ``components`` sinusoids with
    frequencies in ``freq_range`` Hz, total peak amplitude about ``amplitude`` mV, per lead."""
    t = _time(x, fs)
    freqs = rng.uniform(*freq_range, size=(x.shape[0], components, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(x.shape[0], components, 1))
    weights = rng.uniform(0.5, 1.0, size=(x.shape[0], components, 1)) * (amplitude / components)
    drift = (weights * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)
    return (x + drift).astype(np.float32)


def powerline_noise(x: np.ndarray, fs: float, rng: np.random.Generator, amplitude: float = 0.05,
                    freq: float | None = None) -> np.ndarray:
    """Add mains interference at ``freq`` Hz (default: 50 or 60, drawn) with a random phase per lead."""
    f = freq if freq is not None else float(rng.choice([50.0, 60.0]))
    t = _time(x, fs)
    phases = rng.uniform(0, 2 * np.pi, size=(x.shape[0], 1))
    amps = rng.uniform(0.5, 1.0, size=(x.shape[0], 1)) * amplitude
    return (x + amps * np.sin(2 * np.pi * f * t + phases)).astype(np.float32)


def lead_dropout(x: np.ndarray, rng: np.random.Generator, p: float = 0.1, min_keep: int = 1) -> np.ndarray:
    """Zero each lead with probability ``p``, always keeping at least ``min_keep`` leads."""
    drop = rng.random(x.shape[0]) < p
    keep = np.flatnonzero(~drop)
    if len(keep) < min_keep:
        keep = rng.choice(x.shape[0], size=min(min_keep, x.shape[0]), replace=False)
        drop = np.ones(x.shape[0], dtype=bool)
        drop[keep] = False
    out = x.astype(np.float32, copy=True)
    out[drop] = 0.0
    return out


def time_warp(x: np.ndarray, rng: np.random.Generator, max_stretch: float = 0.1, knots: int = 4) -> np.ndarray:
    """Smooth monotone re-timing: the local speed varies within ``1 +- max_stretch`` over ``knots``
    segments; length, first and last sample are preserved."""
    if not 0 <= max_stretch < 1:
        raise ValueError("max_stretch must be in [0, 1)")
    n = x.shape[-1]
    speeds = 1 + rng.uniform(-max_stretch, max_stretch, size=knots)
    grid = np.linspace(0, n - 1, knots + 1)
    speed = np.interp(np.arange(n - 1) + 0.5, (grid[:-1] + grid[1:]) / 2, speeds)
    warped = np.concatenate([[0.0], np.cumsum(speed)])
    warped *= (n - 1) / warped[-1]
    src = np.arange(n)
    return np.stack([np.interp(warped, src, lead) for lead in x]).astype(np.float32)


def mixup(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Mix each example of a batch with a random partner: ``lam * a + (1 - lam) * b`` for signals
    and for multi-label targets (soft labels), ``lam ~ Beta(alpha, alpha)`` per example."""
    partner = rng.permutation(len(x))
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    lx = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    ly = lam.reshape((-1,) + (1,) * (y.ndim - 1))
    return (lx * x + (1 - lx) * x[partner]).astype(np.float32), (ly * y + (1 - ly) * y[partner]).astype(np.float32)


def cutmix(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Paste a random time segment of a partner example into each example; targets mix in
    proportion to the pasted length (soft multi-labels)."""
    partner = rng.permutation(len(x))
    n = x.shape[-1]
    out_x = x.astype(np.float32, copy=True)
    out_y = y.astype(np.float32, copy=True)
    for i, j in enumerate(partner):
        cut = int(round((1 - rng.beta(alpha, alpha)) * n))
        start = int(rng.integers(0, n - cut + 1))
        out_x[i, ..., start:start + cut] = x[j, ..., start:start + cut]
        frac = cut / n
        out_y[i] = (1 - frac) * y[i] + frac * y[j]
    return out_x, out_y


@dataclass
class Augment:
    """A chain of per-record augmentations, each applied with its probability.

    ``steps`` holds ``(probability, transform)`` pairs; a transform is called as
    ``transform(x, fs, rng)``. :meth:`default` gives a sensible ECG set.
    """

    steps: list[tuple[float, Transform]] = field(default_factory=list)

    def __call__(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        """Apply the chain to one record."""
        for p, transform in self.steps:
            if rng.random() < p:
                x = transform(x, fs, rng)
        return x

    @classmethod
    def default(cls, names: Sequence[str] = ("scale", "noise", "wander", "powerline", "dropout", "warp")) -> Augment:
        """The named standard augmentations with moderate strengths."""
        table: dict[str, tuple[float, Transform]] = {
            "scale": (0.5, lambda x, fs, r: amplitude_scale(x, r)),
            "noise": (0.5, lambda x, fs, r: gaussian_noise(x, r, std=0.01)),
            "wander": (0.3, lambda x, fs, r: baseline_wander(x, fs, r, amplitude=0.1)),
            "powerline": (0.2, lambda x, fs, r: powerline_noise(x, fs, r, amplitude=0.03)),
            "dropout": (0.2, lambda x, fs, r: lead_dropout(x, r, p=0.1)),
            "warp": (0.3, lambda x, fs, r: time_warp(x, r, max_stretch=0.08)),
        }
        unknown = set(names) - set(table)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; known: {sorted(table)}")
        return cls([table[name] for name in names])
