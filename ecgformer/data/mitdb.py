"""MIT-BIH Arrhythmia Database: beat annotations in AAMI classes, rhythm episodes, window and beat datasets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import wfdb

from .base import Candidate, LabelledSource, WfdbReader
from .download import DatasetSource, missing_record_files
from .errors import DataError, FlatPolicy, OnError, RecordError, Skipped
from .labels import hash_fold, multi_hot
from .registry import register_dataset
from .wfdb_io import EcgRecord, check_data_files, read_header

__all__ = ["MITBIH", "MITBIHWindows", "MITBIHBeats", "AAMI_CLASSES", "AAMI_MAP", "RHYTHM_CLASSES",
           "DS1", "DS2", "PACED", "Annotations"]

#: ANSI/AAMI EC57 beat classes: non-ectopic, supraventricular ectopic, ventricular ectopic, fusion, unknown.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
#: MIT-BIH beat symbol -> AAMI class. Other symbols (rhythm changes, noise, ``!`` flutter waves,
#: ``x`` non-conducted P waves, ...) are not beats.
AAMI_MAP: dict[str, str] = {
    "N": "N", "L": "N", "R": "N", "e": "N", "j": "N",
    "A": "S", "a": "S", "J": "S", "S": "S",
    "V": "V", "E": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q",
}
#: Rhythm annotations of the database (``aux_note`` of ``+`` annotations).
RHYTHM_CLASSES: tuple[str, ...] = ("(AB", "(AFIB", "(AFL", "(B", "(BII", "(IVR", "(N", "(NOD", "(P",
                                   "(PREX", "(SBR", "(SVTA", "(T", "(VFL", "(VT")
#: Inter-patient split of de Chazal et al. (2004): training (DS1) and test (DS2) records.
DS1: tuple[str, ...] = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
                        "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")
DS2: tuple[str, ...] = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
                        "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")
#: Paced records, excluded from DS1/DS2 by AAMI EC57.
PACED: tuple[str, ...] = ("102", "104", "107", "217")


@dataclass(frozen=True)
class Annotations:
    """Beats (sample, AAMI class, symbol) and rhythm episodes (start, stop, rhythm) of one record."""

    beat_samples: np.ndarray
    beat_classes: np.ndarray
    beat_symbols: np.ndarray
    rhythm_starts: np.ndarray
    rhythm_stops: np.ndarray
    rhythms: tuple[str, ...]


def read_annotations(header_path: Path, n_samples: int, record: str, extension: str = "atr") -> Annotations:
    """Read ``<record>.<extension>`` with ``wfdb.rdann`` and sort it into beats and rhythm episodes.

    Raises :class:`RecordError` when the file is missing or a rhythm annotation is unknown.
    """
    base = header_path.with_suffix("")
    if not base.with_name(f"{base.name}.{extension}").is_file():
        raise RecordError(record, f"missing annotation file {base.name}.{extension}")
    ann = wfdb.rdann(str(base), extension)
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)  # "<U1" also when the file holds no annotation
    is_beat = np.array([s in AAMI_MAP for s in symbols], dtype=bool)
    starts, rhythms = [], []
    for sample, symbol, aux in zip(samples, symbols, ann.aux_note):
        if symbol != "+":
            continue
        rhythm = (aux or "").replace("\x00", "").strip()
        if not rhythm.startswith("("):
            continue  # a '+' without a rhythm note
        if rhythm not in RHYTHM_CLASSES:
            raise RecordError(record, f"unknown rhythm annotation {rhythm!r} at sample {sample}")
        starts.append(int(sample))
        rhythms.append(rhythm)
    stops = starts[1:] + [n_samples] if starts else []
    return Annotations(beat_samples=samples[is_beat],
                       beat_classes=np.array([AAMI_MAP[s] for s in symbols[is_beat]], dtype="<U1"),
                       beat_symbols=symbols[is_beat], rhythm_starts=np.asarray(starts, dtype=np.int64),
                       rhythm_stops=np.asarray(stops, dtype=np.int64), rhythms=tuple(rhythms))


@register_dataset
class MITBIH(WfdbReader):
    """MIT-BIH Arrhythmia records (``.hea``/``.dat``/``.atr``, 360 Hz, two leads, 30 min).

    Record-level labels (``task="record"``): the AAMI beat classes and rhythms that occur in the
    record. For learning use :meth:`windows` (fixed-length windows, multi-label) or :meth:`beats`
    (one window per annotated beat, AAMI class). Named splits: ``"DS1"``, ``"DS2"`` (de Chazal
    2004), ``"paced"``; ``"train"`` = DS1 records outside the validation folds, ``"val"`` = DS1
    records whose id hashes to folds 9-10, ``"test"`` = DS2. The second lead differs between
    records (V1, V2, V4, V5), so without ``leads`` every record must have two leads, whatever their
    names (:attr:`leads` is then ``None``); ``leads=["MLII"]`` gives one uniform lead (records 102 and
    104 lack it and are left out). ``flat`` handles records without signal (see
    :class:`~ecgformer.data.base.WfdbReader`).
    """

    name = "mitdb"
    folder = "mitdb"
    tasks = ("beats", "windows", "record")
    default_task = "beats"
    dataset_lead_count = 2
    download_source = DatasetSource("mitdb", ("*.hea", "*.dat", "*.atr", "RECORDS"))

    def __init__(self, root: str | Path | None = None, task: str = "record",
                 leads: str | Sequence[str] | None = None, on_error: OnError = "raise",
                 flat: FlatPolicy = "skip", progress: bool = False) -> None:
        if task != "record":
            raise ValueError(f"mitdb: MITBIH(...) reads whole records (task 'record'); {task!r} is a view of them: "
                             f"open_dataset('mitdb', task={task!r}) or MITBIH(root).{task}()")
        self._annotations: dict[str, Annotations] = {}
        super().__init__(root, task=task, leads=leads, expected_fs=360.0, on_error=on_error,
                         unlabelled="raise", flat=flat, progress=progress)
        self.annotations = [self._annotations[r] for r in self.record_ids]

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        listing = self.root / "RECORDS"
        if listing.is_file():
            names = [line.strip() for line in listing.read_text().split() if line.strip()]
        else:
            names = sorted(p.stem for p in self.root.glob("*.hea"))
        candidates = []
        for record_id in names:
            header_path = self.root / f"{record_id}.hea"
            cand = Candidate(record_id, header_path, fold=hash_fold(record_id),
                             meta={"split": "DS1" if record_id in DS1 else "DS2" if record_id in DS2
                                   else "paced" if record_id in PACED else ""})
            try:
                # the header's sample count, or (valid WFDB: a header may leave it out) the data file's
                n_samples = check_data_files(read_header(header_path))
                ann = read_annotations(header_path, n_samples, record_id)
            except RecordError as exc:
                cand.problem = exc.problem
                candidates.append(cand)
                continue
            self._annotations[record_id] = ann
            cand.labels = tuple(sorted(set(ann.beat_classes.tolist()) | set(ann.rhythms)))
            cand.meta.update({f"beats_{c}": int((ann.beat_classes == c).sum()) for c in AAMI_CLASSES})
            candidates.append(cand)
        return list(AAMI_CLASSES + RHYTHM_CLASSES), candidates

    def label_files(self) -> list[Path]:
        """The ``.atr`` files."""
        return [self.root / f"{r}.atr" for r in getattr(self, "record_ids", [])]

    def source_files(self, i: int) -> list[Path]:
        """Header, data and annotation files of record ``i``."""
        return [*super().source_files(i), self.root / f"{self.record_ids[i]}.atr"]

    def _drop(self, keep: np.ndarray) -> None:
        super()._drop(keep)
        self.annotations = [a for a, k in zip(self.annotations, keep) if k]

    def _split_mask(self, name: str) -> np.ndarray | None:
        ids = np.asarray(self.record_ids)
        in_ds1 = np.isin(ids, DS1)
        masks = {"DS1": in_ds1, "DS2": np.isin(ids, DS2), "paced": np.isin(ids, PACED),
                 "train": in_ds1 & ~np.isin(self.folds, (9, 10)),
                 "val": in_ds1 & np.isin(self.folds, (9, 10)), "test": np.isin(ids, DS2)}
        return masks.get(name)

    @classmethod
    def open(cls, root: str | Path | None, task: str, **kwargs: Any) -> LabelledSource:
        """Task ``record`` is the reader; ``beats`` (AAMI beat windows, ``before_s``/``after_s``) and ``windows``
        (multi-label windows, ``length_s``/``stride_s``) are views of it; other ``kwargs`` go to the reader."""
        view = {k: kwargs.pop(k) for k in ("length_s", "stride_s", "before_s", "after_s") if k in kwargs}
        reader = cls(root, **kwargs)
        if task == "beats":
            return reader.beats(**{k: v for k, v in view.items() if k in ("before_s", "after_s")})
        if task == "windows":
            return reader.windows(**{k: v for k, v in view.items() if k in ("length_s", "stride_s")})
        return reader

    @classmethod
    def check_layout(cls, root: Path) -> list[str]:
        """Every record of ``RECORDS`` (else every ``.hea``) with its ``.dat`` and ``.atr``."""
        return missing_record_files(root, root, (".dat", ".atr"), root / "RECORDS")

    def windows(self, length_s: float = 10.0, stride_s: float | None = None,
                source: LabelledSource | None = None) -> MITBIHWindows:
        """Fixed-length windows labelled with the AAMI classes and rhythms they contain."""
        return MITBIHWindows(self, length_s, stride_s, source)

    def beats(self, before_s: float = 0.25, after_s: float = 0.45,
              source: LabelledSource | None = None) -> MITBIHBeats:
        """One window per annotated beat (``before_s`` before to ``after_s`` after the R peak)."""
        return MITBIHBeats(self, before_s, after_s, source)


class _Derived(LabelledSource):
    """A dataset of pieces of the records of a :class:`MITBIH` reader (or of its cache)."""

    def __init__(self, parent: MITBIH, source: LabelledSource | None, task: str, classes: Sequence[str],
                 parents: list[int], starts: list[int], stops: list[int], label_sets: list[tuple[str, ...]],
                 extra: dict[str, list[Any]], params: dict[str, float | None]) -> None:
        self.parent = parent
        self.params = params
        self.source = source if source is not None else parent
        if list(self.source.record_ids) != list(parent.record_ids):
            raise DataError("mitdb: the signal source must hold the same records as the reader")
        self.name = f"mitdb-{task}"
        self.task = task
        self.on_error, self.flat = parent.on_error, parent.flat
        self.classes = list(classes)
        self.skipped = list[Skipped]()
        self._parents = np.asarray(parents, dtype=np.int64)
        self._starts = np.asarray(starts, dtype=np.int64)  # in seconds * parent rate (annotation samples)
        self._stops = np.asarray(stops, dtype=np.int64)
        record_names = [parent.record_ids[p] for p in parents]
        self.record_ids = [f"{r}:{s}" for r, s in zip(record_names, starts)]
        self.labels = multi_hot(label_sets, self.classes)
        self.folds = parent.folds[self._parents] if len(parents) else np.zeros(0, dtype=np.int64)
        scale = self._scale()
        self.metadata = pd.DataFrame({"record": record_names, "start": starts, "stop": stops,
                                      "fs": [self.source.metadata["fs"].iloc[p] for p in parents],
                                      "n_samples": [int(round((b - a) * scale)) for a, b in zip(starts, stops)],
                                      **extra}, index=pd.Index(self.record_ids, name="record_id"))

    def _scale(self) -> float:
        return float(self.source.metadata["fs"].iloc[0]) / 360.0 if len(self.source) else 1.0

    def _split_mask(self, name: str) -> np.ndarray | None:
        mask = self.parent._split_mask(name)
        return None if mask is None else mask[self._parents]

    def config(self) -> dict[str, Any]:
        """The parent reader's configuration plus the piece definition (for cache keys)."""
        return {**self.parent.config(), "pieces": self.task, **self.params}

    def source_files(self, i: int) -> list[Path]:
        """Files of the record piece ``i`` comes from."""
        return self.parent.source_files(int(self._parents[i]))

    def label_files(self) -> list[Path]:
        """The annotation files."""
        return self.parent.label_files()

    def _drop(self, keep: np.ndarray) -> None:
        super()._drop(keep)
        self._parents, self._starts, self._stops = self._parents[keep], self._starts[keep], self._stops[keep]

    def validate(self, progress: bool = False) -> list[Skipped]:
        """Load each underlying record once (not each piece); pieces of a record that fails are
        dropped (``on_error="skip"``) or the error is raised."""
        failed: list[Skipped] = []
        keep = np.ones(len(self), dtype=bool)
        for p in np.unique(self._parents):
            try:
                self.source.load(int(p))
            except RecordError as exc:
                self.handle_load_error(exc, failed)
                keep &= self._parents != p
        if failed:
            self._drop(keep)
            self.skipped.extend(failed)
        return failed

    def load(self, i: int, start: int | None = None, stop: int | None = None) -> EcgRecord:
        """Window ``i`` (zero-padded where it runs past the record's ends)."""
        parent = int(self._parents[i])
        scale = self._scale()
        a = int(round(self._starts[i] * scale))
        b = a + int(round((self._stops[i] - self._starts[i]) * scale))
        total = int(self.source.metadata["n_samples"].iloc[parent])
        inner = self.source.load(parent, max(a, 0), min(b, total))
        signal = np.pad(inner.signal, ((0, 0), (max(-a, 0), max(b - total, 0))))
        out = EcgRecord(self.record_ids[i], signal, inner.fs, inner.leads)
        if start is not None or stop is not None:
            out.signal = out.signal[:, start or 0: stop]
        return out


