"""Each preprocessing function against its defining property."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pytest
from scipy import signal

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


# --- Independent references: published filter responses, hand-worked values, plain loops -----------------------------


def butterworth_gain(freq: float, fs: float, low: float | None, high: float | None, order: int = 4) -> float:
    """Amplitude gain of a zero-phase (forward-backward) digital Butterworth filter at ``freq`` Hz: ``|H|^2`` of the
    bilinear-transform design, whose analogue frequencies are pre-warped to ``tan(pi f / fs)``:
    low-pass ``1 / (1 + (W / Wh)^2n)``, high-pass ``1 / (1 + (Wl / W)^2n)``,
    band-pass ``1 / (1 + ((W^2 - Wl Wh) / (W (Wh - Wl)))^2n)``."""
    def warp(f: float) -> float:
        return math.tan(math.pi * f / fs)

    w = warp(freq)
    if low is not None and high is not None:
        ratio = (w * w - warp(low) * warp(high)) / (w * (warp(high) - warp(low)))
    elif low is not None:
        ratio = warp(low) / w
    else:
        assert high is not None
        ratio = w / warp(high)
    return 1 / (1 + ratio ** (2 * order))


def notch_gain(freq: float, f0: float, fs: float, quality: float = 30.0) -> float:
    """Amplitude gain of the forward-backward second-order IIR notch (Orfanidis, Introduction to Signal Processing,
    sec. 11.3): ``|H|^2 = d^2 / (d^2 + (beta sin w)^2)``, ``d = cos w - cos w0``, ``beta = tan(pi f0 / (Q fs))``
    (half the -3 dB bandwidth ``f0 / Q``, pre-warped)."""
    w, w0 = 2 * math.pi * freq / fs, 2 * math.pi * f0 / fs
    beta = math.tan(math.pi * f0 / (quality * fs))
    d = math.cos(w) - math.cos(w0)
    return d * d / (d * d + (beta * math.sin(w)) ** 2)


def tones(freqs: Sequence[float], seconds: float = 10.0, fs: float = FS) -> np.ndarray:
    """``(1, T)`` sum of unit sines at ``freqs`` Hz."""
    return np.sum([sine(f, seconds, fs) for f in freqs], axis=0)


def running_median(row: np.ndarray, width: int) -> np.ndarray:
    """Median over an odd ``width`` centred window, the ends padded with the edge values, as a plain loop."""
    half = width // 2
    padded = [row[0]] * half + list(row) + [row[-1]] * half
    return np.array([sorted(padded[i:i + width])[half] for i in range(len(row))], dtype=row.dtype)


def message_of(error: type[Exception], call: Callable[[], object]) -> str:
    """The message of the ``error`` that ``call`` raises."""
    with pytest.raises(error) as info:
        call()
    return str(info.value)


# --- resample ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("shape", [(700,), (2, 700)])
def test_resample_is_scipys_polyphase_filter_in_float64_on_the_last_axis(shape: tuple[int, ...],
                                                                         dtype: type) -> None:
    """500 -> 360 Hz is up 18, down 25 (360 / 500 = 18 / 25); float16 inputs are filtered in float64 too."""
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    expected = signal.resample_poly(x.astype(np.float64), 18, 25, axis=-1).astype(np.float32)
    y = resample(x, 500, 360)
    assert y.dtype == np.float32 and y.shape == shape[:-1] + (504,)  # ceil(700 * 18 / 25) = 504
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6)


def test_resample_to_the_same_rate_returns_the_input_as_float32() -> None:
    x = np.array([[1, -2, 3]], dtype=np.int16)
    y = resample(x, 250.0, 250.0)
    assert y.dtype == np.float32 and y.tolist() == [[1.0, -2.0, 3.0]]


@pytest.mark.parametrize(("fs_in", "fs_out", "n_in", "n_out"), [
    (0.5, 1.0, 3, 6),       # ratio 2 / 1 from a rate below 1 Hz
    (1.0, 0.5, 4, 2),       # ratio 1 / 2 to a rate below 1 Hz
    (1.0, 1000.0, 3, 3000),  # numerator 1000: the largest allowed by max_denominator=1000
])
def test_resample_accepts_rates_below_one_hertz_and_ratios_up_to_the_limit(fs_in: float, fs_out: float, n_in: int,
                                                                            n_out: int) -> None:
    assert resample(np.ones((1, n_in), np.float32), fs_in, fs_out).shape == (1, n_out)


@pytest.mark.parametrize(("fs_in", "fs_out"), [(0, 100), (-500, 100), (100, 0), (100, -1), (math.inf, 100),
                                               (100, math.inf), (math.nan, 100)])
def test_resample_rejects_rates_that_are_not_finite_and_positive(fs_in: float, fs_out: float) -> None:
    assert message_of(ValueError, lambda: resample(np.ones((1, 4)), fs_in, fs_out)) == \
        f"sampling rates must be finite and positive, got {fs_in} -> {fs_out}"


@pytest.mark.parametrize(("fs_in", "fs_out", "limit", "terms"), [
    (1, 1001, {}, 1000),   # exactly 1001 / 1: numerator over the default limit of 1000
    (1250, 1, {}, 1000),   # 1 / 1250: nearest fraction 1 / 1000 is 25 % off
    (1e8, 500, {}, 1000),  # 5e-6: nearest fraction 0 / 1
    (3, 7, {"max_denominator": 5}, 5),  # 7 / 3: numerator 7 over a limit of 5
])
def test_resample_rejects_ratios_beyond_the_limit(fs_in: float, fs_out: float, limit: dict[str, int],
                                                  terms: int) -> None:
    assert message_of(ValueError, lambda: resample(np.ones((1, 4)), fs_in, fs_out, **limit)) == (
        f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz: the rate ratio is beyond 1:{terms} "
        f"(or no fraction of terms up to {terms} is within 0.1% of it)")


# --- bandpass and notch -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fs", "cutoffs", "band", "freq"), [
    (FS, {}, (0.5, 40.0), 0.5), (FS, {}, (0.5, 40.0), 40.0), (FS, {}, (0.5, 40.0), 60.0),  # defaults 0.5-40 Hz
    (FS, {}, (0.5, 40.0), 10.0),
    (100.0, {"low": None, "high": 40.0}, (None, 40.0), 40.0),  # 40 Hz is below the 50 Hz Nyquist frequency: kept
    (100.0, {"low": 0.5, "high": 50.0}, (0.5, None), 45.0),    # a high cut-off at Nyquist is dropped: high-pass
    (100.0, {"low": 0.5, "high": 80.0}, (0.5, None), 45.0),    # ... and one above it
    (FS, {"low": None, "high": 25.0}, (None, 25.0), 35.0), (FS, {"low": 5.0, "high": None}, (5.0, None), 3.0),
])
def test_bandpass_gain_follows_the_butterworth_response(fs: float, cutoffs: dict[str, float | None],
                                                        band: tuple[float | None, float | None], freq: float) -> None:
    """Order-4 Butterworth gains at ``band`` (the cut-offs that remain), measured on a sine."""
    y = bandpass(sine(freq, seconds=60.0 if freq < 2 else 10.0, fs=fs), fs, **cutoffs)
    assert amplitude_at(y, fs, freq) == pytest.approx(butterworth_gain(freq, fs, *band), abs=0.003)


@pytest.mark.parametrize(("low", "high"), [(None, None), (None, 50.0), (None, 60.0)])
def test_bandpass_with_nothing_left_to_filter_returns_the_input(low: float | None, high: float | None) -> None:
    """At 100 Hz a high cut-off of 50 Hz or more is dropped; with no low cut-off nothing is filtered."""
    x = np.array([[1, -2, 4, 0]], dtype=np.int32)
    y = bandpass(x, 100.0, low, high)
    assert y.dtype == np.float32 and y.tolist() == [[1.0, -2.0, 4.0, 0.0]]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("shape", [(1500,), (2, 1500)])
def test_bandpass_and_notch_are_scipys_zero_phase_filters_in_float64_on_the_last_axis(shape: tuple[int, ...],
                                                                                      dtype: type) -> None:
    """Defaults: order-4 Butterworth 0.5-40 Hz (sosfiltfilt) and a Q = 30 notch at 50 Hz only (filtfilt)."""
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    x64 = x.astype(np.float64)
    sos = signal.butter(4, [0.5, 40.0], btype="bandpass", fs=FS, output="sos")
    np.testing.assert_allclose(bandpass(x, FS), signal.sosfiltfilt(sos, x64, axis=-1).astype(np.float32),
                               rtol=0, atol=1e-6)
    b, a = signal.iirnotch(50.0, 30.0, fs=FS)
    y = notch(x, FS)
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, signal.filtfilt(b, a, x64, axis=-1).astype(np.float32), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("freq", "options", "quality"), [
    (50.0, {}, 30.0), (51.0, {}, 30.0), (49.0, {}, 30.0), (100.0, {}, 30.0),  # defaults: 50 Hz, Q = 30, no harmonics
    (51.0, {"freq": 50.0, "quality": 10.0}, 10.0),
])
def test_notch_width_follows_the_quality_factor(freq: float, options: dict[str, float], quality: float) -> None:
    """Gain near 50 Hz from the notch's closed-form response: 0.586 at 51 Hz for Q = 30 (0.602 for Q = 31);
    the default notch has no harmonics, so 100 Hz passes (0.9996)."""
    y = notch(sine(freq), FS, **options)
    assert amplitude_at(y, FS, freq) == pytest.approx(notch_gain(freq, 50.0, FS, quality), abs=0.003)


@pytest.mark.parametrize(("fs", "f0", "harmonics", "notched", "kept"), [
    (500.0, 50.0, 3, (50.0, 100.0, 150.0), (25.0, 75.0, 200.0)),
    (500.0, 60.0, 3, (60.0, 120.0, 180.0), (30.0, 90.0)),
    (200.0, 50.0, 3, (50.0,), (25.0, 75.0, 95.0)),  # the second harmonic is Nyquist (100 Hz): it stops there
])
def test_notch_harmonics_below_nyquist(fs: float, f0: float, harmonics: int, notched: tuple[float, ...],
                                       kept: tuple[float, ...]) -> None:
    """Notches at f0, 2 f0, ... while below Nyquist; other tones keep the product of the notches' gains."""
    y = notch(tones(notched + kept, fs=fs), fs, f0, harmonics=harmonics)
    for f in notched:
        assert amplitude_at(y, fs, f) < 0.01
    for f in kept:
        expected = math.prod(notch_gain(f, k * f0, fs) for k in range(1, len(notched) + 1))
        assert amplitude_at(y, fs, f) == pytest.approx(expected, abs=0.005)


