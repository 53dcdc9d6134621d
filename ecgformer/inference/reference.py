"""Reference vectors of a bundle and ``ecgformer predict --verify BUNDLE`` (torch-free).

Every bundle carries three ``.npy`` arrays (little-endian float32, read with ``allow_pickle=False``), named in
``model.json`` ``files`` with their sha256, shape and dtype (:data:`~.bundle.REFERENCE_FILES`):

* ``reference_input``: a raw record ``(leads, samples)`` in mV at ``sampling_rate``, rows in ``lead_names`` order,
  long enough for two sliding windows when the source record was;
* ``reference_windows``: ``(n_windows, leads, length)``, what the bundle's preprocessing and windowing make of it
  (the model input);
* ``reference_probabilities``: ``(classes,)``, the record probabilities (softmax or sigmoid of each window's
  logits, then ``input.aggregation``), computed by the eager PyTorch model at export.

:func:`verify_bundle` recomputes the windows and the probabilities from ``reference_input`` with the predictor and
compares them with the stored arrays (max abs difference within ``reference.tolerance``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import first_line
from .bundle import REFERENCE_FILES, BundleError, InputError, bundle_file
from .predictor import Predictor, RuntimeOptionError

__all__ = ["Check", "load_reference", "verify_bundle"]


@dataclass(frozen=True)
class Check:
    """One verification step: its name, whether it passed, and the figures or the error."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        """``PASS name: detail`` or ``FAIL name: detail``, one line."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def load_reference(folder: str | Path, meta: dict[str, Any], key: str) -> np.ndarray:
    """The reference array ``files.<key>`` of a bundle: a file inside the folder with the recorded sha256, read
    without pickle, whose shape and dtype are the recorded ones; :class:`~.bundle.BundleError` naming the key."""
    path = bundle_file(folder, meta, key)
    entry = meta["files"][key]
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleError(f"files.{key}.path: {path.name} is not a .npy array ({first_line(exc)})") from None
    if list(array.shape) != entry["shape"] or array.dtype != np.dtype("<f4"):  # the schema allows float32 only
        raise BundleError(f"files.{key}: {path.name} holds a {array.dtype} array of shape {list(array.shape)}, "
                          f"model.json says {entry['dtype']} {entry['shape']}")
    return array


def _compare(name: str, got: np.ndarray, stored: np.ndarray, tolerance: float) -> Check:
    """A :class:`Check` of recomputed ``got`` against ``stored``: same shape, max abs difference within
    ``tolerance`` (NaN fails)."""
    if got.shape != stored.shape:
        return Check(name, False, f"recomputed shape {list(got.shape)}, stored {list(stored.shape)}")
    diff = float(np.max(np.abs(got.astype(np.float64) - stored.astype(np.float64)), initial=0.0))
    passed = bool(np.isfinite(diff) and diff <= tolerance)
    return Check(name, passed, f"max abs diff {diff:.3g} {'<=' if passed else '>'} {tolerance:g} "
                               f"(shape {list(stored.shape)})")


def verify_bundle(folder: str | Path, providers: Sequence[str] | None = None,
                  threads: int | None = None) -> list[Check]:
    """Re-check a bundle with the torch-free predictor; stops at the first step that others depend on.

    Steps: ``bundle`` (the :class:`~.predictor.Predictor` loads it: schema, cross-checks, model sha256, ONNX graph
    and ``metadata_props``, on ``providers`` with ``threads``), one step per reference file (sha256, shape, dtype),
    ``windows`` (``reference_input`` through the bundle's preprocessing and windowing against
    ``reference_windows``) and ``probabilities`` (those windows through the model and the aggregation against
    ``reference_probabilities``).
    """
    try:
        predictor = Predictor(folder, threads=threads, providers=providers)
    except (BundleError, RuntimeOptionError) as exc:
        return [Check("bundle", False, str(exc))]
    meta, spec = predictor.meta, predictor.spec
    checks = [Check("bundle", True, f"model.json, model.onnx sha256, graph and metadata_props agree "
                                    f"(providers {', '.join(predictor.providers)})")]
    arrays: dict[str, np.ndarray] = {}
    for key in REFERENCE_FILES:
        try:
            arrays[key] = load_reference(folder, meta, key)
        except BundleError as exc:
            checks.append(Check(key, False, str(exc)))
        else:
            checks.append(Check(key, True, f"sha256, shape {list(arrays[key].shape)} and dtype agree"))
    if len(arrays) < len(REFERENCE_FILES):
        return checks
    tolerance = meta["reference"]["tolerance"]
    try:
        windows = spec.prepare(arrays["reference_input"], spec.sampling_rate, spec.lead_names)
    except InputError as exc:
        return [*checks, Check("windows", False, f"reference_input is refused: {exc}")]
    checks.append(_compare("windows", windows, arrays["reference_windows"], tolerance["windows"]))
    probabilities = spec.probabilities(predictor.logits(windows))
    checks.append(_compare("probabilities", probabilities, arrays["reference_probabilities"],
                           tolerance["probabilities"]))
    return checks
