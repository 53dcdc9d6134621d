"""Torch-free preprocessing of ``(leads, T)`` ECG arrays (numpy/scipy), shared by training and inference.

Every function takes and returns float32 arrays with time on the last axis; filters are zero-phase.
:class:`Preprocess` chains them from a plain dict, so the same parameters go into cache keys and
export bundles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from scipy import ndimage, signal

from .leads import lead_indices, resolve_leads

__all__ = [
    "resample", "bandpass", "notch", "remove_baseline", "normalize", "select_leads", "fixed_length",
    "sliding_windows", "Preprocess", "NORMALIZATIONS", "DATASET_NORMALIZATIONS", "RECORD_NORMALIZATIONS",
]

CropMode = Literal["random", "center", "start"]
#: Per-record normalisations (``normalize``) and the dataset ones that need fitted statistics (``Preprocess.fit``).
RECORD_NORMALIZATIONS: tuple[str, ...] = ("none", "zscore", "minmax")
DATASET_NORMALIZATIONS: tuple[str, ...] = ("global", "lead")
NORMALIZATIONS: tuple[str, ...] = RECORD_NORMALIZATIONS + DATASET_NORMALIZATIONS


def _positive(value: object) -> bool:
    """A finite number above 0 (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value)) and value > 0


def _as_float32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def resample(x: np.ndarray, fs_in: float, fs_out: float, max_denominator: int = 1000) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``) from ``fs_in`` to ``fs_out`` Hz.

    The rate ratio is approximated by a fraction with numerator and denominator at most ``max_denominator``
    (exact for the usual 100/250/257/300/360/500/1000 Hz pairs); ``ValueError`` for rates that are not finite and
    positive, or whose ratio no such fraction approximates within 0.1% (e.g. 1e8 Hz to 500 Hz).
    """
    if not (np.isfinite(fs_in) and np.isfinite(fs_out) and fs_in > 0 and fs_out > 0):
        raise ValueError(f"sampling rates must be finite and positive, got {fs_in} -> {fs_out}")
    if fs_in == fs_out:
        return _as_float32(x)
    ratio = Fraction(fs_out / fs_in).limit_denominator(max_denominator)
    if not 1 <= ratio.numerator <= max_denominator or abs(float(ratio) * fs_in / fs_out - 1) > 1e-3:
        raise ValueError(f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz: the rate ratio is beyond "
                         f"1:{max_denominator} (or no fraction of terms up to {max_denominator} is within 0.1% of it)")
    out = signal.resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator, axis=-1)
    return _as_float32(out)


def bandpass(x: np.ndarray, fs: float, low: float | None = 0.5, high: float | None = 40.0,
             order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``); ``low=None`` -> low-pass, ``high=None`` -> high-pass."""
    nyquist = fs / 2
    if high is not None and high >= nyquist:
        high = None
    if low is None and high is None:
        return _as_float32(x)
    if low is not None and high is not None:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low is not None:
        sos = signal.butter(order, low, btype="highpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, high, btype="lowpass", fs=fs, output="sos")
    return _as_float32(signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float64), axis=-1))


def notch(x: np.ndarray, fs: float, freq: float = 50.0, quality: float = 30.0,
          harmonics: int = 1) -> np.ndarray:
    """Zero-phase IIR notch at ``freq`` (and ``harmonics - 1`` multiples below Nyquist) for power-line noise."""
    out = np.asarray(x, dtype=np.float64)
    for k in range(1, harmonics + 1):
        f = freq * k
        if f >= fs / 2:
            break
        b, a = signal.iirnotch(f, quality, fs=fs)
        out = signal.filtfilt(b, a, out, axis=-1)
    return _as_float32(out)