def test_notch_at_or_above_nyquist_returns_the_input() -> None:
    x = np.array([[1, 2, 3, 4]], dtype=np.int16)
    y = notch(x, 100.0, 50.0)
    assert y.dtype == np.float32 and y.tolist() == [[1.0, 2.0, 3.0, 4.0]]


# --- baseline removal -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "expected"), [
    ([2, 2, 2, 12, 2, 2, 2], [0, 0, 0, 10, 0, 0, 0]),  # a spike is no window's median: the baseline is 2
    ([0, 1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0, 0]),    # a ramp is its own running median, ends padded with the edge
])
def test_median_baseline_by_hand(x: list[float], expected: list[float]) -> None:
    """At 10 Hz the windows are 0.2 s -> 3 and 0.6 s -> 7 samples; the median method is the default."""
    signal_in = np.array([x], dtype=np.float32)
    assert remove_baseline(signal_in, 10.0).tolist() == [expected]
    chain_out, fs = Preprocess(baseline="median")(signal_in, 10.0)
    assert chain_out.tolist() == [expected] and fs == 10.0


@pytest.mark.parametrize(("windows_s", "widths"), [((0.2, 0.6), (3, 7)), ((0.05, 0.4), (1, 5)), ((0.3, 0.9), (3, 9))])
def test_median_baseline_equals_two_running_medians_per_lead(windows_s: tuple[float, float],
                                                             widths: tuple[int, int]) -> None:
    """Widths round(s * fs) made odd (| 1) at 10 Hz: 2 -> 3, 6 -> 7, 0.5 -> 0 -> 1, 4 -> 5, 3 -> 3, 9 -> 9.
    Each lead is filtered on its own (two leads of different content)."""
    x = np.random.default_rng(3).standard_normal((2, 40)).astype(np.float32)
    x[1] += np.linspace(0, 5, 40, dtype=np.float32)
    expected = np.stack([row - running_median(running_median(row, widths[0]), widths[1]) for row in x])
    np.testing.assert_array_equal(remove_baseline(x, 10.0, "median", windows_s), expected)