class MITBIHWindows(_Derived):
    """Windows of ``length_s`` seconds every ``stride_s`` (default: no overlap); each is labelled
    with the AAMI classes of the beats inside it and the rhythms that overlap it."""

    def __init__(self, parent: MITBIH, length_s: float = 10.0, stride_s: float | None = None,
                 source: LabelledSource | None = None) -> None:
        length = int(round(length_s * 360))
        stride = int(round((stride_s or length_s) * 360))
        if length <= 0 or stride <= 0:
            raise ValueError("window length and stride must be positive")
        parents, starts, stops, label_sets = [], [], [], []
        empty = 0
        for p, ann in enumerate(parent.annotations):
            total = int(parent.metadata["n_samples"].iloc[p])
            for a in range(0, total - length + 1, stride):
                b = a + length
                inside = (ann.beat_samples >= a) & (ann.beat_samples < b)
                overlap = (ann.rhythm_starts < b) & (ann.rhythm_stops > a)
                labels = set(ann.beat_classes[inside].tolist()) | {r for r, o in zip(ann.rhythms, overlap) if o}
                if not labels:
                    empty += 1
                    continue
                parents.append(p)
                starts.append(a)
                stops.append(b)
                label_sets.append(tuple(sorted(labels)))
        super().__init__(parent, source, "windows", AAMI_CLASSES + RHYTHM_CLASSES, parents, starts, stops,
                         label_sets, {}, {"length_s": length_s, "stride_s": stride_s})
        if empty:
            self.skipped.append(Skipped("*", f"{empty} windows without any beat or rhythm annotation"))


class MITBIHBeats(_Derived):
    """One window per annotated beat, ``before_s`` + ``after_s`` seconds around its R peak, labelled
    with its AAMI class; beats near the record ends are zero-padded, so every beat is kept."""

    def __init__(self, parent: MITBIH, before_s: float = 0.25, after_s: float = 0.45,
                 source: LabelledSource | None = None) -> None:
        before, after = int(round(before_s * 360)), int(round(after_s * 360))
        if before < 0 or after <= 0:
            raise ValueError("before_s must be >= 0 and after_s > 0")
        parents, starts, stops, label_sets, symbols, peaks = [], [], [], [], [], []
        for p, ann in enumerate(parent.annotations):
            for sample, cls, symbol in zip(ann.beat_samples, ann.beat_classes, ann.beat_symbols):
                parents.append(p)
                starts.append(int(sample) - before)
                stops.append(int(sample) + after)
                label_sets.append((str(cls),))
                symbols.append(str(symbol))
                peaks.append(int(sample))
        super().__init__(parent, source, "beats", AAMI_CLASSES, parents, starts, stops, label_sets,
                         {"symbol": symbols, "peak": peaks}, {"before_s": before_s, "after_s": after_s})
