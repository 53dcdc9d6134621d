"""``model.json``: what an export bundle says about its model, read without torch.

Keys (format version 2): ``format_version``, ``ecgformer_version``, ``torch_version``, ``model`` (``name``,
``kwargs``, ``num_classes``, ``in_chans``, ``origin``), ``task_type`` (``multilabel`` | ``singlelabel``),
``class_names``, ``thresholds`` (``Thresholds.to_dict()``: ``values``, ``rule``, ``split`` that chose them,
``class_names``, ``fallback``), ``sampling_rate``, ``lead_names`` (model input order), ``input`` (``units``: ``mV``,
``layout``: a record is ``(leads, samples)``, ``model_layout``: the model takes ``(batch, leads, samples)`` of
``dtype`` ``float32``; ``length``: crop/pad length in samples, ``min_length``: shorter records are refused, ``pad``:
``zero`` (records between ``min_length`` and ``length`` are zero-padded at the end), ``window_stride`` and
``aggregation`` (``mean`` | ``max`` of window probabilities) for longer records), ``preprocess``
(``Preprocess.to_dict()``), ``files`` (per model format: ``path``, ``sha256``, ``opset`` for ONNX, ``input_name``;
per reference array: ``path``, ``sha256``, ``shape``, ``dtype``), ``reference`` (where the reference input comes
from and the tolerances of ``ecgformer predict --verify``), ``parity`` (per format: the lengths, batch, record
source and max abs logit difference measured at export), ``provenance`` (``data``: dataset, task, splits;
``commit``; ``metrics``: the validation scores and how the checkpoint was selected; ``thresholds``: how they were
chosen; ``run``: the ``bench train`` run, when exported with ``--provenance``).

:func:`read_bundle_json` checks the file against the JSON Schema shipped with the package (``model.schema.json``),
then :func:`check_bundle_json` cross-checks what one key cannot say alone (class names and thresholds of the same
classes, leads as many as the model's inputs, ``min_length <= length``, preprocessing valid at the bundle's rate,
model files confined to the bundle folder). Every error is one line naming the key and what it must hold.
:data:`CONTRACT_KEYS` name the keys the ONNX model carries too (:func:`onnx_metadata`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checksums import sha256_file
from ..data.leads import normalize_lead_name
from ..data.preprocess import Preprocess, resample, select_leads, sliding_windows
from ..data.wfdb_io import flat_leads
from .schema import schema_errors

__all__ = ["CONTRACT_KEYS", "FORMAT_VERSION", "MODEL_FORMATS", "REFERENCE_FILES", "BundleError", "BundleSpec",
           "InputError", "bundle_file", "check_bundle_json", "contract", "onnx_metadata", "read_bundle_json",
           "sha256_file"]

FORMAT_VERSION = 2
#: The ``files`` keys of model files (``ecgformer.export.formats.FORMATS``).
MODEL_FORMATS = ("onnx", "torchscript", "exported")
#: ``files`` key -> file name of the reference arrays every bundle carries (``ecgformer predict --verify``).
REFERENCE_FILES = {"reference_input": "reference_input.npy", "reference_windows": "reference_windows.npy",
                   "reference_probabilities": "reference_probabilities.npy"}
#: The ``model.json`` keys that say how inputs become outputs: ONNX ``metadata_props`` carry them too.
CONTRACT_KEYS = ("format_version", "task_type", "class_names", "thresholds", "sampling_rate", "lead_names", "input",
                 "preprocess")


class BundleError(ValueError):
    """A bundle folder or ``model.json`` that cannot be used."""


class InputError(ValueError):
    """One record that the bundle's model cannot classify; the message is the record's status."""


def read_bundle_json(folder: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a bundle folder, valid against the package's schema and :func:`check_bundle_json`.

    Raises :class:`BundleError` (one line naming the file and the key) for a missing or unparsable file, a
    violation of the schema, or a failed cross-check.
    """
    path = Path(folder) / "model.json"
    if not Path(folder).is_dir():
        raise BundleError(f"{folder} is not an export bundle folder")
    if not path.is_file():
        raise BundleError(f"{folder} is not an export bundle (no model.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{path}: not readable JSON ({exc})") from None
    if isinstance(meta, dict) and meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: format_version {meta.get('format_version')!r}, this predictor reads "
                          f"{FORMAT_VERSION}; re-export the bundle with this version: ecgformer export CHECKPOINT "
                          f"--out {folder} --overwrite")
    errors = schema_errors(meta)
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise BundleError(f"{path}: {errors[0]}{more}")
    try:
        check_bundle_json(meta)
    except BundleError as exc:
        raise BundleError(f"{path}: {exc}") from None
    return meta