@pytest.mark.parametrize(("options", "cutoff", "freq"), [
    ({}, 0.5, 0.5), ({}, 0.5, 100.0),  # default cut-off 0.5 Hz; nothing removed at high frequencies (no low-pass)
    ({"cutoff": 2.0}, 2.0, 2.0), ({"cutoff": 2.0}, 2.0, 0.5),
])
def test_highpass_baseline_is_a_butterworth_high_pass_at_the_cutoff(options: dict[str, float], cutoff: float,
                                                                     freq: float) -> None:
    y = remove_baseline(sine(freq, seconds=60.0 if freq < 2 else 10.0), FS, "highpass", **options)
    assert amplitude_at(y, FS, freq) == pytest.approx(butterworth_gain(freq, FS, cutoff, None), abs=0.003)


def test_unknown_baseline_method_is_named() -> None:
    assert message_of(ValueError, lambda: remove_baseline(np.zeros((1, 8)), FS, "mean")) == \
        "unknown baseline method 'mean'"  # type: ignore[arg-type]


# --- normalisation ----------------------------------------------------------------------------------------------------


def test_normalize_by_hand() -> None:
    """Rows [1, 3, 2] and [10, 0, 5]: means 2 and 5, standard deviations sqrt(2/3) and sqrt(50/3);
    z = (x - mean) / std = +-sqrt(3/2) = +-1.2247 or 0; min-max 2 (x - lo) / (hi - lo) - 1. Zscore is the default."""
    x = np.array([[1, 3, 2], [10, 0, 5]], dtype=np.int64)
    r = math.sqrt(1.5)
    for z in (normalize(x), normalize(x, "zscore")):
        assert z.dtype == np.float32
        np.testing.assert_allclose(z, [[-r, r, 0], [r, -r, 0]], atol=1e-6)
    m = normalize(x, "minmax")
    assert m.dtype == np.float32 and m.tolist() == [[-1, 1, 0], [1, -1, 0]]
    none = normalize(x, "none")
    assert none.dtype == np.float32 and none.tolist() == [[1, 3, 2], [10, 0, 5]]
    np.testing.assert_allclose(normalize(np.array([1, 3, 2]), "zscore"), [-r, r, 0], atol=1e-6)  # 1-D: one lead
    assert normalize(np.array([1.0, 3.0, 2.0]), "minmax").tolist() == [-1, 1, 0]


