"""Build an export bundle: model file(s), ``model.json``, parity checked on real records, written atomically."""

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
from ..inference.bundle import FORMAT_VERSION, BundleSpec, InputError, read_bundle_json, sha256_file
from ..tempfiles import remove_stale_temporaries, temporary_path
from .formats import FORMATS, INPUT_NAME, OPSET, load_runner, write_model
from .source import ExportSource

__all__ = ["TOLERANCE", "ParityError", "bundle_json", "export_bundle", "parity_inputs", "run_provenance"]

TOLERANCE = 1e-4
HEADERS_PER_DATASET = 40


class ParityError(RuntimeError):
    """The exported model's logits differ from the eager model's by more than the tolerance."""


def bundle_json(source: ExportSource, min_seconds: float = 2.0, stride_fraction: float | None = None,
                aggregation: str = "mean", provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """``model.json`` content for ``source`` (``files`` and ``parity`` are filled in by :func:`export_bundle`).

    Long records are cut into windows every ``stride_fraction`` of the input length; by default the stride the
    checkpoint was evaluated with (its ``eval_stride_s`` sliding windows), else half the length. ``provenance``
    (see :func:`run_provenance`) says which grid, seed, commit and selection the model comes from.
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
        "input": {"length": length, "min_length": min_length, "pad": "zero",
                  "window_stride": max(1, window_stride), "aggregation": aggregation},
        "preprocess": source.preprocess.to_dict(), "files": {}, "parity": {},
        **({"provenance": provenance} if provenance else {}),
    }


def run_provenance(run_json: str | Path) -> dict[str, Any]:
    """The provenance of a model trained by ``ecgformer bench train``, from its ``run.json``: grid folder, model,
    seed, config and overrides, commit and date, how the checkpoint was selected on validation, the grid's
    declaration and the run's test score (when tested)."""
    path = Path(run_json)
    run = json.loads(path.read_text())
    grid = path.parent.parent.parent
    declared = grid / "DECLARED.json"
    try:
        return {"grid": grid.name, "model": run["model"], "seed": run["seed"], "config": run["config"],
                "overrides": run["overrides"], "commit": run["machine"].get("commit"),
                "date": run["machine"].get("date"), "selection": run.get("validation"),
                "declared": json.loads(declared.read_text())["reason"] if declared.is_file() else None,
                "test": run.get("test")}
    except (KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: not a run.json of `ecgformer bench train` (no {exc})") from None


def parity_inputs(spec: BundleSpec, count: int = 3, root: Path | None = None) -> tuple[np.ndarray, str]:
    """``count`` prepared records ``(count, leads, length)`` from the shared PhysioNet data (first usable
    ``.hea`` records of each dataset folder, in sorted order), or synthetic ECGs when there are none."""
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
                windows = spec.prepare(record.signal, record.fs, record.leads)
            except (RecordError, InputError):
                continue
            found.append(windows[0])
            names.append(f"{folder.name}/{header_path.stem}")
    if len(found) == count:
        return np.stack(found), "records " + ", ".join(names)
    rng = np.random.default_rng(0)
    synthetic = []
    for _ in range(count):
        signal, _ = synthesize_ecg({"SR"}, fs=spec.sampling_rate, duration=spec.length / spec.sampling_rate, rng=rng)
        padded, _ = _fill_leads(signal, STANDARD_LEADS, spec.lead_names)
        synthetic.append(spec.prepare(padded, spec.sampling_rate, spec.lead_names)[0])
    return np.stack(synthetic), "synthetic"


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
    inputs, origin = parity_inputs(spec)
    lengths = parity_lengths(spec)
    remove_stale_temporaries(out.parent)
    staging = temporary_path(out)
    staging.mkdir()
    try:
        for fmt in dict.fromkeys(formats):
            path = write_model(model, torch.from_numpy(inputs[:2]), fmt, staging)
            diffs = check_parity(model, path, fmt, inputs, lengths, tolerance)
            meta["files"][fmt] = {"path": path.name, "sha256": sha256_file(path), "input_name": INPUT_NAME,
                                  **({"opset": OPSET} if fmt == "onnx" else {})}
            meta["parity"][fmt] = {"inputs": origin, "batch": int(inputs.shape[0]), "lengths": list(lengths),
                                   "max_abs_logit_diff": diffs, "tolerance": tolerance}
        (staging / "model.json").write_text(json.dumps(meta, indent=2, allow_nan=False))
        read_bundle_json(staging)  # the predictor's checks: schema and cross-checks
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