def remove_baseline(x: np.ndarray, fs: float, method: Literal["median", "highpass"] = "median",
                    windows_s: tuple[float, float] = (0.2, 0.6), cutoff: float = 0.5) -> np.ndarray:
    """Remove baseline wander.

    ``"median"``: subtract the baseline estimated by two cascaded median filters (200 ms removes
    QRS and P, 600 ms removes T; de Chazal et al. 2004). ``"highpass"``: zero-phase Butterworth
    high-pass at ``cutoff`` Hz.
    """
    if method == "highpass":
        return bandpass(x, fs, low=cutoff, high=None)
    if method != "median":
        raise ValueError(f"unknown baseline method {method!r}")
    x = _as_float32(x)
    baseline = x
    for seconds in windows_s:
        width = max(int(round(seconds * fs)) | 1, 1)  # odd width
        size = (1,) * (x.ndim - 1) + (width,)
        baseline = ndimage.median_filter(baseline, size=size, mode="nearest")
    return x - baseline


def normalize(x: np.ndarray, method: Literal["zscore", "minmax", "none"] = "zscore",
              eps: float = 1e-6) -> np.ndarray:
    """Per-lead normalisation: ``zscore`` (mean 0, std 1) or ``minmax`` (to [-1, 1]); flat leads stay 0."""
    x = _as_float32(x)
    if method == "none":
        return x
    if method == "zscore":
        mean = x.mean(axis=-1, keepdims=True)
        std = x.std(axis=-1, keepdims=True)
        return (x - mean) / np.maximum(std, eps)
    if method == "minmax":
        lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
        return (2 * (x - lo) / np.maximum(hi - lo, eps) - 1).astype(np.float32) * (hi - lo > eps)
    raise ValueError(f"unknown normalisation {method!r}")


def select_leads(x: np.ndarray, leads: Sequence[str], wanted: str | Sequence[str],
                 missing: Literal["raise", "zero"] = "raise") -> tuple[np.ndarray, tuple[str, ...]]:
    """Reorder/select rows of ``x`` (named ``leads``) to ``wanted`` (names or a CinC 2021 subset name).

    ``missing="zero"`` fills absent leads with zeros (for models trained on more leads); ``"raise"``
    raises ``KeyError`` naming the missing lead.
    """
    target = resolve_leads(wanted) or ()
    canon = resolve_leads(list(leads)) or ()
    if missing == "raise":
        return _as_float32(x)[lead_indices(canon, target)], tuple(target)
    out = np.zeros((len(target), x.shape[-1]), dtype=np.float32)
    for row, name in enumerate(target):
        if name in canon:
            out[row] = x[canon.index(name)]
    return out, tuple(target)


def fixed_length(x: np.ndarray, length: int, mode: CropMode = "center",
                 rng: np.random.Generator | None = None, pad: Literal["zero", "edge", "wrap"] = "zero") -> np.ndarray:
    """Crop or pad the last axis to ``length`` samples.

    Longer inputs are cropped at a random (``rng`` required), centred or starting offset; shorter
    ones are padded at the end (``zero``, ``edge`` repeat, or ``wrap`` repetition of the record).
    """
    x = _as_float32(x)
    n = x.shape[-1]
    if n > length:
        if mode == "random":
            if rng is None:
                raise ValueError("random crop needs an rng")
            start = int(rng.integers(0, n - length + 1))
        elif mode == "center":
            start = (n - length) // 2
        elif mode == "start":
            start = 0
        else:
            raise ValueError(f"unknown crop mode {mode!r}")
        return x[..., start:start + length]
    if n < length:
        widths = [(0, 0)] * (x.ndim - 1) + [(0, length - n)]
        return np.pad(x, widths, mode={"zero": "constant", "edge": "edge", "wrap": "wrap"}[pad])
    return x


def sliding_windows(x: np.ndarray, length: int, stride: int | None = None) -> np.ndarray:
    """``(n_windows, leads, length)`` windows every ``stride`` samples covering the whole record
    (the last window is aligned to the end; records shorter than ``length`` are zero-padded)."""
    x = _as_float32(x)
    stride = stride or length
    n = x.shape[-1]
    if n <= length:
        return fixed_length(x, length)[None]  # nothing to crop: padded at the end, whatever the crop mode
    starts = list(range(0, n - length + 1, stride))
    if starts[-1] + length < n:
        starts.append(n - length)
    return np.stack([x[..., s:s + length] for s in starts])