@pytest.mark.parametrize(("row", "expected"), [
    ([3.0, 3.0, 3.0], [0, 0, 0]),        # flat
    ([0.0, 0.5, 0.25], [0, 0, 0]),       # range 0.5 = eps: still flat
    ([0.0, 0.75, 0.375], [-1, 1, 0]),    # range 0.75 > eps
])
def test_minmax_leads_with_a_range_up_to_eps_stay_zero(row: list[float], expected: list[float]) -> None:
    y = normalize(np.array([row], dtype=np.float32), "minmax", eps=0.5)
    assert y.dtype == np.float32 and y.tolist() == [expected]


def test_unknown_normalisation_is_named() -> None:
    assert message_of(ValueError, lambda: normalize(np.zeros((1, 4)), "l2")) == \
        "unknown normalisation 'l2'"  # type: ignore[arg-type]


# --- lead selection, cropping, windows --------------------------------------------------------------------------------


def test_select_leads_fills_missing_leads_with_float32_zeros() -> None:
    x = np.array([[1.5, 2.5], [3.5, 4.5]], dtype=np.float64)  # rows I, II
    y, names = select_leads(x, ("I", "II"), ["II", "V1", "I"], missing="zero")
    assert names == ("II", "V1", "I") and y.dtype == np.float32
    assert y.tolist() == [[3.5, 4.5], [0, 0], [1.5, 2.5]]


def test_fixed_length_defaults_and_last_axis() -> None:
    """Centre crop by default: 10 -> 4 starts at (10 - 4) // 2 = 3; a 1-D record is one lead."""
    x = np.arange(10, dtype=np.float32)
    assert fixed_length(x[None], 4).tolist() == [[3, 4, 5, 6]]
    assert fixed_length(x, 4).tolist() == [3, 4, 5, 6]
    assert fixed_length(x, 12).tolist() == list(range(10)) + [0, 0]
    assert fixed_length(x[None, :3], 5, pad="edge").tolist() == [[0, 1, 2, 2, 2]]


