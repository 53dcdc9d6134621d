"""Build an export bundle: model file(s), ``model.json``, reference vectors, parity checked on real records, the
ONNX model annotated with the contract and re-verified by the torch-free predictor, written atomically."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..data.base import data_root
from ..data.errors import RecordError
from ..data.leads import STANDARD_LEADS
from ..data.synthetic import synthesize_ecg
from ..data.wfdb_io import load_wfdb_record, read_header
from ..inference.bundle import (
    FORMAT_VERSION,
    REFERENCE_FILES,
    BundleSpec,
    InputError,
    onnx_metadata,
    read_bundle_json,
    sha256_file,
)
from ..inference.reference import verify_bundle
from ..tempfiles import remove_stale_temporaries, temporary_path
from .formats import FORMATS, INPUT_NAME, OPSET, load_runner, write_model
from .source import ExportSource, selection_metrics

__all__ = ["REFERENCE_TOLERANCE", "TOLERANCE", "ParityError", "bundle_json", "export_bundle", "parity_inputs",
           "run_provenance", "thresholds_selection", "write_onnx_metadata", "write_reference"]

TOLERANCE = 1e-4
#: Max abs differences ``ecgformer predict --verify`` accepts for the reference windows and probabilities.
REFERENCE_TOLERANCE = {"windows": 1e-4, "probabilities": 1e-4}
HEADERS_PER_DATASET = 40


class ParityError(RuntimeError):
    """The exported model's logits differ from the eager model's by more than the tolerance."""


def thresholds_selection(thresholds: dict[str, Any]) -> str:
    """How ``Thresholds.to_dict()`` ``thresholds`` were chosen, in words (``provenance.thresholds``)."""
    if thresholds["rule"] == "argmax":
        return f"none: arg-max decisions ({'single-label' if thresholds['split'] != 'none' else 'preset default'})"
    if thresholds["split"] == "none":
        return f"not chosen on data: {thresholds['rule']} default of 0.5 per class"
    fallback = thresholds.get("fallback") or []
    return (f"rule {thresholds['rule']} per class on the {thresholds['split']} split"
            + (f"; 0.5 for {', '.join(fallback)} (rule undefined there)" if fallback else ""))


def bundle_json(source: ExportSource, min_seconds: float = 2.0, stride_fraction: float | None = None,
                aggregation: str = "mean", provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """``model.json`` content for ``source`` (``files``, ``reference`` and ``parity`` are filled in by
    :func:`export_bundle`).

    Long records are cut into windows every ``stride_fraction`` of the input length; by default the stride the
    checkpoint was evaluated with (its ``eval_stride_s`` sliding windows), else half the length. ``provenance``
    starts from the source's training data and validation selection (both null for a preset) and how the
    thresholds were chosen; ``provenance`` given here (see :func:`run_provenance`: commit, metrics, the run)
    updates it.
    """
    length = source.input_length
    if stride_fraction is not None:
        window_stride = round(stride_fraction * length)
    else:
        window_stride = source.window_stride or round(0.5 * length)
    min_length = max(getattr(source.model, "min_length", 1),
                     min(length, round(min_seconds * source.sampling_rate)))
    return {
        "format_version": FORMAT_VERSION, "ecgformer_version": __version__, "torch_version": torch.__version__,
        "model": {"name": source.model_name, "kwargs": source.model_kwargs, "num_classes": len(source.class_names),
                  "in_chans": len(source.lead_names), "origin": source.origin},
        "task_type": source.task_type, "class_names": list(source.class_names),
        "thresholds": source.thresholds.to_dict(), "sampling_rate": source.sampling_rate,
        "lead_names": list(source.lead_names),
        "input": {"units": "mV", "layout": "(leads, samples)", "model_layout": "(batch, leads, samples)",
                  "dtype": "float32", "length": length, "min_length": min_length, "pad": "zero",
                  "window_stride": max(1, window_stride), "aggregation": aggregation},
        "preprocess": source.preprocess.to_dict(), "files": {}, "parity": {},
        "provenance": {"data": source.data, "commit": None, "metrics": source.metrics,
                       "thresholds": thresholds_selection(source.thresholds.to_dict()), **(provenance or {})},
    }


def run_provenance(run_json: str | Path) -> dict[str, Any]:
    """The provenance of a model trained by ``ecgformer bench train``, from its ``run.json``: ``commit`` (of the
    training), ``metrics`` (every validation metric of the selected epoch and the selection rule) and ``run`` (grid
    folder, model, seed, config and overrides, date, the grid's declaration and the run's test score, when
    tested)."""
    path = Path(run_json)
    run = json.loads(path.read_text())
    grid = path.parent.parent.parent
    declared = grid / "DECLARED.json"
    try:
        validation = run.get("validation")
        metrics = None if validation is None else selection_metrics(
            validation["monitor"], validation["best"], validation["epoch"], validation["rule"],
            validation.get("metrics") or None)
        return {"commit": run["machine"].get("commit"), "metrics": metrics,
                "run": {"grid": grid.name, "model": run["model"], "seed": run["seed"], "config": run["config"],
                        "overrides": run["overrides"], "date": run["machine"].get("date"),
                        "declared": json.loads(declared.read_text())["reason"] if declared.is_file() else None,
                        "test": run.get("test")}}
    except (KeyError, AttributeError, TypeError) as exc:
        raise ValueError(f"{path}: not a run.json of `ecgformer bench train` (no {exc})") from None


def raw_records(spec: BundleSpec, count: int = 3, root: Path | None = None) -> tuple[list[np.ndarray], list[str]]:
    """``count`` raw records conformed to the bundle (:meth:`BundleSpec.conform`: ``(leads, samples)`` mV at its
    rate and lead order) with their names: the first usable ``.hea`` records of each dataset folder of the shared
    PhysioNet data, in sorted order, or synthetic ECGs (``synthetic/<k>``, long enough for two windows) when there
    are not ``count`` of them."""
    root = data_root() if root is None else root
    found: list[np.ndarray] = []
    names: list[str] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        for header_path in islice(sorted(folder.rglob("*.hea")), HEADERS_PER_DATASET):
            if len(found) == count:
                break
            try:
                record = load_wfdb_record(read_header(header_path))
                found.append(spec.conform(record.signal, record.fs, record.leads))
            except (RecordError, InputError):
                continue
            names.append(f"{folder.name}/{header_path.stem}")
    if len(found) == count:
        return found, names
    rng = np.random.default_rng(0)
    synthetic = []
    for _ in range(count):
        duration = _reference_samples(spec) / spec.sampling_rate
        signal, _ = synthesize_ecg({"SR"}, fs=spec.sampling_rate, duration=duration, rng=rng)
        padded, _ = _fill_leads(signal, STANDARD_LEADS, spec.lead_names)
        synthetic.append(spec.conform(padded, spec.sampling_rate, spec.lead_names))
    return synthetic, [f"synthetic/{k}" for k in range(count)]


def parity_batch(spec: BundleSpec, records: Sequence[np.ndarray], names: Sequence[str]) -> tuple[np.ndarray, str]:
    """The first window of each of ``records`` (:func:`raw_records`) as one ``(count, leads, length)`` batch, and
    where they come from (``records <names>`` or ``synthetic``)."""
    inputs = np.stack([spec.windows(x)[0] for x in records])
    return inputs, "synthetic" if names[0].startswith("synthetic/") else "records " + ", ".join(names)


def parity_inputs(spec: BundleSpec, count: int = 3, root: Path | None = None) -> tuple[np.ndarray, str]:
    """``count`` prepared records ``(count, leads, length)`` of :func:`raw_records` (see :func:`parity_batch`)."""
    return parity_batch(spec, *raw_records(spec, count, root))


def _reference_samples(spec: BundleSpec) -> int:
    """The reference input's length: one window and half a stride, so that it makes two sliding windows."""
    return spec.length + max(1, spec.window_stride // 2)


def write_reference(model: torch.nn.Module, spec: BundleSpec, record: np.ndarray, name: str,
                    folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Write the reference vectors of :mod:`ecgformer.inference.reference` into ``folder``: the first
    :func:`_reference_samples` of the conformed ``record`` (named ``name``), its windows, and its probabilities
    through the eager ``model``. Returns their ``files`` entries and the ``reference`` key of ``model.json``."""
    raw = np.ascontiguousarray(record[:, :_reference_samples(spec)], dtype="<f4")
    windows = spec.prepare(raw, spec.sampling_rate, spec.lead_names)
    with torch.no_grad():
        logits = model(torch.from_numpy(windows)).numpy()
    arrays = {"reference_input": raw, "reference_windows": windows,
              "reference_probabilities": spec.probabilities(logits)}
    files = {}
    for key, array in arrays.items():
        path = folder / REFERENCE_FILES[key]
        array = np.ascontiguousarray(array, dtype="<f4")
        np.save(path, array, allow_pickle=False)
        files[key] = {"path": path.name, "sha256": sha256_file(path), "shape": list(array.shape), "dtype": "float32"}
    source = f"{name}, first {raw.shape[-1]} samples at {spec.sampling_rate:g} Hz"
    return files, {"source": source, "tolerance": dict(REFERENCE_TOLERANCE)}


def write_onnx_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Add ``metadata`` (key -> text) to the ``metadata_props`` of the ONNX model at ``path``, in place; entries the
    exporter wrote under other keys are kept."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    merged = {entry.key: entry.value for entry in model.metadata_props}
    onnx.helper.set_model_props(model, {**merged, **metadata})
    onnx.save(model, str(path))


def _fill_leads(signal: np.ndarray, leads: Sequence[str], wanted: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Rows of ``signal`` for ``wanted``; leads the synthetic ECG lacks (e.g. MLII, ECG) take lead II."""
    rows = [signal[list(leads).index(name) if name in leads else 1] for name in wanted]
    return np.stack(rows), list(wanted)


def parity_lengths(spec: BundleSpec) -> tuple[int, ...]:
    """Three input lengths for the parity check: the bundle's length and two shorter, odd ones."""
    lengths = (spec.length, max(spec.min_length, (3 * spec.length) // 4 + 1),
               max(spec.min_length, spec.length // 2 + 3))
    return tuple(dict.fromkeys(lengths))


def check_parity(model: torch.nn.Module, path: Path, fmt: str, inputs: np.ndarray,
                 lengths: Sequence[int], tolerance: float = TOLERANCE) -> dict[str, float]:
    """Max abs logit difference, eager vs exported, per length of the batch ``inputs``; the first length's figure
    also covers the first record run alone (batch 1, as the predictor runs a short record). :class:`ParityError`
    above ``tolerance``."""
    run = load_runner(path, fmt)
    diffs: dict[str, float] = {}
    cases = [(str(length), inputs[..., :length]) for length in lengths]
    cases.append((str(lengths[0]), inputs[:1, :, :lengths[0]]))
    for key, x in cases:
        x = np.ascontiguousarray(x)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        try:
            got = run(x)
        except Exception as exc:  # a shape guard of the exported graph, an onnxruntime error ...
            raise ParityError(f"{fmt} export fails on {x.shape[0]} x {x.shape[-1]} inputs (figures so far: {diffs}): "
                              f"{type(exc).__name__}: {exc}") from exc
        diff = float(np.abs(got - expected).max())
        diffs[key] = max(diffs.get(key, 0.0), diff if np.isfinite(diff) else float("inf"))  # NaN fails, not passes
    if max(diffs.values()) > tolerance:
        raise ParityError(f"{fmt} export differs from the eager model: max abs logit difference per length "
                          f"{diffs} exceeds {tolerance:g}")
    return diffs


def export_bundle(source: ExportSource, out: str | Path, formats: Sequence[str] = ("onnx",),
                  tolerance: float = TOLERANCE, overwrite: bool = False, **policy: Any) -> Path:
    """Write the bundle folder ``out`` for ``source`` in ``formats``; parity-checked, atomic.

    The bundle is built in a temporary folder beside ``out`` and renamed into place only when every format
    passed its parity check; on any error nothing is left at ``out`` (an existing bundle there is kept unless
    the new one completes and ``overwrite`` is set). ``policy`` goes to :func:`bundle_json`.
    """
    out = Path(out)
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {tuple(FORMATS)}, got {list(formats)}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if out.exists() and not (out / "model.json").is_file():
        raise FileExistsError(f"{out} exists and is not an export bundle (no model.json); --overwrite only replaces "
                              "bundles, so choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = bundle_json(source, **policy)
    spec = BundleSpec.from_json(meta)
    model = source.model.eval()
    records, names = raw_records(spec)
    inputs, origin = parity_batch(spec, records, names)
    lengths = parity_lengths(spec)
    remove_stale_temporaries(out.parent)
    staging = temporary_path(out)
    staging.mkdir()
    try:
        meta["files"], meta["reference"] = write_reference(model, spec, records[0], names[0], staging)
        for fmt in dict.fromkeys(formats):
            path = write_model(model, torch.from_numpy(inputs[:2]), fmt, staging)
            if fmt == "onnx":
                write_onnx_metadata(path, onnx_metadata(meta))
            diffs = check_parity(model, path, fmt, inputs, lengths, tolerance)
            meta["files"][fmt] = {"path": path.name, "sha256": sha256_file(path), "input_name": INPUT_NAME,
                                  **({"opset": OPSET} if fmt == "onnx" else {})}
            meta["parity"][fmt] = {"inputs": origin, "batch": int(inputs.shape[0]), "lengths": list(lengths),
                                   "max_abs_logit_diff": diffs, "tolerance": tolerance}
        (staging / "model.json").write_text(json.dumps(meta, indent=2, allow_nan=False))
        read_bundle_json(staging)  # the predictor's checks: schema and cross-checks
        failed = [check.line() for check in verify_bundle(staging) if not check.passed] if "onnx" in formats else []
        if failed:
            raise ParityError(f"the bundle fails its own verification (ecgformer predict --verify): {failed[0]}")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
