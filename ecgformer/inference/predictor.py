"""``Predictor``: classify WFDB records, folders of them or ``.npy`` arrays with a bundle's ONNX model.

Every input yields at least one :class:`Prediction` with a ``status``: ``ok``, or ``<kind>: <detail>`` with a kind
of :data:`STATUSES`. A bad record never stops the batch: every step that touches one record (the path, header,
samples, rate, resampling, filters, windows, the model run) ends in that record's status. Only a bundle that
cannot be used (:class:`~.bundle.BundleError`, found when the :class:`Predictor` is built, before any record is
read) stops it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..data.errors import RecordError, first_line
from ..data.leads import normalize_lead_name
from ..data.wfdb_io import read_header, read_signal
from ..tempfiles import atomic_write, remove_stale_temporaries
from .bundle import BundleError, BundleSpec, InputError, bundle_file, onnx_metadata, read_bundle_json

__all__ = ["DEFAULT_PROVIDERS", "OUTPUT_SUFFIXES", "STATUSES", "OutputError", "Prediction", "Predictor",
           "RuntimeOptionError", "check_output", "check_runtime_options", "expand_inputs", "onnx_session",
           "write_predictions"]

#: Status kinds (the text before the first colon of a status) and what they mean.
STATUSES: dict[str, str] = {
    "ok": "classified; probabilities and labels are filled in",
    "missing": "the input path does not exist",
    "refused": "not a regular file (a FIFO, device or socket): never opened",
    "missing header": "a .dat/.mat data file without the .hea header that describes it",
    "no records": "a folder holding no .hea or .npy file",
    "unreadable": "the header or data file cannot be read or parsed (truncated, bad format, rate or gain)",
    "bad shape": "a .npy array that is not (leads, samples) with the bundle's lead count",
    "bad lead names": "lead names that are unknown or repeated",
    "missing leads": "a lead the model needs is not in the record",
    "NaN/invalid samples": "samples that are NaN, infinite or the format's invalid code",
    "flat-line leads": "a needed lead whose samples span less than 1 uV (no signal)",
    "bad sampling rate": "a rate that is not finite and positive or cannot be resampled to the bundle's rate",
    "too short": "shorter than the bundle's input.min_length after resampling",
    "failed": "any other error while preparing or classifying this record (the exception is named)",
}
RECORD_SUFFIXES = (".hea", ".npy")
DATA_SUFFIXES = (".dat", ".mat")
OUTPUT_SUFFIXES = (".csv", ".json")
MAX_HEADER_BYTES = 1 << 20  # WFDB headers are a few KB; a larger ".hea" is not read into memory


class OutputError(ValueError):
    """A predictions file that cannot be written where it was asked for."""


class RuntimeOptionError(ValueError):
    """An execution provider or thread count that this onnxruntime cannot use."""


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
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


def check_runtime_options(providers: Sequence[str] | None = None, threads: int | None = None) -> tuple[str, ...]:
    """The execution providers to ask onnxruntime for, in order of preference (default :data:`DEFAULT_PROVIDERS`).

    Raises :class:`RuntimeOptionError` (one line naming the argument) for an empty list, a provider this
    onnxruntime build does not offer (``onnxruntime.get_available_providers()``), or a thread count below 1.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise RuntimeOptionError(f"threads: {threads!r} is not a thread count; give an integer of at least 1")
    if providers is None:
        return DEFAULT_PROVIDERS
    if isinstance(providers, str) or not providers or not all(isinstance(p, str) and p for p in providers):
        raise RuntimeOptionError(f"providers: {providers!r} is not a list of execution provider names, e.g. "
                                 "CUDAExecutionProvider,CPUExecutionProvider")
    available = ort.get_available_providers()
    unknown = [name for name in providers if name not in available]
    if unknown:
        raise RuntimeOptionError(f"providers: {unknown[0]!r} is not available in this onnxruntime "
                                 f"{ort.__version__} (available: {', '.join(available)})")
    return tuple(providers)