@pytest.mark.parametrize("mode", ["random", "center", "start", "no such mode"])
def test_a_record_of_the_wanted_length_is_returned_as_is(mode: str) -> None:
    """Nothing to crop or pad: no rng needed, the crop mode unused, and no copy (the input itself comes back)."""
    x = np.arange(6, dtype=np.float32)[None]
    y = fixed_length(x, 6, mode)  # type: ignore[arg-type]
    assert y.tolist() == [[0, 1, 2, 3, 4, 5]] and np.shares_memory(y, x)
    windows = sliding_windows(x, 6)
    assert windows.tolist() == [[[0, 1, 2, 3, 4, 5]]] and np.shares_memory(windows, x)


def test_fixed_length_errors_name_the_problem() -> None:
    x = np.arange(10, dtype=np.float32)[None]
    assert message_of(ValueError, lambda: fixed_length(x, 4, "random")) == "random crop needs an rng"
    assert message_of(ValueError, lambda: fixed_length(x, 4, "middle")) == \
        "unknown crop mode 'middle'"  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "length", "stride", "starts"), [
    (10, 4, 5, [0, 5, 6]),   # range(0, 7, 5) = 0, 5; 5 + 4 < 10 -> one more ending at 10: 6
    (10, 4, None, [0, 4, 6]),  # stride defaults to the length
    (11, 4, 3, [0, 3, 6, 7]),  # range(0, 8, 3) = 0, 3, 6; 6 + 4 < 11 -> 7
    (8, 4, 4, [0, 4]),       # range(0, 5, 4) = 0, 4 reaches the end: no extra window
])
def test_sliding_window_starts_by_hand(n: int, length: int, stride: int | None, starts: list[int]) -> None:
    x = np.arange(n, dtype=np.float32)
    windows = sliding_windows(x, length, stride)  # 1-D: windows of one lead
    assert windows.tolist() == [list(range(s, s + length)) for s in starts]


def test_short_records_make_one_zero_padded_window() -> None:
    x = np.arange(1, 4, dtype=np.float32)[None]
    assert sliding_windows(x, 5).tolist() == [[[1, 2, 3, 0, 0]]]


# --- Preprocess: validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "message"), [
    ({"fs": 0}, "preprocess.fs: 0 is not a finite rate above 0 Hz"),
    ({"fs": -250.0}, "preprocess.fs: -250.0 is not a finite rate above 0 Hz"),
    ({"fs": math.inf}, "preprocess.fs: inf is not a finite rate above 0 Hz"),
    ({"fs": math.nan}, "preprocess.fs: nan is not a finite rate above 0 Hz"),
    ({"fs": True}, "preprocess.fs: True is not a finite rate above 0 Hz"),
    ({"fs": "500"}, "preprocess.fs: '500' is not a finite rate above 0 Hz"),
    ({"baseline": "mean"}, "preprocess.baseline: 'mean' is not one of median, highpass or null"),
    ({"normalize": "l2"}, "preprocess.normalize: 'l2' is not one of none, zscore, minmax, global, lead"),
    ({"notch": 0}, "preprocess.notch: 0 is not a finite frequency above 0 Hz (or null)"),
    ({"notch": True}, "preprocess.notch: True is not a finite frequency above 0 Hz (or null)"),
    ({"bandpass": "0.5-40"}, "preprocess.bandpass: '0.5-40' is not [low, high] in Hz"),
    ({"bandpass": (0.5, 40, 100)}, "preprocess.bandpass: (0.5, 40, 100) is not [low, high] in Hz"),
    ({"bandpass": (-1, 40)}, "preprocess.bandpass: [-1, 40] needs finite cut-offs above 0 Hz (null drops one side)"),
    ({"bandpass": (0.5, math.inf)},
     "preprocess.bandpass: [0.5, inf] needs finite cut-offs above 0 Hz (null drops one side)"),
    ({"bandpass": (None, 0)}, "preprocess.bandpass: [None, 0] needs finite cut-offs above 0 Hz (null drops one side)"),
    ({"bandpass": (40, 0.5)},
     "preprocess.bandpass: low cut-off 40 Hz is not below high cut-off 0.5 Hz; write [low, high]"),
    ({"bandpass": (10, 10)},
     "preprocess.bandpass: low cut-off 10 Hz is not below high cut-off 10 Hz; write [low, high]"),
    ({"normalize": "lead", "mean": [0.0]}, "preprocess.mean and preprocess.std: give both or neither"),
    ({"normalize": "lead", "std": [1.0]}, "preprocess.mean and preprocess.std: give both or neither"),
    ({"normalize": "zscore", "mean": [0.0], "std": [1.0]},
     "preprocess.mean/std: only the dataset normalisations (global, lead) use fitted statistics, normalize is 'zscore'"),
    ({"normalize": "global", "mean": [0.0, 1.0], "std": [1.0, 1.0]},
     "preprocess.mean/std: 2 and 2 values; normalize 'global' needs one each"),
    ({"normalize": "lead", "mean": [0.0, 1.0], "std": [1.0]},
     "preprocess.mean/std: 2 and 1 values; normalize 'lead' needs one per lead"),
    ({"normalize": "lead", "mean": [], "std": []},
     "preprocess.mean/std: 0 and 0 values; normalize 'lead' needs one per lead"),
    ({"normalize": "lead", "mean": [math.nan], "std": [1.0]},
     "preprocess.mean/std: means must be finite and standard deviations finite and above 0"),
    ({"normalize": "lead", "mean": [0.0], "std": [0.0]},
     "preprocess.mean/std: means must be finite and standard deviations finite and above 0"),
    ({"normalize": "global", "mean": [0.0], "std": [math.inf]},
     "preprocess.mean/std: means must be finite and standard deviations finite and above 0"),
    ({"leads": (name for name in ["I", "i"])}, "lead list has duplicates: ['I', 'i']"),
])
def test_invalid_chains_are_rejected_naming_the_key(fields: dict[str, Any], message: str) -> None:
    assert message_of(ValueError, lambda: Preprocess(**fields)) == message


