"""Each preprocessing function against its defining property."""

from __future__ import annotations

import numpy as np
import pytest

from ecgformer.data import Preprocess
from ecgformer.data.preprocess import (
    bandpass,
    fixed_length,
    normalize,
    notch,
    remove_baseline,
    resample,
    select_leads,
    sliding_windows,
)

FS = 500.0


def sine(freq: float, seconds: float = 10.0, fs: float = FS, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (amplitude * np.sin(2 * np.pi * freq * t))[None, :].astype(np.float32)


def amplitude_at(x: np.ndarray, fs: float, freq: float) -> float:
    """Amplitude of the ``freq`` component (least squares on sin/cos), central 80 % to avoid edges."""
    n = x.shape[-1]
    core = slice(n // 10, n - n // 10)
    t = np.arange(n)[core] / fs
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x[0, core].astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


def dominant_frequency(x: np.ndarray, fs: float) -> float:
    spectrum = np.abs(np.fft.rfft(x[0] * np.hanning(x.shape[-1])))
    return float(np.fft.rfftfreq(x.shape[-1], 1 / fs)[np.argmax(spectrum)])


def test_notch_removes_50hz_and_keeps_10hz() -> None:
    x = sine(50) + sine(10, amplitude=0.5)
    y = notch(x, FS, 50.0)
    assert amplitude_at(y, FS, 50) < 0.01
    assert amplitude_at(y, FS, 10) == pytest.approx(0.5, rel=0.01)
    assert amplitude_at(notch(sine(60), FS, 60.0), FS, 60) < 0.01


@pytest.mark.parametrize(("fs_in", "fs_out"), [(500, 100), (360, 250), (300, 500), (1000, 257)])
def test_resample_preserves_frequency_and_duration(fs_in: float, fs_out: float) -> None:
    x = sine(7.0, seconds=8, fs=fs_in)
    y = resample(x, fs_in, fs_out)
    assert y.shape[-1] == 8 * fs_out and y.dtype == np.float32  # 8 s in, exactly 8 s out
    assert dominant_frequency(y, fs_out) == pytest.approx(7.0, abs=0.15)
    assert amplitude_at(y, fs_out, 7.0) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize(("n_in", "fs_in", "fs_out", "n_out"), [(7, 500, 100, 2), (1001, 500, 100, 201),
                                                               (1, 360, 250, 1), (999, 300, 500, 1665)])
def test_resample_output_length_is_the_ceiling_of_the_rescaled_length(n_in: int, fs_in: float, fs_out: float,
                                                                      n_out: int) -> None:
    """``ceil(n_in * fs_out / fs_in)`` samples, worked out by hand: 1.4 -> 2, 200.2 -> 201, 0.69 -> 1, 1665."""
    assert resample(np.ones((2, n_in), np.float32), fs_in, fs_out).shape == (2, n_out)


@pytest.mark.parametrize(("low", "high", "freq", "gain"), [
    (0.5, 40.0, 0.5, 0.5), (0.5, 40.0, 40.0, 0.5), (0.5, 40.0, 10.0, 1.0), (0.5, 40.0, 2.0, 1.0),
    (0.5, None, 0.5, 0.5), (0.5, None, 20.0, 1.0), (None, 40.0, 40.0, 0.5), (None, 40.0, 5.0, 1.0),
    (1.0, 25.0, 1.0, 0.5), (1.0, 25.0, 25.0, 0.5)])
def test_bandpass_gain_is_one_in_band_and_one_half_at_each_cutoff(low: float | None, high: float | None,
                                                                   freq: float, gain: float) -> None:
    """A Butterworth filter is 3 dB down (1/sqrt 2) at its cutoffs in Hz; run forwards and backwards, 1/2.
    Cutoffs normalised by the wrong unit (``fs`` for Nyquist, or twice) move these points and fail here."""
    seconds = 60.0 if freq < 2 else 10.0  # a few dozen periods of the slow tones
    y = bandpass(sine(freq, seconds=seconds), FS, low, high)
    assert amplitude_at(y, FS, freq) == pytest.approx(gain, abs=0.01)


def test_bandpass_passes_band_and_rejects_outside() -> None:
    y = bandpass(sine(0.05) + sine(10) + sine(120), FS, 0.5, 40.0)
    assert amplitude_at(y, FS, 10) == pytest.approx(1.0, rel=0.02)
    assert amplitude_at(y, FS, 120) < 0.01
    assert amplitude_at(y, FS, 0.05) < 0.05


def test_filters_are_zero_phase() -> None:
    x = sine(5)
    y = bandpass(x, FS, 0.5, 40.0)
    lag = np.argmax(np.correlate(y[0, 500:4500], x[0, 500:4500], mode="full")) - 3999
    assert lag == 0


@pytest.mark.parametrize("method", ["median", "highpass"])
def test_baseline_removal_removes_slow_drift_and_keeps_spikes(method: str) -> None:
    t = np.arange(int(10 * FS)) / FS
    spikes = np.zeros_like(t)
    spikes[::400] = 1.0
    spikes = np.convolve(spikes, np.hanning(21) / np.hanning(21).max(), mode="same")  # 40 ms QRS-like bumps
    drift = 0.8 * np.sin(2 * np.pi * 0.15 * t) + 0.3
    y = remove_baseline((spikes + drift)[None].astype(np.float32), FS, method=method)
    assert amplitude_at(y, FS, 0.15) < 0.05
    assert abs(np.median(y)) < 0.05
    peaks = y[0, ::400][1:-1]
    assert np.all(peaks > 0.7)


def test_normalize_per_lead() -> None:
    x = np.stack([sine(3)[0] * 4 + 2, sine(5)[0] * 0.1 - 1, np.zeros(5000, dtype=np.float32)])
    z = normalize(x, "zscore")
    np.testing.assert_allclose(z[:2].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z[:2].std(axis=1), 1, atol=1e-4)
    assert (z[2] == 0).all()
    m = normalize(x, "minmax")
    np.testing.assert_allclose(m[:2].min(axis=1), -1, atol=1e-6)
    np.testing.assert_allclose(m[:2].max(axis=1), 1, atol=1e-6)


def test_select_and_reorder_leads() -> None:
    leads = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    x = np.arange(12, dtype=np.float32)[:, None] * np.ones((1, 4), dtype=np.float32)
    y, names = select_leads(x, leads, "four")
    assert names == ("I", "II", "III", "V2") and y[:, 0].tolist() == [0, 1, 2, 7]
    y, names = select_leads(x[[11, 0]], ("V6", "I"), ["i", "AVR", "v6"], missing="zero")
    assert names == ("I", "aVR", "V6") and y[:, 0].tolist() == [0, 0, 11]
    with pytest.raises(KeyError, match="lead aVR not in record"):
        select_leads(x[[11, 0]], ("V6", "I"), ["aVR"])
    with pytest.raises(ValueError, match="unknown lead name 'X7'"):
        select_leads(x, leads, ["X7"])


def test_fixed_length_policies() -> None:
    x = np.arange(10, dtype=np.float32)[None]
    assert fixed_length(x, 4, "center").tolist() == [[3, 4, 5, 6]]
    assert fixed_length(x, 4, "start").tolist() == [[0, 1, 2, 3]]
    a = fixed_length(x, 4, "random", np.random.default_rng(3))
    b = fixed_length(x, 4, "random", np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a[0]) == 1)  # a contiguous window
    starts = {int(fixed_length(x, 4, "random", np.random.default_rng(s))[0, 0]) for s in range(50)}
    assert starts == set(range(7))  # every offset is reachable
    assert fixed_length(x, 13).tolist() == [list(range(10)) + [0, 0, 0]]
    assert fixed_length(x, 12, pad="wrap").tolist() == [list(range(10)) + [0, 1]]
    with pytest.raises(ValueError, match="needs an rng"):
        fixed_length(x, 4, "random")


def test_sliding_windows_cover_the_record() -> None:
    x = np.arange(10, dtype=np.float32)[None]
    w = sliding_windows(x, 4, 3)
    assert w.shape == (3, 1, 4) and [int(v[0, 0]) for v in w] == [0, 3, 6]
    w = sliding_windows(x, 4, 4)
    assert [int(v[0, 0]) for v in w] == [0, 4, 6]  # an extra window aligned to the end
    for windows in (sliding_windows(x, 4, 3), w, sliding_windows(x, 3, 2)):
        assert set(np.concatenate([v[0] for v in windows]).astype(int)) == set(range(10))
    assert sliding_windows(x, 16).shape == (1, 1, 16)


def test_preprocess_chain_round_trips_and_applies_in_order() -> None:
    chain = Preprocess(fs=250, leads=["II", "I"], bandpass=(0.5, 40), notch=50, normalize="zscore")
    again = Preprocess.from_dict(chain.to_dict())
    assert again == chain
    x = np.concatenate([sine(10) + sine(50), 2 * sine(10)])
    y, fs = chain(x, FS, ("I", "II"))
    assert fs == 250 and y.shape == (2, 2500)
    assert amplitude_at(y[1:], fs, 50) < 0.02  # the notch ran on lead I (now second)
    np.testing.assert_allclose(y.std(axis=1), 1, atol=1e-4)
    with pytest.raises(ValueError, match="unknown preprocessing keys"):
        Preprocess.from_dict({"fs": 100, "speed": 2})
