"""The reader interface shared by every dataset, cache and derived (window/beat) dataset.

A *source* has ``record_ids``, ``classes``, a ``labels`` matrix ``(n, C)``, ``folds``, per-record
``metadata`` (a pandas DataFrame with at least ``fs`` and ``n_samples``), the ``skipped`` report,
and ``load(i, start, stop)`` returning an :class:`~ecgformer.data.wfdb_io.EcgRecord`.
:class:`WfdbReader` builds one from WFDB files on disk, checking each record as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from ..paths import data_root, data_root_origin
from ..progress import progress as progress_bar
from .errors import (
    DataError,
    EmptySplitError,
    FlatPolicy,
    FlatSignalError,
    OnError,
    RecordError,
    Skipped,
    handle_problem,
)
from .labels import TEST_FOLDS, TRAIN_FOLDS, VAL_FOLDS, label_counts, multi_hot
from .leads import canonical_order, resolve_leads
from .wfdb_io import (
    FLAT_PEAK_TO_PEAK_MV,
    EcgRecord,
    WfdbHeader,
    check_data_files,
    flat_leads,
    header_leads,
    load_wfdb_record,
    read_header,
)

if TYPE_CHECKING:
    from .download import DatasetSource

__all__ = ["LabelledSource", "SubsetSource", "WfdbReader", "Candidate", "Unlabelled", "data_root", "dataset_root"]

Unlabelled = Literal["raise", "skip", "keep"]


def dataset_root(folder: str, root: str | Path | None) -> Path:
    """``root`` if given, else ``data_root() / folder``."""
    return Path(root).expanduser() if root is not None else data_root() / folder


class LabelledSource:
    """Common behaviour of readers, caches and derived datasets (splits, counts, summary)."""

    name: str = "source"
    task: str = ""
    #: What a dataset's reader declares (:func:`~ecgformer.data.registry.register_dataset`): its tasks, the one
    #: used when none is given, the sampling rates of the files it can open with ``fs=`` (PTB-XL's 100 and 500 Hz;
    #: empty: the rate is the records' own), whether it reads files (``root``, ``leads``, ``on_error``, ``flat``)
    #: and where PhysioNet publishes it.
    tasks: ClassVar[tuple[str, ...]] = ()
    default_task: ClassVar[str] = ""
    file_rates: ClassVar[tuple[int, ...]] = ()
    reads_files: ClassVar[bool] = True
    download_source: ClassVar[DatasetSource | None] = None
    record_ids: list[str]
    classes: list[str]
    labels: np.ndarray
    folds: np.ndarray
    metadata: pd.DataFrame
    skipped: list[Skipped]
    on_error: OnError = "raise"
    flat: FlatPolicy = "keep"

    def __len__(self) -> int:
        return len(self.record_ids)

    def load(self, i: int, start: int | None = None, stop: int | None = None) -> EcgRecord:
        """Record ``i`` (samples ``[start, stop)``) as float32 mV ``(leads, T)``."""
        raise NotImplementedError

    def index_of(self, record_id: str) -> int:
        """Position of ``record_id``; ``KeyError`` naming it when absent."""
        try:
            return self.record_ids.index(record_id)
        except ValueError:
            raise KeyError(f"{self.name}: no record {record_id!r}") from None

    def _split_mask(self, name: str) -> np.ndarray | None:
        """Hook for named splits beyond train/val/test/all (e.g. MIT-BIH ``DS1``)."""
        return None

    def split(self, which: str | Iterable[int]) -> np.ndarray:
        """Indices of a split: ``"train"`` (folds 1-8), ``"val"`` (9), ``"test"`` (10), ``"all"``,
        a named split of the dataset, or an iterable of fold numbers.

        Raises :class:`EmptySplitError` when the split selects no record.
        """
        if isinstance(which, str):
            named = {"train": TRAIN_FOLDS, "val": VAL_FOLDS, "test": TEST_FOLDS}
            mask = self._split_mask(which)
            if mask is None:
                if which == "all":
                    mask = np.ones(len(self), dtype=bool)
                elif which in named:
                    mask = np.isin(self.folds, named[which])
                else:
                    raise ValueError(f"{self.name}: unknown split {which!r}")
            label = which
        else:
            folds = [int(f) for f in which]
            mask = np.isin(self.folds, folds)
            label = f"folds {folds}"
        indices = np.flatnonzero(mask)
        if len(indices) == 0:
            raise EmptySplitError(f"{self.name} (task {self.task}): split {label} selects no record "
                                  f"out of {len(self)}")
        return indices

    def label_counts(self, indices: Sequence[int] | None = None) -> dict[str, int]:
        """Records per class (over ``indices`` if given)."""
        labels = self.labels if indices is None else self.labels[np.asarray(indices)]
        return label_counts(labels, self.classes)

    def sampling_rates(self) -> dict[float, int]:
        """``{rate: number of records}``."""
        counts = self.metadata["fs"].value_counts().sort_index()
        return {float(rate): int(n) for rate, n in counts.items()}

    @property
    def fs(self) -> float | None:
        """The sampling rate shared by every record, or ``None`` when rates differ."""
        rates = self.sampling_rates()
        return next(iter(rates)) if len(rates) == 1 else None

    def challenge_scoring(self) -> dict[str, Any] | None:
        """The dataset's official metric for this task (``{"scorer": name, ...}`` for
        :func:`ecgformer.metrics.challenge_metrics`), else ``None``."""
        return None

    @classmethod
    def open(cls, root: str | Path | None, task: str, **kwargs: Any) -> LabelledSource:
        """The reader of ``task`` under ``root`` (``open_dataset`` calls this); readers whose tasks are derived
        views (MIT-BIH's beats and windows) or that read no files override it."""
        return cls(root, task=task, **kwargs)

    @classmethod
    def check_layout(cls, root: Path) -> list[str]:
        """Problems with the folder layout this reader expects under ``root`` (empty: fine, or nothing to check)."""
        return []

    def subset(self, indices: Sequence[int]) -> SubsetSource:
        """A view of the records at ``indices`` (same interface; cacheable when this source is)."""
        return SubsetSource(self, indices)

    def _drop(self, keep: np.ndarray) -> None:
        """Keep only the records where ``keep`` is true (subclasses extend for their own arrays)."""
        self.record_ids = [r for r, k in zip(self.record_ids, keep) if k]
        self.labels = self.labels[keep]
        self.folds = self.folds[keep]
        self.metadata = self.metadata[keep]

    def handle_load_error(self, exc: RecordError, skipped: list[Skipped]) -> None:
        """Re-raise ``exc`` (a record that failed to load) or log it and append it to ``skipped``: a flat
        record (:class:`FlatSignalError`) as :attr:`flat` says (``"raise"`` or skip), others as :attr:`on_error`."""
        policy = ("raise" if self.flat == "raise" else "skip") if isinstance(exc, FlatSignalError) else self.on_error
        if policy == "raise":
            raise exc
        handle_problem("skip", exc.record, exc.problem, skipped)

    def validate(self, progress: bool = False) -> list[Skipped]:
        """Load every record once; a record that fails raises, or is dropped and reported (see
        :meth:`handle_load_error`). Records that load but have some flat leads are kept and their
        leads listed in the ``flat_leads`` metadata column. Returns the records dropped by this pass."""
        failed: list[Skipped] = []
        keep = np.ones(len(self), dtype=bool)
        partly_flat: dict[str, str] = {}
        for i in progress_bar(range(len(self)), f"checking {self.name}", progress, leave=False):
            try:
                record = self.load(i)
            except RecordError as exc:
                self.handle_load_error(exc, failed)
                keep[i] = False
                continue
            flat = flat_leads(record.signal, record.leads)
            if flat:
                partly_flat[self.record_ids[i]] = ",".join(flat)
        if failed:
            self._drop(keep)
            self.skipped.extend(failed)
        self.metadata = self.metadata.assign(flat_leads=[partly_flat.get(r, "") for r in self.record_ids])
        return failed

    def summary(self, load: bool = True, progress: bool = False) -> dict[str, Any]:
        """JSON-ready report: records loaded and skipped (with reasons), classes, label counts,
        sampling rates, lengths and (``load``) the records kept with some flat leads. ``load`` reads
        every signal first (see :meth:`validate`). ``records`` equals the sum of the rate counts and
        the number of lengths summarised."""
        if load:
            self.validate(progress=progress)
        seconds = (self.metadata["n_samples"] / self.metadata["fs"]).to_numpy(dtype=float)
        out = {
            "dataset": self.name,
            "task": self.task,
            "records": len(self),
            "skipped": [s.to_dict() for s in self.skipped],
            "classes": list(self.classes),
            "label_counts": self.label_counts(),
            "sampling_rates": {f"{rate:g}": n for rate, n in self.sampling_rates().items()},
            "length_s": ({"min": float(seconds.min()), "median": float(np.median(seconds)),
                          "max": float(seconds.max())} if len(seconds) else {}),
            "signals_checked": bool(load),
        }
        if load and "flat_leads" in self.metadata:
            column = self.metadata["flat_leads"]
            out["flat_leads"] = {str(r): leads.split(",") for r, leads in column[column != ""].items()}
        return out


class SubsetSource(LabelledSource):
    """Some records of another source, in the given order."""

    def __init__(self, parent: LabelledSource, indices: Sequence[int]) -> None:
        self.parent = parent
        self.indices = np.asarray(indices, dtype=np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(parent)):
            raise IndexError(f"{parent.name}: subset index out of range 0..{len(parent) - 1}")
        self.name, self.task, self.on_error, self.flat = parent.name, parent.task, parent.on_error, parent.flat
        self.classes = list(parent.classes)
        self.record_ids = [parent.record_ids[i] for i in self.indices]
        self.labels = parent.labels[self.indices]
        self.folds = parent.folds[self.indices]
        self.metadata = parent.metadata.iloc[self.indices]
        self.skipped = list(parent.skipped)

    def load(self, i: int, start: int | None = None, stop: int | None = None) -> EcgRecord:
        """Record ``i`` of the subset."""
        return self.parent.load(int(self.indices[i]), start, stop)

    def _split_mask(self, name: str) -> np.ndarray | None:
        mask = self.parent._split_mask(name)
        return None if mask is None else np.asarray(mask)[self.indices]

    def source_files(self, i: int) -> list[Path]:
        """Files of record ``i`` (as the parent reports them)."""
        files = getattr(self.parent, "source_files", None)
        return files(int(self.indices[i])) if files else []

    def challenge_scoring(self) -> dict[str, Any] | None:
        """The parent's (a subset keeps the parent's classes)."""
        return self.parent.challenge_scoring()

    def label_files(self) -> list[Path]:
        """The parent's label files."""
        files = getattr(self.parent, "label_files", None)
        return files() if files else []

    def config(self) -> dict[str, Any]:
        """The parent's configuration plus the selected record ids."""
        parent_config = getattr(self.parent, "config", None)
        if parent_config is None:
            raise TypeError(f"{type(self.parent).__name__} has no config(); it cannot be cached")
        return {**parent_config(), "subset": list(self.record_ids)}


@dataclass
class Candidate:
    """A record found by a reader's scan, before the shared checks.

    ``problem`` is a source-level problem found while scanning (missing label, unknown code);
    ``unlabelled`` is set when the record is fine but the task maps it to no class.
    """

    record_id: str
    header_path: Path | None
    labels: tuple[str, ...] = ()
    fold: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    unlabelled: str | None = None

    def assign(self, labels: Iterable[str], empty_reason: str) -> None:
        """Set the (sorted, distinct) labels; an empty set is marked unlabelled with ``empty_reason``."""
        self.labels = tuple(sorted(set(labels)))
        if not self.labels:
            self.unlabelled = empty_reason


class WfdbReader(LabelledSource):
    """A dataset of WFDB records on disk; subclasses implement :meth:`_scan`.

    Construction parses every header and checks, per record: header present and readable (finite,
    plausible rate and gains), data files present and not truncated, sampling rate as expected, lead
    names known, lead set as configured, label set not empty. The configured lead set is ``leads``
    when given (every record must have those leads; others are dropped on load), else the dataset's
    own: :attr:`dataset_leads` exactly, or for datasets whose lead names vary by record (MIT-BIH)
    :attr:`dataset_lead_count` leads. So every record of a reader has the same number of leads.
    ``on_error="raise"`` (default) raises :class:`RecordError` at the first problem; ``"skip"``
    leaves the record out and lists it in :attr:`skipped`. ``unlabelled`` says what to do with a
    valid record that the task maps to no class: ``"raise"``, ``"skip"`` (listed in :attr:`skipped`)
    or ``"keep"`` (an all-zero label row). NaN samples and flat records are found when a record is
    read (:meth:`load`, :meth:`validate`, the cache). A record is flat when every lead it loads spans
    less than :data:`~ecgformer.data.wfdb_io.FLAT_PEAK_TO_PEAK_MV` (1 µV) peak to peak: ``flat="skip"``
    (default) leaves it out and lists it even under ``on_error="raise"`` (:meth:`load` raises
    :class:`FlatSignalError`, which :meth:`validate` and the cache handle), ``"raise"`` raises,
    ``"keep"`` loads it. A record with only some flat leads is loaded; :meth:`validate` lists them.
    """

    folder: ClassVar[str] = ""
    #: The leads every record must have when no ``leads`` are requested (canonical names, any order).
    dataset_leads: ClassVar[tuple[str, ...] | None] = None
    #: For datasets whose lead names vary by record (``dataset_leads`` is ``None``): the lead count.
    dataset_lead_count: ClassVar[int | None] = None

    def __init__(self, root: str | Path | None, *, task: str, leads: str | Sequence[str] | None = None,
                 expected_fs: float | None = None, on_error: OnError = "raise",
                 unlabelled: Unlabelled = "raise", flat: FlatPolicy = "skip", progress: bool = False) -> None:
        if task not in self.tasks:
            raise ValueError(f"{self.name}: unknown task {task!r}; tasks: {', '.join(self.tasks)}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if unlabelled not in ("raise", "skip", "keep"):
            raise ValueError(f"unlabelled must be 'raise', 'skip' or 'keep', got {unlabelled!r}")
        if flat not in ("skip", "raise", "keep"):
            raise ValueError(f"flat must be 'skip', 'raise' or 'keep', got {flat!r}")
        self.lead_request = resolve_leads(leads)
        if self.lead_request is None and self.dataset_leads is None and self.dataset_lead_count is None:
            raise TypeError(f"{type(self).__name__} declares neither dataset_leads nor dataset_lead_count; "
                            f"pass leads=")
        foreign = [lead for lead in self.lead_request or () if self.dataset_leads and lead not in self.dataset_leads]
        if foreign:
            raise ValueError(f"{self.name}: requested lead(s) {', '.join(foreign)} not among the dataset's leads "
                             f"{', '.join(self.dataset_leads or ())}")
        self.root = dataset_root(self.folder, root)
        if not self.root.is_dir():
            origin = "as root= gave it" if root is not None else f"{data_root_origin()}; set it or pass root="
            raise DataError(f"{self.name}: data folder {self.root} does not exist ({origin})")
        self.task = task
        self.expected_fs = expected_fs
        self.on_error = on_error
        self.unlabelled = unlabelled
        self.flat = flat
        self.skipped = []
        classes, candidates = self._scan()
        self.classes = list(classes)
        self._build(candidates, progress)

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        """The task's classes and one :class:`Candidate` per record found; implemented per dataset."""
        raise NotImplementedError

    def _check(self, cand: Candidate) -> WfdbHeader:
        """The shared per-record checks; returns the parsed header or raises :class:`RecordError`."""
        if cand.problem:
            raise RecordError(cand.record_id, cand.problem)
        if cand.header_path is None:
            raise RecordError(cand.record_id, "no header file found")
        header = read_header(cand.header_path, cand.record_id)
        n_samples = check_data_files(header, cand.record_id)
        if header.n_samples is None:
            header = replace(header, n_samples=n_samples)
        if self.expected_fs is not None and abs(header.fs - self.expected_fs) > 1e-6:
            raise RecordError(cand.record_id, f"sampling rate {header.fs:g} Hz, expected {self.expected_fs:g} Hz")
        mismatch = self._lead_mismatch(canonical_order(header_leads(header, cand.record_id)))
        if mismatch:
            raise RecordError(cand.record_id, mismatch)
        if not cand.labels and cand.unlabelled is None:
            raise RecordError(cand.record_id, "empty label set")
        return header

    def _lead_mismatch(self, names: Sequence[str]) -> str | None:
        """Why a record with leads ``names`` does not fit the configured lead set, or ``None``."""
        has = ", ".join(names)
        if self.lead_request is not None:
            missing = [lead for lead in self.lead_request if lead not in names]
            if missing:
                return (f"lead set mismatch: requested lead(s) {', '.join(missing)} missing (record has {has}; "
                        f"requested {', '.join(self.lead_request)})")
        elif self.dataset_leads is not None:
            if set(names) != set(self.dataset_leads):
                return (f"lead set mismatch: record has {has}; {self.name} records have "
                        f"{', '.join(self.dataset_leads)} (pass leads= to use a subset)")
        elif len(names) != self.dataset_lead_count:
            return (f"lead set mismatch: record has {len(names)} lead(s) ({has}); {self.name} records have "
                    f"{self.dataset_lead_count}")
        return None

    def _build(self, candidates: list[Candidate], progress: bool) -> None:
        ids, headers, label_sets, folds, metas = [], [], [], [], []
        seen: set[str] = set()
        for cand in progress_bar(candidates, f"scanning {self.name}", progress, leave=False):
            if cand.record_id in seen:
                raise DataError(f"{self.name}: record id {cand.record_id} appears twice under {self.root}")
            seen.add(cand.record_id)
            try:
                header = self._check(cand)
            except RecordError as exc:
                handle_problem(self.on_error, exc.record, exc.problem, self.skipped)
                continue
            if not cand.labels:
                if self.unlabelled != "keep":
                    handle_problem("raise" if self.unlabelled == "raise" else "skip",
                                   cand.record_id, cand.unlabelled or "empty label set", self.skipped)
                    continue
            ids.append(cand.record_id)
            headers.append(header)
            label_sets.append(cand.labels)
            folds.append(cand.fold)
            metas.append({"fs": header.fs, "n_samples": header.n_samples,
                          "n_leads": len(self.lead_request) if self.lead_request else header.n_sig, **cand.meta})
        if not ids:
            reasons = "; ".join(f"{s.record}: {s.reason}" for s in self.skipped[:3])
            raise DataError(f"{self.name}: no usable record under {self.root} "
                            f"({len(self.skipped)} skipped{': ' + reasons if reasons else ''})")
        self.record_ids = ids
        self.headers = headers
        self.labels = multi_hot(label_sets, self.classes)
        self.folds = np.asarray(folds, dtype=np.int64)
        self.metadata = pd.DataFrame(metas, index=pd.Index(ids, name="record_id"))

    def _drop(self, keep: np.ndarray) -> None:
        super()._drop(keep)
        self.headers = [h for h, k in zip(self.headers, keep) if k]

    @property
    def leads(self) -> tuple[str, ...] | None:
        """The leads every loaded record has, in load order (the requested ones, else the records' own);
        ``None`` when their names differ between records (MIT-BIH without ``leads``)."""
        if self.lead_request is not None:
            return self.lead_request
        sets = {self.load_leads(i) for i in range(len(self))}
        return sets.pop() if len(sets) == 1 else None

    def load_leads(self, i: int) -> tuple[str, ...]:
        """Canonical lead names of record ``i`` in the order :meth:`load` returns them."""
        if self.lead_request is not None:
            return self.lead_request
        return tuple(canonical_order(header_leads(self.headers[i], self.record_ids[i])))

    def load(self, i: int, start: int | None = None, stop: int | None = None) -> EcgRecord:
        """Record ``i`` as float32 mV ``(leads, T)`` in canonical lead order (or the requested leads).

        Reading the whole record (no ``start``/``stop``) with ``flat`` other than ``"keep"`` raises
        :class:`FlatSignalError` when every lead is flat.
        """
        record = load_wfdb_record(self.headers[i], self.record_ids[i], self.lead_request, start or 0, stop)
        whole = not start and (stop is None or stop >= (self.headers[i].n_samples or 0))
        if whole and self.flat != "keep" and len(flat_leads(record.signal, record.leads)) == len(record.leads):
            raise FlatSignalError(self.record_ids[i], f"flat signal: every lead ({', '.join(record.leads)}) spans "
                                                      f"less than {FLAT_PEAK_TO_PEAK_MV * 1e3:g} µV peak to peak "
                                                      f"(flat='keep' loads it)")
        return record

    def source_files(self, i: int) -> list[Path]:
        """Files record ``i`` is read from (header and data files)."""
        return [self.headers[i].path, *self.headers[i].data_files()]

    def label_files(self) -> list[Path]:
        """Dataset-level files the labels come from (csv tables); overridden per dataset."""
        return []

    def config(self) -> dict[str, Any]:
        """Everything that determines what :meth:`load` and :attr:`labels` return (for cache keys)."""
        return {"dataset": self.name, "root": str(self.root.resolve()), "task": self.task,
                "leads": list(self.lead_request) if self.lead_request else None,
                "expected_fs": self.expected_fs, "classes": list(self.classes),
                "unlabelled": self.unlabelled, "flat": self.flat}

    def summary(self, load: bool = True, progress: bool = False) -> dict[str, Any]:
        """See :meth:`LabelledSource.summary`; adds the data folder."""
        out = super().summary(load=load, progress=progress)
        out["root"] = str(self.root)
        return out