def test_valid_chains_are_stored_in_canonical_form() -> None:
    """Lead names canonical (and subset names expanded), band-pass lists as tuples, statistics as float tuples."""
    assert Preprocess(leads=["ii", "avr"]).leads == ("II", "aVR")
    assert Preprocess(leads="four").leads == ("I", "II", "III", "V2")
    assert Preprocess(leads=(name for name in ["v1", "I"])).leads == ("V1", "I")
    assert Preprocess(bandpass=[0.5, 40]).bandpass == (0.5, 40)  # type: ignore[arg-type]
    assert Preprocess(bandpass=(None, 40)).bandpass == (None, 40)
    assert Preprocess(bandpass=(0.5, None)).bandpass == (0.5, None)
    chain = Preprocess(fs=250, baseline="highpass", notch=60, normalize="lead", mean=np.array([1, -2]), std=[2, 4])
    assert chain.mean == (1.0, -2.0) and chain.std == (2.0, 4.0)
    assert all(type(v) is float for v in chain.mean + chain.std)
    assert hash(chain) == hash(Preprocess(fs=250, baseline="highpass", notch=60, normalize="lead",
                                          mean=(1.0, -2.0), std=(2.0, 4.0)))
    assert Preprocess(baseline="median", normalize="global", mean=[0.5], std=[2.0]).std == (2.0,)


# --- Preprocess: applying the chain -----------------------------------------------------------------------------------


def test_chain_without_steps_only_casts() -> None:
    y, fs = Preprocess()(np.array([[1, -2, 3]], dtype=np.int64), 100.0)
    assert y.dtype == np.float32 and y.tolist() == [[1, -2, 3]] and fs == 100.0


def test_chain_selects_and_reorders_leads() -> None:
    x = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]], dtype=np.float32)  # rows I, II, V1
    y, _ = Preprocess(leads=["V1", "i"])(x, 100.0, ("I", "II", "V1"))
    assert y.tolist() == [[3, 3, 3], [1, 1, 1]]
    assert message_of(ValueError, lambda: Preprocess(leads="two")(x, 100.0)) == \
        "lead selection needs the input's lead names"


@pytest.mark.parametrize(("chain", "freq", "expected"), [
    (Preprocess(baseline="highpass"), 0.5, butterworth_gain(0.5, FS, 0.5, None)),  # 0.5: cutoff 0.5 Hz
    (Preprocess(baseline="highpass"), 100.0, butterworth_gain(100.0, FS, 0.5, None)),
    (Preprocess(bandpass=(1.0, 25.0)), 1.0, butterworth_gain(1.0, FS, 1.0, 25.0)),
    (Preprocess(bandpass=(1.0, 25.0)), 25.0, butterworth_gain(25.0, FS, 1.0, 25.0)),
    (Preprocess(bandpass=(None, 25.0)), 30.0, butterworth_gain(30.0, FS, None, 25.0)),
    (Preprocess(notch=60.0), 60.0, notch_gain(60.0, 60.0, FS)),
    (Preprocess(notch=60.0), 50.0, notch_gain(50.0, 60.0, FS)),
])
def test_chain_filters_with_its_own_parameters(chain: Preprocess, freq: float, expected: float) -> None:
    y, fs = chain(sine(freq, seconds=60.0 if freq < 2 else 10.0), FS)
    assert fs == FS and amplitude_at(y, FS, freq) == pytest.approx(expected, abs=0.003)