def check_bundle_json(meta: dict[str, Any]) -> None:
    """Cross-checks of a schema-valid ``model.json``; :class:`BundleError` naming the key and the fix."""
    classes, leads = meta["class_names"], meta["lead_names"]
    if not set(meta["files"]) & set(MODEL_FORMATS):
        raise BundleError(f"files: no model file (formats: {', '.join(MODEL_FORMATS)}); re-export the bundle")
    model, thresholds, policy = meta["model"], meta["thresholds"], meta["input"]
    if model["num_classes"] != len(classes):
        raise BundleError(f"class_names: {len(classes)} names for a model with {model['num_classes']} outputs "
                          "(model.num_classes); list one name per output, in output order")
    if thresholds["class_names"] != classes:
        raise BundleError("thresholds.class_names: differ from class_names; thresholds must be listed for the "
                          "bundle's classes in the same order")
    values = thresholds["values"]
    if (values is None) != (thresholds["rule"] == "argmax"):
        raise BundleError(f"thresholds.values: must be null exactly when thresholds.rule is argmax (rule "
                          f"{thresholds['rule']!r}, values {'null' if values is None else 'a list'})")
    if (meta["task_type"] == "singlelabel") != (thresholds["rule"] == "argmax"):
        raise BundleError(f"thresholds.rule: {thresholds['rule']!r} does not fit task_type {meta['task_type']!r}; "
                          "single-label bundles decide by argmax, multi-label bundles by per-class thresholds")
    if values is not None and len(values) != len(classes):
        raise BundleError(f"thresholds.values: {len(values)} thresholds for {len(classes)} classes; give one per class")
    if model["in_chans"] != len(leads):
        raise BundleError(f"lead_names: {len(leads)} names for a model with {model['in_chans']} input channels "
                          "(model.in_chans); list one lead per input channel, in input order")
    canonical = [normalize_lead_name(name) for name in leads]
    if None in canonical:
        unknown = leads[canonical.index(None)]
        raise BundleError(f"lead_names: {unknown!r} is not a known lead name (I, II, ..., V6, MLII, ECG)")
    if len(set(canonical)) != len(canonical):
        raise BundleError(f"lead_names: {leads} name the same lead twice; list each input lead once")
    if policy["min_length"] > policy["length"]:
        raise BundleError(f"input.min_length: {policy['min_length']} exceeds input.length {policy['length']}")
    try:
        preprocess = Preprocess.from_dict(meta["preprocess"])
        preprocess.check_rate(meta["sampling_rate"])
    except (ValueError, KeyError) as exc:
        raise BundleError(str(exc)) from None
    if preprocess.fs is not None and preprocess.fs != meta["sampling_rate"]:
        raise BundleError(f"preprocess.fs: {preprocess.fs:g} Hz, but records are resampled to sampling_rate "
                          f"{meta['sampling_rate']:g} Hz first; set it to null or to sampling_rate")
    if preprocess.leads is not None and list(preprocess.leads) != canonical:
        raise BundleError("preprocess.leads: differ from lead_names; set it to null or to lead_names")
    if preprocess.fitted_on_data and preprocess.mean is None:
        raise BundleError(f"preprocess.mean/std: normalize {preprocess.normalize!r} needs the statistics fitted on the "
                          "training split; re-export from the checkpoint that holds them")
    if preprocess.normalize == "lead" and preprocess.mean is not None and len(preprocess.mean) != len(leads):
        raise BundleError(f"preprocess.mean/std: {len(preprocess.mean)} per-lead values for {len(leads)} lead_names; "
                          "give one per lead")


