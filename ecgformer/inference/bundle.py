"""``model.json``: what an export bundle says about its model, read without torch.

Keys (format version 1): ``format_version``, ``ecgformer_version``, ``torch_version``, ``model`` (``name``,
``kwargs``, ``num_classes``, ``in_chans``, ``origin``), ``task_type`` (``multilabel`` | ``singlelabel``),
``class_names``, ``thresholds`` (``Thresholds.to_dict()``: ``values``, ``rule``, ``split`` that chose them,
``class_names``, ``fallback``), ``sampling_rate``, ``lead_names`` (model input order), ``input`` (``length``:
crop/pad length in samples, ``min_length``: shorter records are refused, ``pad``: ``zero`` (records between
``min_length`` and ``length`` are zero-padded at the end), ``window_stride`` and ``aggregation``
(``mean`` | ``max`` of window probabilities) for longer records), ``preprocess`` (``Preprocess.to_dict()``),
``files`` (per format: ``path``, ``sha256``, ``opset`` for ONNX, ``input_name``), ``parity`` (per format: the
lengths, batch, record source and max abs logit difference measured at export).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.preprocess import Preprocess, resample, select_leads, sliding_windows

__all__ = ["FORMAT_VERSION", "BundleError", "BundleSpec", "InputError", "read_bundle_json", "sha256_file"]

FORMAT_VERSION = 1
FLAT_PEAK_TO_PEAK_MV = 1e-3  # a lead whose samples span less than 1 µV carries no ECG


class BundleError(ValueError):
    """A bundle folder or ``model.json`` that cannot be used."""


class InputError(ValueError):
    """One record that the bundle's model cannot classify; the message is the record's status."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bundle_json(folder: str | Path) -> dict[str, Any]:
    """The parsed ``model.json`` of a bundle folder."""
    path = Path(folder) / "model.json"
    if not path.is_file():
        raise BundleError(f"{folder} is not an export bundle (no model.json)")
    meta = json.loads(path.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: format_version {meta.get('format_version')!r}, this reader knows {FORMAT_VERSION}")
    return meta


@dataclass(frozen=True)
class BundleSpec:
    """The input and output contract of a bundle: turns a raw record into model windows, probabilities into labels."""

    class_names: tuple[str, ...]
    task_type: str
    threshold_values: tuple[float, ...] | None
    sampling_rate: float
    lead_names: tuple[str, ...]
    length: int
    min_length: int
    window_stride: int
    aggregation: str
    preprocess: Preprocess

    @classmethod
    def from_json(cls, meta: dict[str, Any]) -> BundleSpec:
        """From the ``model.json`` dict."""
        policy = meta["input"]
        values = meta["thresholds"]["values"]
        if policy["aggregation"] not in ("mean", "max"):
            raise BundleError(f"unknown window aggregation {policy['aggregation']!r}")
        return cls(class_names=tuple(meta["class_names"]), task_type=meta["task_type"],
                   threshold_values=None if values is None else tuple(float(v) for v in values),
                   sampling_rate=float(meta["sampling_rate"]), lead_names=tuple(meta["lead_names"]),
                   length=int(policy["length"]), min_length=int(policy["min_length"]),
                   window_stride=int(policy["window_stride"]), aggregation=policy["aggregation"],
                   preprocess=Preprocess.from_dict(meta["preprocess"]))

    def prepare(self, signal: np.ndarray, fs: float, leads: tuple[str, ...] | list[str]) -> np.ndarray:
        """Check, reorder, resample and preprocess a ``(leads, T)`` mV record into ``(n_windows, leads, length)``.

        Raises :class:`InputError` (missing leads, NaN, flat-line leads, too short) with the status text.
        """
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim != 2 or signal.shape[0] != len(leads):
            raise InputError(f"expected a (leads, samples) array with {len(leads)} rows, got shape {signal.shape}")
        try:
            x, _ = select_leads(signal, leads, self.lead_names)
        except KeyError as exc:
            raise InputError(f"missing leads: {exc.args[0]}") from None
        except ValueError as exc:
            raise InputError(f"bad lead names: {exc}") from None
        if not np.isfinite(x).all():
            raise InputError(f"NaN/invalid samples: {int((~np.isfinite(x)).sum())}")
        flat = [name for name, row in zip(self.lead_names, x) if np.ptp(row) < FLAT_PEAK_TO_PEAK_MV]
        if flat:
            raise InputError(f"flat-line leads: {', '.join(flat)}")
        if fs != self.sampling_rate:
            x = resample(x, fs, self.sampling_rate)
        if x.shape[-1] < self.min_length:
            raise InputError(f"too short: {x.shape[-1] / self.sampling_rate:.2f} s, the model needs at least "
                             f"{self.min_length / self.sampling_rate:.2f} s")
        x, _ = self.preprocess(x, self.sampling_rate, self.lead_names)
        return sliding_windows(x, self.length, self.window_stride)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Window logits ``(n_windows, classes)`` -> record probabilities (softmax or sigmoid, then aggregated)."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.task_type == "singlelabel":
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs = shifted / shifted.sum(axis=1, keepdims=True)
        else:
            probs = 1.0 / (1.0 + np.exp(-logits))
        return probs.max(axis=0) if self.aggregation == "max" else probs.mean(axis=0)

    def labels(self, probs: np.ndarray) -> list[str]:
        """Predicted classes: the arg-max for single-label bundles, else every class at or above its threshold."""
        if self.threshold_values is None or self.task_type == "singlelabel":
            return [self.class_names[int(np.argmax(probs))]]
        return [name for name, p, t in zip(self.class_names, probs, self.threshold_values) if p >= t]