def test_chain_applies_fitted_statistics_by_hand() -> None:
    """lead: (x - mean) / std per row, mean (1, -2), std (2, 4): [3, 1] -> [1, 0], [2, -6] -> [1, -1].
    global: one mean 1 and std 2 for every lead: [3, 1, 5] -> [1, 0, 2]."""
    x = np.array([[3, 1], [2, -6]], dtype=np.float32)
    y, fs = Preprocess(normalize="lead", mean=(1.0, -2.0), std=(2.0, 4.0))(x, 100.0)
    assert y.dtype == np.float32 and y.tolist() == [[1, 0], [1, -1]] and fs == 100.0
    y, _ = Preprocess(normalize="global", mean=(1.0,), std=(2.0,))(np.array([[3], [1], [5]], dtype=np.float32), 100.0)
    assert y.dtype == np.float32 and y.tolist() == [[1], [0], [2]]


def test_chain_without_or_with_mismatched_statistics_is_an_error() -> None:
    x = np.zeros((3, 5), dtype=np.float32)
    assert message_of(ValueError, lambda: Preprocess(normalize="global")(x, 100.0)) == (
        "preprocess.normalize='global' needs statistics fitted on the training split (Preprocess.fit); none are set")
    mismatched = Preprocess(normalize="lead", mean=(0.0, 0.0), std=(1.0, 1.0))
    assert message_of(ValueError, lambda: mismatched(x, 100.0)) == \
        "preprocess.mean/std: 2 leads fitted, the signal has 3"


@pytest.mark.parametrize(("chain", "fs", "message"), [
    (Preprocess(bandpass=(50.0, None)), 100.0,
     "preprocess.bandpass: low cut-off 50 Hz is not below the Nyquist frequency 50 Hz of 100 Hz signals"),
    (Preprocess(fs=100, bandpass=(60.0, None)), 500.0,
     "preprocess.bandpass: low cut-off 60 Hz is not below the Nyquist frequency 50 Hz of 100 Hz signals"),
    (Preprocess(notch=50.0), 100.0,
     "preprocess.notch: 50 Hz is not below the Nyquist frequency 50 Hz of 100 Hz signals"),
    (Preprocess(fs=100, notch=60.0, bandpass=(0.5, 40.0)), 500.0,
     "preprocess.notch: 60 Hz is not below the Nyquist frequency 50 Hz of 100 Hz signals"),
])
def test_check_rate_names_a_filter_at_or_above_nyquist(chain: Preprocess, fs: float, message: str) -> None:
    assert message_of(ValueError, lambda: chain.check_rate(fs)) == message


@pytest.mark.parametrize(("chain", "fs"), [
    (Preprocess(), 100.0),
    (Preprocess(bandpass=(None, 40.0), notch=49.9), 100.0),
    (Preprocess(bandpass=(0.5, 100.0)), 100.0),           # a high cut-off past Nyquist is only dropped
    (Preprocess(fs=500, notch=60.0, bandpass=(100.0, None)), 100.0),  # resampled to 500 Hz first
])
def test_check_rate_accepts_filters_below_nyquist(chain: Preprocess, fs: float) -> None:
    assert chain.check_rate(fs) is None


def test_output_leads() -> None:
    assert Preprocess(leads=["II", "I"]).output_leads(["I", "II", "III"]) == ("II", "I")
    assert Preprocess().output_leads(["V1", "V2"]) == ("V1", "V2")


def test_to_dict_is_plain_json_by_hand() -> None:
    chain = Preprocess(fs=250, leads="two", baseline="median", bandpass=(0.5, None), notch=60.0, normalize="lead",
                       mean=(1.0, -2.0), std=(2.0, 4.0))
    expected = {"fs": 250, "leads": ["I", "II"], "baseline": "median", "bandpass": [0.5, None], "notch": 60.0,
                "normalize": "lead", "mean": [1.0, -2.0], "std": [2.0, 4.0]}
    assert chain.to_dict() == expected and json.loads(json.dumps(chain.to_dict())) == expected
    assert Preprocess.from_dict(expected) == chain
    assert Preprocess().to_dict() == {"fs": None, "leads": None, "baseline": None, "bandpass": None, "notch": None,
                                      "normalize": "none", "mean": None, "std": None}