def bundle_file(folder: str | Path, meta: dict[str, Any], key: str, verify: bool = True) -> Path:
    """The file ``files.<key>.path`` (a model format or a reference array), which must be a regular file inside
    ``folder`` (no link or ``..`` leading out of it) whose sha256 is ``files.<key>.sha256`` (checked when
    ``verify``)."""
    entry = meta["files"].get(key)
    if entry is None:
        formats = [name for name in meta["files"] if name in MODEL_FORMATS]
        fix = f"export with --format {key}" if key in MODEL_FORMATS else "re-export the bundle with this version"
        raise BundleError(f"files: the bundle has no {key} (formats: {', '.join(formats)}); {fix}")
    root = Path(folder).resolve()
    path = (root / entry["path"]).resolve()
    if path.parent != root:
        raise BundleError(f"files.{key}.path: {entry['path']!r} leads outside the bundle folder; name a file in it")
    if not path.is_file():
        raise BundleError(f"files.{key}.path: {entry['path']!r} is not a file in {folder}")
    if verify and sha256_file(path) != entry["sha256"]:
        raise BundleError(f"files.{key}.sha256: differs from the sha256 of {path.name} (a corrupted or replaced "
                          "file); re-export the bundle")
    return path


def contract(meta: dict[str, Any]) -> dict[str, Any]:
    """The :data:`CONTRACT_KEYS` of ``model.json``: input units, layout, rate, leads, preprocessing, classes and
    decision rule."""
    return {key: meta[key] for key in CONTRACT_KEYS}


def onnx_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """The ONNX ``metadata_props`` an export writes for ``model.json`` ``meta`` (JSON text each):
    ``ecgformer.class_names``, ``ecgformer.thresholds`` (the values, null for arg-max) and ``ecgformer.contract``
    (:func:`contract`)."""
    return {"ecgformer.class_names": json.dumps(meta["class_names"]),
            "ecgformer.thresholds": json.dumps(meta["thresholds"]["values"]),
            "ecgformer.contract": json.dumps(contract(meta), sort_keys=True)}


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
        """From a ``model.json`` dict that passed :func:`read_bundle_json`'s checks."""
        policy = meta["input"]
        values = meta["thresholds"]["values"]
        return cls(class_names=tuple(meta["class_names"]), task_type=meta["task_type"],
                   threshold_values=None if values is None else tuple(float(v) for v in values),
                   sampling_rate=float(meta["sampling_rate"]), lead_names=tuple(meta["lead_names"]),
                   length=int(policy["length"]), min_length=int(policy["min_length"]),
                   window_stride=int(policy["window_stride"]), aggregation=policy["aggregation"],
                   preprocess=Preprocess.from_dict(meta["preprocess"]))

    def conform(self, signal: np.ndarray, fs: float, leads: tuple[str, ...] | list[str]) -> np.ndarray:
        """Check, reorder and resample a ``(leads, T)`` mV record into ``(len(lead_names), T')`` float32 mV at
        ``sampling_rate``: the raw input the bundle's preprocessing starts from.

        Raises :class:`InputError` (missing leads, NaN, flat-line leads, a rate that cannot be resampled, too
        short) with the status text.
        """
        if not (isinstance(fs, (int, float, np.number)) and np.isfinite(fs) and fs > 0):
            raise InputError(f"bad sampling rate: {fs!r} Hz is not a finite rate above 0")
        fs = float(fs)  # a numpy scalar rate (e.g. read from an .npz) resamples like a float
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
        flat = flat_leads(x, self.lead_names)
        if flat:
            raise InputError(f"flat-line leads: {', '.join(flat)}")
        if fs != self.sampling_rate:
            try:
                x = resample(x, fs, self.sampling_rate)
            except ValueError as exc:
                raise InputError(f"bad sampling rate: {exc}") from None
        if x.shape[-1] < self.min_length:
            raise InputError(f"too short: {x.shape[-1] / self.sampling_rate:.2f} s, the model needs at least "
                             f"{self.min_length / self.sampling_rate:.2f} s")
        return x

    def windows(self, x: np.ndarray) -> np.ndarray:
        """Preprocess a conformed record (:meth:`conform`) and cut it into ``(n_windows, leads, length)``."""
        x, _ = self.preprocess(x, self.sampling_rate, self.lead_names)
        return sliding_windows(x, self.length, self.window_stride)

    def prepare(self, signal: np.ndarray, fs: float, leads: tuple[str, ...] | list[str]) -> np.ndarray:
        """A ``(leads, T)`` mV record as model windows ``(n_windows, leads, length)``: :meth:`conform`, then
        :meth:`windows`. Raises :class:`InputError` with the status text."""
        return self.windows(self.conform(signal, fs, leads))

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
