"""Each augmentation against its defining property, and seeding."""

from __future__ import annotations

import numpy as np
import pytest

from ecgformer.data import Augment
from ecgformer.data.augment import (
    amplitude_scale,
    baseline_wander,
    cutmix,
    gaussian_noise,
    lead_dropout,
    mixup,
    powerline_noise,
    random_crop,
    time_warp,
)

FS = 500.0


def ecg_like(leads: int = 12, n: int = 5000) -> np.ndarray:
    t = np.arange(n) / FS
    base = np.sin(2 * np.pi * 1.2 * t) ** 15  # spiky, periodic
    return np.stack([base * (k + 1) / leads for k in range(leads)]).astype(np.float32)


def band_power(x: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / FS)
    return float(spectrum[..., (freqs >= lo) & (freqs < hi)].sum())


def test_random_crop_is_seeded() -> None:
    x = ecg_like()
    a, b = random_crop(x, 1000, np.random.default_rng(1)), random_crop(x, 1000, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (12, 1000)


def test_amplitude_scale_is_a_per_lead_factor_in_range() -> None:
    x = ecg_like()
    y = amplitude_scale(x, np.random.default_rng(0), 0.8, 1.2)
    ratio = y.max(axis=1) / x.max(axis=1)
    assert np.all((ratio >= 0.8) & (ratio <= 1.2)) and np.ptp(ratio) > 0
    np.testing.assert_allclose(y, x * ratio[:, None], rtol=1e-5)


def test_gaussian_noise_has_the_requested_std() -> None:
    x = ecg_like()
    residual = gaussian_noise(x, np.random.default_rng(0), std=0.05) - x
    assert residual.std() == pytest.approx(0.05, rel=0.02) and abs(residual.mean()) < 0.005


def test_baseline_wander_is_low_frequency() -> None:
    x = ecg_like()
    added = baseline_wander(x, FS, np.random.default_rng(0), amplitude=0.3) - x
    assert band_power(added, 0, 1.0) > 0.99 * band_power(added, 0, FS / 2)  # (leakage of a 10 s window)
    assert 0.05 < np.abs(added).max() < 0.35


def test_powerline_noise_adds_power_at_mains_frequency() -> None:
    x = ecg_like()
    added = powerline_noise(x, FS, np.random.default_rng(0), amplitude=0.1, freq=60.0) - x
    assert band_power(added, 59.5, 60.5) > 0.99 * band_power(added, 0, FS / 2)
    mains = {float(np.fft.rfftfreq(5000, 1 / FS)[np.argmax(np.abs(np.fft.rfft(
        powerline_noise(x, FS, np.random.default_rng(s)) - x)[0]))]) for s in range(20)}
    assert mains == {50.0, 60.0}


def test_lead_dropout_zeroes_whole_leads_and_keeps_one() -> None:
    x = ecg_like()
    y = lead_dropout(x, np.random.default_rng(2), p=0.5)
    dropped = np.all(y == 0, axis=1)
    assert 0 < dropped.sum() < 12
    np.testing.assert_array_equal(y[~dropped], x[~dropped])
    assert np.any(lead_dropout(x, np.random.default_rng(0), p=1.0) != 0, axis=1).sum() == 1


def test_time_warp_is_smooth_monotone_retiming() -> None:
    n = 5000
    ramp = np.linspace(0, 1, n, dtype=np.float32)[None]
    y = time_warp(ramp, np.random.default_rng(0), max_stretch=0.1)
    assert y.shape == ramp.shape and y[0, 0] == 0 and y[0, -1] == pytest.approx(1)
    assert np.all(np.diff(y[0]) > 0)  # monotone re-timing of a ramp stays increasing
    assert np.abs(y - ramp).max() > 1e-3  # it did move samples
    speed = np.diff(y[0]) * (n - 1)
    assert speed.min() > 0.85 and speed.max() < 1.15
    const = np.full((2, n), 3.0, dtype=np.float32)
    np.testing.assert_allclose(time_warp(const, np.random.default_rng(1)), const)


def test_mixup_is_a_convex_combination_of_signals_and_labels() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2, 50)).astype(np.float32)
    y = rng.integers(0, 2, size=(6, 4)).astype(np.float32)
    mx, my = mixup(x, y, np.random.default_rng(5))
    check = np.random.default_rng(5)
    partner, lam = check.permutation(6), check.beta(0.4, 0.4, size=6)
    np.testing.assert_allclose(mx, lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner], atol=1e-6)
    np.testing.assert_allclose(my, lam[:, None] * y + (1 - lam[:, None]) * y[partner], atol=1e-6)
    assert my.min() >= 0 and my.max() <= 1


def test_cutmix_pastes_a_partner_segment_and_mixes_labels_by_length() -> None:
    x = np.stack([np.full((2, 100), k, dtype=np.float32) for k in range(5)])
    y = np.eye(5, dtype=np.float32)
    mx, my = cutmix(x, y, np.random.default_rng(3))
    for i in range(5):
        values = set(np.unique(mx[i]).tolist())
        assert values <= {float(i), float(np.argmax(my[i] * (np.arange(5) != i))) if my[i].max() < 1 else float(i)}
        frac = float((mx[i, 0] != i).mean())
        assert my[i, i] == pytest.approx(1 - frac) or (frac == 0 and my[i, i] == pytest.approx(1))
        assert my[i].sum() == pytest.approx(1)


def test_augment_chain_is_reproducible() -> None:
    x = ecg_like()
    chain = Augment.default()
    a = chain(x, FS, np.random.default_rng(7))
    b = chain(x, FS, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, chain(x, FS, np.random.default_rng(8)))
    with pytest.raises(ValueError, match="unknown augmentations"):
        Augment.default(["flip"])