def test_without_statistics() -> None:
    fitted = Preprocess(fs=100, normalize="lead", mean=(1.0,), std=(2.0,))
    assert fitted.without_statistics() == Preprocess(fs=100, normalize="lead")
    assert fitted.without_statistics(normalize="none") == Preprocess(fs=100)
    assert Preprocess(normalize="zscore").without_statistics() == Preprocess(normalize="zscore")


# --- Preprocess.fit ---------------------------------------------------------------------------------------------------


def plain_statistics(records: Iterable[np.ndarray], per_lead: bool) -> tuple[list[float], list[float]]:
    """Mean and (population) standard deviation per lead, or over everything, as float64 loops."""
    sums: dict[int, float] = {}
    squares: dict[int, float] = {}
    counts: dict[int, int] = {}
    for x in records:
        for lead, row in enumerate(x):
            key = lead if per_lead else 0
            for v in row.tolist():
                sums[key] = sums.get(key, 0.0) + v
                squares[key] = squares.get(key, 0.0) + v * v
                counts[key] = counts.get(key, 0) + 1
    means = [sums[k] / counts[k] for k in sorted(sums)]
    return means, [math.sqrt(squares[k] / counts[k] - m * m) for k, m in zip(sorted(sums), means)]


@pytest.mark.parametrize("kind", ["global", "lead"])
def test_fit_equals_plain_loops_over_the_chains_output(kind: str) -> None:
    """Records of leads (I, II, V1) at 250 Hz, selected to (II, I) and resampled to 125 Hz (up 1, down 2) by the
    chain: statistics of that output, in float64 (means 1.5 and -3, standard deviations 0.3 and 0.6 by
    construction: not 0, 1 or 2, and below 1)."""
    rng = np.random.default_rng(4)
    leads = ("I", "II", "V1")
    records = [(rng.standard_normal((3, n)) * [[0.6], [0.3], [5.0]] + [[-3.0], [1.5], [9.0]]).astype(np.float32)
               for n in (301, 250, 199)]
    outputs = [signal.resample_poly(x[[1, 0]].astype(np.float64), 1, 2, axis=-1).astype(np.float32) for x in records]
    chain = Preprocess(fs=125, leads=["II", "I"], normalize=kind)  # type: ignore[arg-type]
    fitted = chain.fit((x, 250.0, leads) for x in records)
    means, stds = plain_statistics(outputs, per_lead=kind == "lead")
    assert len(fitted.mean) == len(fitted.std) == (2 if kind == "lead" else 1)  # type: ignore[arg-type]
    np.testing.assert_allclose(fitted.mean, means, rtol=1e-12)  # type: ignore[arg-type]
    np.testing.assert_allclose(fitted.std, stds, rtol=1e-10)  # type: ignore[arg-type]
    assert fitted.without_statistics() == chain
    y, fs = fitted(records[0], 250.0, leads)
    expected = (outputs[0].astype(np.float64) - np.reshape(means, (-1, 1))) / np.reshape(stds, (-1, 1))
    assert fs == 125.0 and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=0, atol=2e-6)


def test_fit_of_a_chain_without_a_dataset_normalisation_is_the_chain() -> None:
    chain = Preprocess(normalize="zscore")
    assert chain.fit([]) is chain


@pytest.mark.parametrize(("kind", "records", "problem"), [
    ("global", [], "no training samples to fit the statistics on"),
    ("lead", [np.zeros((2, 0), np.float32)], "no training samples to fit the statistics on"),
    ("lead", [np.array([[1, 2], [3, 3]], np.float32)], "a lead is constant over the training split"),
    ("global", [np.array([[5.0]], np.float32)], "a lead is constant over the training split"),  # one sample
])
def test_fit_errors(kind: str, records: list[np.ndarray], problem: str) -> None:
    chain = Preprocess(normalize=kind)  # type: ignore[arg-type]
    assert message_of(ValueError, lambda: chain.fit((x, 100.0, None) for x in records)) == \
        f"preprocess.normalize={kind!r}: {problem}"
