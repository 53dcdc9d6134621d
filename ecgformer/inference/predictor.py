"""``Predictor``: classify WFDB records, folders of them or ``.npy`` arrays with a bundle's ONNX model.

Every input yields one :class:`Prediction` with a ``status``: ``ok``, or the reason it could not be
classified (unreadable/truncated/missing file, missing leads, NaN samples, flat-line leads, too short);
a bad record never stops the batch.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..data.errors import RecordError
from ..data.leads import normalize_lead_name
from ..data.wfdb_io import read_header, read_signal
from .bundle import BundleError, BundleSpec, InputError, read_bundle_json, sha256_file

__all__ = ["Prediction", "Predictor", "expand_inputs", "onnx_session", "write_predictions"]


@dataclass
class Prediction:
    """One input's result: ``probabilities`` (bundle class order) and ``labels`` are empty unless status is ok."""

    record: str
    status: str
    probabilities: dict[str, float] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    def row(self, class_names: Sequence[str]) -> dict[str, object]:
        """The output fields: ``record``, ``status``, ``p_<class>`` (None when not ok), ``labels`` joined by ``|``."""
        out: dict[str, object] = {"record": self.record, "status": self.status}
        out.update({f"p_{name}": self.probabilities.get(name) for name in class_names})
        out["labels"] = "|".join(self.labels)
        return out


# onnxruntime fuses a residual Add with the next LayerNormalization into SkipLayerNormalization, whose CPU kernel
# measured about 5x slower than LayerNormalization for the narrow early stages (48 and 96 channels over 1250 and 625
# tokens: 0.32 ms against 0.06 ms), which costs ecgformer_s 0.7 ms of its 20 ms single-record latency.
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def onnx_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU onnxruntime session; ``threads`` sets the intra-op thread count (default: onnxruntime's)."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(DISABLED_OPTIMIZERS))


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Inputs as given, a folder replaced by its ``.hea`` and ``.npy`` files (recursive, sorted)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".hea", ".npy")))
        else:
            out.append(path)
    return out


class Predictor:
    """A bundle's ONNX model with its preprocessing, input policy and decision rule.

    ``.npy`` inputs are ``(leads, samples)`` arrays in mV at the bundle's sampling rate and lead order;
    use :meth:`predict_signal` for arrays with other rates or lead names.
    """

    def __init__(self, bundle_dir: str | Path, threads: int | None = None, verify: bool = True) -> None:
        self.folder = Path(bundle_dir)
        self.meta = read_bundle_json(self.folder)
        self.spec = BundleSpec.from_json(self.meta)
        entry = self.meta["files"].get("onnx")
        if entry is None:
            raise BundleError(f"{self.folder} has no ONNX model (formats: {', '.join(self.meta['files'])}); "
                              "export with --format onnx")
        path = self.folder / entry["path"]
        if verify and sha256_file(path) != entry["sha256"]:
            raise BundleError(f"{path}: sha256 differs from model.json (corrupted or replaced model file)")
        self.session = onnx_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name

    @property
    def class_names(self) -> tuple[str, ...]:
        """Output classes in bundle order."""
        return self.spec.class_names

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """Raw model outputs for prepared windows ``(n, leads, length)``."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(windows, dtype=np.float32)})[0]

    def predict_signal(self, signal: np.ndarray, fs: float, leads: Sequence[str], record: str = "array") -> Prediction:
        """Classify one ``(leads, samples)`` mV signal; bad input gives a non-ok status, never an exception."""
        try:
            windows = self.spec.prepare(signal, fs, tuple(leads))
        except InputError as exc:
            return Prediction(record, str(exc))
        probs = self.spec.probabilities(self.logits(windows))
        return Prediction(record, "ok", {name: float(p) for name, p in zip(self.class_names, probs)},
                          self.spec.labels(probs))

    def predict_file(self, path: str | Path) -> Prediction:
        """Classify a WFDB record (``.hea``, or its path without suffix) or a ``.npy`` array."""
        path = Path(path)
        name = str(path.with_suffix("")) if path.suffix in (".hea", ".npy", ".dat", ".mat") else str(path)
        try:
            if path.suffix == ".npy":
                signal = np.load(path, allow_pickle=False)
                return self.predict_signal(signal, self.spec.sampling_rate, self.spec.lead_names, name)
            header = read_header(path.with_suffix(".hea") if path.suffix in (".dat", ".mat") else path, name)
            signal = read_signal(header, record=name)
        except RecordError as exc:
            return Prediction(name, f"unreadable: {exc.problem}")
        except (OSError, ValueError, EOFError) as exc:
            return Prediction(name, f"unreadable: {exc}")
        leads = [normalize_lead_name(description) for description in header.descriptions]
        known = [i for i, lead in enumerate(leads) if lead is not None]  # other channels (e.g. respiration) ignored
        return self.predict_signal(signal[known], header.fs, [leads[i] for i in known], name)

    def predict(self, inputs: Iterable[str | Path]) -> list[Prediction]:
        """One prediction per input file (folders expanded), in input order."""
        return [self.predict_file(path) for path in expand_inputs(inputs)]


def write_predictions(predictions: Sequence[Prediction], class_names: Sequence[str], out: str | Path) -> Path:
    """Write ``.csv`` (one row per record) or ``.json`` (a list of objects with the same fields)."""
    out = Path(out)
    rows = [p.row(class_names) for p in predictions]
    if out.suffix == ".json":
        out.write_text(json.dumps(rows, indent=2))
    elif out.suffix == ".csv":
        with open(out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["record", "status", *(f"p_{c}" for c in class_names), "labels"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        raise ValueError(f"output must end in .csv or .json, got {out}")
    return out