def onnx_session(path: str | Path, threads: int | None = None,
                 providers: Sequence[str] | None = None) -> ort.InferenceSession:
    """An onnxruntime session on ``providers`` (checked by :func:`check_runtime_options`; default CPU);
    ``threads`` sets the intra-op thread count (default: onnxruntime's)."""
    providers = check_runtime_options(providers, threads)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=list(providers),
                                disabled_optimizers=list(DISABLED_OPTIMIZERS))


def _orphans(folder: Path, names: Sequence[str]) -> list[Path]:
    """Data files in ``folder`` (file ``names``) that no header there names: neither ``<stem>.hea`` nor a header
    whose signal lines point at them."""
    headers = {Path(n).stem for n in names if n.endswith(".hea")}
    candidates = [n for n in names if n.endswith(DATA_SUFFIXES) and Path(n).stem not in headers]
    if not candidates:
        return []
    named: set[str] = set()
    for header in (n for n in names if n.endswith(".hea")):
        path = folder / header
        try:
            if path.is_file() and path.stat().st_size <= MAX_HEADER_BYTES:
                named.update(spec.file_name for spec in read_header(path).signals)
        except (RecordError, OSError, ValueError):
            continue  # the header gets its own status
    return [folder / n for n in candidates if n not in named]


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Inputs as given; a folder is replaced by its ``.hea`` and ``.npy`` files and the data files no header
    describes (recursive, sorted, symbolic links to folders not followed), or kept as itself when it holds none."""
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append(path)
            continue
        found: list[Path] = []
        for here, folders, names in os.walk(path):
            folders.sort()
            names = sorted(names)
            found.extend(Path(here) / n for n in names if n.endswith(RECORD_SUFFIXES))
            found.extend(_orphans(Path(here), names))
        out.extend(sorted(found) or [path])
    return out


def _record_name(path: Path) -> str:
    return str(path.with_suffix("")) if path.suffix in RECORD_SUFFIXES + DATA_SUFFIXES else str(path)


def _path_status(path: Path) -> str | None:
    """The status of an input path that cannot be read as a record, or None; nothing is opened. A data file is
    judged by its header (``<stem>.hea``), which is what gets read."""
    if path.suffix in DATA_SUFFIXES:
        header = path.with_suffix(".hea")
        if not header.exists() and not header.is_symlink():
            return f"missing header: no {header.name} describes this data file"
        path = header
    try:
        info = path.stat()
    except FileNotFoundError:
        return "missing: no such file"
    except OSError as exc:
        return f"unreadable: {first_line(exc)}"
    if stat.S_ISDIR(info.st_mode):
        return "no records: the folder holds no .hea or .npy file"
    if not stat.S_ISREG(info.st_mode):
        return f"refused: {path.name} is not a regular file (FIFO, device or socket); not opened"
    if path.suffix == ".hea" and info.st_size > MAX_HEADER_BYTES:
        return f"unreadable: a {info.st_size} byte header (WFDB headers are a few KB)"
    return None


class Predictor:
    """A bundle's ONNX model with its preprocessing, input policy and decision rule.

    Building it checks the runtime options (:class:`RuntimeOptionError`: ``providers``, a list of onnxruntime
    execution providers in order of preference, default CPU; ``threads``, the intra-op thread count), then the bundle
    (``model.json`` against the schema and its cross-checks, the model file inside the folder with its sha256, the
    ONNX graph's input and output against ``lead_names``/``class_names``, one dry run, the graph's
    ``metadata_props`` against ``model.json``) and raises :class:`~.bundle.BundleError` naming the key. ``.npy``
    inputs are ``(leads, samples)`` arrays in mV at the bundle's sampling rate and lead order; use
    :meth:`predict_signal` for arrays with other rates or leads.
    """

    def __init__(self, bundle_dir: str | Path, threads: int | None = None, verify: bool = True,
                 providers: Sequence[str] | None = None) -> None:
        providers = check_runtime_options(providers, threads)
        self.folder = Path(bundle_dir)
        self.meta = read_bundle_json(self.folder)
        self.spec = BundleSpec.from_json(self.meta)
        try:
            path = bundle_file(self.folder, self.meta, "onnx", verify)
            try:
                self.session = onnx_session(path, threads, providers)
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types for bad graphs
                raise BundleError(f"files.onnx: onnxruntime cannot load {path.name} ({first_line(exc)})") from None
            self.input_name = self._check_graph(path)
            self._check_metadata(path)
        except BundleError as exc:
            raise BundleError(f"{self.folder / 'model.json'}: {exc}") from None

    def _check_metadata(self, path: Path) -> None:
        """The graph's ``metadata_props`` (:func:`~.bundle.onnx_metadata`) must equal model.json's, as JSON."""
        found = self.session.get_modelmeta().custom_metadata_map
        for key, text in onnx_metadata(self.meta).items():
            if key not in found:
                raise BundleError(f"files.onnx: {path.name} carries no metadata_props {key!r}; re-export the bundle "
                                  "with this version")
            try:
                stored = json.loads(found[key])
            except ValueError:
                raise BundleError(f"files.onnx: {path.name} metadata_props {key!r} is not JSON; re-export the "
                                  "bundle") from None
            expected = json.loads(text)
            if stored != expected:
                keys = ([k for k in expected if not isinstance(stored, dict) or stored.get(k) != expected[k]]
                        if isinstance(expected, dict) else [key.removeprefix("ecgformer.")])
                raise BundleError(f"{keys[0]}: model.json differs from {path.name} metadata_props {key!r}; the "
                                  "model file and model.json come from different exports; re-export the bundle")

    @property
    def providers(self) -> list[str]:
        """The execution providers the session runs on, in onnxruntime's order."""
        return self.session.get_providers()

    def _check_graph(self, path: Path) -> str:
        """The graph's input name, after checking its input/output shapes against model.json with one dry run."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 3:
            raise BundleError(f"files.onnx: {path.name} must take one (batch, leads, samples) input, it takes "
                              f"{[tuple(i.shape) for i in inputs]}")
        channels, classes = inputs[0].shape[1], outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if isinstance(channels, int) and channels != len(self.spec.lead_names):
            raise BundleError(f"lead_names: {len(self.spec.lead_names)} leads, but {path.name} takes {channels} "
                              "input channels; list one lead per input channel")
        if isinstance(classes, int) and classes != len(self.class_names):
            raise BundleError(f"class_names: {len(self.class_names)} names, but {path.name} has {classes} outputs; "
                              "list one name per output")
        dry = np.zeros((1, len(self.spec.lead_names), self.spec.length), dtype=np.float32)
        try:
            shape = np.shape(self.session.run(None, {inputs[0].name: dry})[0])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's error types
            raise BundleError(f"files.onnx: {path.name} fails on a (1, {dry.shape[1]}, {dry.shape[2]}) input as "
                              f"lead_names and input.length describe it ({first_line(exc)})") from None
        if shape != (1, len(self.class_names)):
            raise BundleError(f"class_names: {len(self.class_names)} names, but {path.name} returns {shape} for one "
                              "record; list one name per output")
        return inputs[0].name

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
            probs = self.spec.probabilities(self.logits(windows))
        except InputError as exc:
            return Prediction(record, str(exc))
        except Exception as exc:  # noqa: BLE001 - one record's failure is that record's status
            return Prediction(record, f"failed: {type(exc).__name__}: {first_line(exc)}")
        if not np.isfinite(probs).all():
            return Prediction(record, "failed: the model returned non-finite outputs")
        return Prediction(record, "ok", {name: float(p) for name, p in zip(self.class_names, probs)},
                          self.spec.labels(probs))

    def predict_file(self, path: str | Path) -> Prediction:
        """Classify a WFDB record (``.hea``, or its path without suffix) or a ``.npy`` array; any other path gets the
        status that says why it is not a record (see :data:`STATUSES`)."""
        path = Path(path)
        name = _record_name(path)
        if path.suffix not in RECORD_SUFFIXES + DATA_SUFFIXES and not path.exists():
            path = path.with_name(path.name + ".hea")  # a record named without its suffix
        problem = _path_status(path)
        if problem is not None:
            return Prediction(name, problem)
        try:
            if path.suffix == ".npy":
                signal = np.load(path, allow_pickle=False)
                if signal.ndim != 2 or signal.shape[0] != len(self.spec.lead_names):
                    return Prediction(name, f"bad shape: expected a (leads, samples) array with "
                                            f"{len(self.spec.lead_names)} rows, got shape {signal.shape}")
                return self.predict_signal(signal, self.spec.sampling_rate, self.spec.lead_names, name)
            header = read_header(path.with_suffix(".hea"), name)
            refused = [p.name for p in header.data_files() if p.exists() and not p.is_file()]
            if refused:
                return Prediction(name, f"refused: data file {refused[0]} is not a regular file; not opened")
            signal = read_signal(header, record=name)
            leads = [normalize_lead_name(description) for description in header.descriptions]
        except RecordError as exc:
            return Prediction(name, f"unreadable: {exc.problem}")
        except Exception as exc:  # noqa: BLE001 - one file's failure is that record's status
            return Prediction(name, f"unreadable: {type(exc).__name__}: {first_line(exc)}")
        known = [i for i, lead in enumerate(leads) if lead is not None]  # other channels (e.g. respiration) ignored
        return self.predict_signal(signal[known], header.fs, [leads[i] for i in known], name)

    def predict(self, inputs: Iterable[str | Path]) -> list[Prediction]:
        """One prediction per input file (folders expanded, see :func:`expand_inputs`), in input order."""
        return [self.predict_file(path) for path in expand_inputs(inputs)]


def check_output(out: str | Path, overwrite: bool = False) -> Path:
    """``out`` when predictions can be written there: a ``.csv`` or ``.json`` name in an existing, writable folder,
    not a folder itself, and not an existing file unless ``overwrite``; else :class:`OutputError` naming it."""
    out = Path(out)
    if out.suffix not in OUTPUT_SUFFIXES:
        raise OutputError(f"--out {out}: the file must end in .csv or .json")
    if out.is_dir():
        raise OutputError(f"--out {out}: is a folder; name a .csv or .json file")
    parent = out.parent
    if not parent.is_dir():
        raise OutputError(f"--out {out}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: folder {parent} is not writable")
    if out.exists() and not overwrite:
        raise OutputError(f"--out {out}: exists; pass --overwrite to replace it")
    return out


def write_predictions(predictions: Sequence[Prediction], class_names: Sequence[str], out: str | Path,
                      overwrite: bool = False) -> Path:
    """Write ``.csv`` (one row per record) or ``.json`` (a list of objects with the same fields) atomically.

    ``out`` is checked by :func:`check_output` (an existing file is kept unless ``overwrite``); temporaries that
    killed runs left beside it are removed first. :class:`OutputError` when the file cannot be written.
    """
    out = check_output(out, overwrite)
    rows = [p.row(class_names) for p in predictions]
    if out.suffix == ".json":
        data = json.dumps(rows, indent=2).encode()
    else:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=["record", "status", *(f"p_{c}" for c in class_names), "labels"])
        writer.writeheader()
        writer.writerows(rows)
        data = text.getvalue().encode()
    remove_stale_temporaries(out.parent)
    try:
        return atomic_write(out, lambda handle: handle.write(data), overwrite=overwrite)
    except OSError as exc:
        raise OutputError(f"--out {out}: could not be written ({first_line(exc)})") from None