@dataclass(frozen=True)
class Preprocess:
    """A deterministic preprocessing chain: lead selection, resampling, baseline removal,
    band-pass, notch, normalisation (in that order). Plain fields, so it round-trips through
    :meth:`to_dict` / :meth:`from_dict` (cache keys, checkpoints, export bundles).

    ``normalize``: ``"none"`` (millivolts), ``"zscore"`` / ``"minmax"`` (per record and lead), or a dataset-level
    standardisation whose statistics are fitted once on the training split (:meth:`fit`) and then travel with the
    chain: ``"global"`` (one mean and standard deviation over every lead and sample, as the PTB-XL benchmark's
    scaler) or ``"lead"`` (one per lead). Unlike the per-record z-score, both keep the amplitude differences
    between records that voltage criteria (e.g. hypertrophy) rest on.
    """

    fs: float | None = None
    leads: tuple[str, ...] | None = None
    baseline: str | None = None
    bandpass: tuple[float | None, float | None] | None = None
    notch: float | None = None
    normalize: str = "none"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.leads is not None:
            object.__setattr__(self, "leads", resolve_leads(list(self.leads) if not isinstance(self.leads, str)
                                                            else self.leads))
        if self.fs is not None and not _positive(self.fs):
            raise ValueError(f"preprocess.fs: {self.fs!r} is not a finite rate above 0 Hz")
        if self.baseline not in (None, "median", "highpass"):
            raise ValueError(f"preprocess.baseline: {self.baseline!r} is not one of median, highpass or null")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"preprocess.normalize: {self.normalize!r} is not one of {', '.join(NORMALIZATIONS)}")
        self._check_statistics()
        if self.notch is not None and not _positive(self.notch):
            raise ValueError(f"preprocess.notch: {self.notch!r} is not a finite frequency above 0 Hz (or null)")
        if self.bandpass is not None:
            if isinstance(self.bandpass, str) or len(self.bandpass) != 2:
                raise ValueError(f"preprocess.bandpass: {self.bandpass!r} is not [low, high] in Hz")
            object.__setattr__(self, "bandpass", tuple(self.bandpass))
            low, high = self.bandpass
            if any(cut is not None and not _positive(cut) for cut in (low, high)):
                raise ValueError(f"preprocess.bandpass: {list(self.bandpass)} needs finite cut-offs above 0 Hz "
                                 "(null drops one side)")
            if low is not None and high is not None and not low < high:
                raise ValueError(f"preprocess.bandpass: low cut-off {low:g} Hz is not below high cut-off {high:g} Hz; "
                                 "write [low, high]")

    @property
    def fitted_on_data(self) -> bool:
        """Whether the normalisation needs statistics fitted on training data (``"global"`` or ``"lead"``)."""
        return self.normalize in DATASET_NORMALIZATIONS

    def _check_statistics(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ValueError("preprocess.mean and preprocess.std: give both or neither")
        if self.mean is None:
            return
        if not self.fitted_on_data:
            raise ValueError(f"preprocess.mean/std: only the dataset normalisations ({', '.join(DATASET_NORMALIZATIONS)})"
                             f" use fitted statistics, normalize is {self.normalize!r}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != len(self.std) or not self.mean or (self.normalize == "global" and len(self.mean) != 1):
            raise ValueError(f"preprocess.mean/std: {len(self.mean)} and {len(self.std)} values; normalize "
                             f"{self.normalize!r} needs {'one each' if self.normalize == 'global' else 'one per lead'}")
        if not all(np.isfinite(self.mean)) or not all(_positive(v) for v in self.std):
            raise ValueError("preprocess.mean/std: means must be finite and standard deviations finite and above 0")

    def fit(self, signals: Iterable[tuple[np.ndarray, float, Sequence[str] | None]]) -> Preprocess:
        """This chain with the dataset normalisation's statistics fitted on ``signals`` (``(x, fs, leads)`` triples,
        the training split's records as loaded). Every sample of every record weighs the same; the statistics are
        accumulated in float64. Chains without a dataset normalisation are returned unchanged."""
        if not self.fitted_on_data:
            return self
        chain = self.without_statistics(normalize="none")
        count, total, squares = 0, None, None
        for x, fs, leads in signals:
            y, _ = chain(x, fs, leads)
            y = np.asarray(y, dtype=np.float64)
            if self.normalize == "global":
                y = y.reshape(1, -1)
            sums, sums2 = y.sum(axis=-1), np.square(y).sum(axis=-1)
            total = sums if total is None else total + sums
            squares = sums2 if squares is None else squares + sums2
            count += y.shape[-1]
        if total is None or squares is None or count == 0:
            raise ValueError(f"preprocess.normalize={self.normalize!r}: no training samples to fit the statistics on")
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
        if not (std > 0).all():
            raise ValueError(f"preprocess.normalize={self.normalize!r}: a lead is constant over the training split")
        return replace(self, mean=tuple(mean.tolist()), std=tuple(std.tolist()))

    def without_statistics(self, normalize: str | None = None) -> Preprocess:
        """This chain without fitted statistics (and with ``normalize`` replaced when given)."""
        return replace(self, normalize=self.normalize if normalize is None else normalize, mean=None, std=None)

    def check_rate(self, fs: float) -> None:
        """``ValueError`` naming the key when a filter cannot act on a signal arriving at ``fs`` Hz (resampled to
        ``self.fs`` first when set): a band-pass low cut-off or a notch at or above the Nyquist frequency."""
        rate = self.fs or fs
        nyquist = rate / 2
        low = self.bandpass[0] if self.bandpass is not None else None
        if low is not None and low >= nyquist:
            raise ValueError(f"preprocess.bandpass: low cut-off {low:g} Hz is not below the Nyquist frequency "
                             f"{nyquist:g} Hz of {rate:g} Hz signals")
        if self.notch is not None and self.notch >= nyquist:
            raise ValueError(f"preprocess.notch: {self.notch:g} Hz is not below the Nyquist frequency {nyquist:g} Hz "
                             f"of {rate:g} Hz signals")

    def __call__(self, x: np.ndarray, fs: float, leads: Sequence[str] | None = None) -> tuple[np.ndarray, float]:
        """Apply the chain to ``x`` sampled at ``fs`` (rows named ``leads``); returns the signal and its rate."""
        if self.leads is not None:
            if leads is None:
                raise ValueError("lead selection needs the input's lead names")
            x, _ = select_leads(x, leads, self.leads)
        if self.fs is not None:
            x, fs = resample(x, fs, self.fs), float(self.fs)
        if self.baseline:
            x = remove_baseline(x, fs, method=self.baseline)  # type: ignore[arg-type]
        if self.bandpass is not None:
            x = bandpass(x, fs, *self.bandpass)
        if self.notch:
            x = notch(x, fs, self.notch)
        if not self.fitted_on_data:
            return normalize(x, self.normalize), fs  # type: ignore[arg-type]
        if self.mean is None or self.std is None:
            raise ValueError(f"preprocess.normalize={self.normalize!r} needs statistics fitted on the training split "
                             "(Preprocess.fit); none are set")
        if self.normalize == "lead" and len(self.mean) != x.shape[0]:
            raise ValueError(f"preprocess.mean/std: {len(self.mean)} leads fitted, the signal has {x.shape[0]}")
        mean = np.asarray(self.mean, dtype=np.float32)[:, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None]
        return ((_as_float32(x) - mean) / std).astype(np.float32), fs

    def output_leads(self, leads: Sequence[str]) -> tuple[str, ...]:
        """Lead names of the output for an input with rows ``leads``."""
        return tuple(self.leads) if self.leads is not None else tuple(leads)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        out = asdict(self)
        out["leads"] = list(self.leads) if self.leads is not None else None
        out["bandpass"] = list(self.bandpass) if self.bandpass is not None else None
        out["mean"] = list(self.mean) if self.mean is not None else None
        out["std"] = list(self.std) if self.std is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown preprocessing keys: {sorted(unknown)}")
        return cls(**data)
