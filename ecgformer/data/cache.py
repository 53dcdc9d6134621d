"""Record cache: preprocessed records of any source in one memory-mapped float32 file plus an index.

Built once per (dataset configuration, preprocessing) and rebuilt when either, or any source file
(size or modification time), changes. Epochs then read slices of the memory map: no WFDB parsing,
no filtering, no resampling.

Layout of a cache folder: ``signals.f32`` (all records back to back, each ``(leads, T)`` C-order),
``index.npz`` (offsets, shapes, rates, labels, folds, lead-set ids) and ``meta.json`` (key,
fingerprint, configuration, record ids, classes, lead sets, skipped records).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..progress import progress as progress_bar
from ..tempfiles import remove_stale_temporaries, temporary_path
from .base import LabelledSource
from .errors import DataError, RecordError, Skipped, logger
from .preprocess import Preprocess
from .wfdb_io import EcgRecord

__all__ = ["RecordCache", "default_cache_dir", "cache_key", "cache_path", "source_fingerprint", "CACHE_VERSION"]

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$ECGFORMER_CACHE``, else ``~/.cache/ecgformer``."""
    return Path(os.environ.get("ECGFORMER_CACHE", Path.home() / ".cache" / "ecgformer")).expanduser()


def _config(source: LabelledSource) -> dict[str, Any]:
    config = getattr(source, "config", None)
    if config is None:
        raise TypeError(f"{type(source).__name__} has no config(); it cannot be cached")
    return config()


def cache_key(source: LabelledSource, preprocess: Preprocess | None) -> str:
    """Hash of everything that decides the cached arrays except the source files themselves."""
    payload = {"version": CACHE_VERSION, "source": _config(source),
               "preprocess": preprocess.to_dict() if preprocess else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(source: LabelledSource, preprocess: Preprocess | None, cache_dir: str | Path | None = None) -> Path:
    """The folder of the cache of ``source`` + ``preprocess`` under ``cache_dir`` (default: the default cache)."""
    return Path(cache_dir or default_cache_dir()) / f"{source.name}-{cache_key(source, preprocess)[:16]}"


def source_fingerprint(source: LabelledSource) -> str:
    """Hash of the record ids and of (path, size, mtime) of every file the source reads."""
    digest = hashlib.sha256()
    files: list[Path] = list(getattr(source, "label_files", lambda: [])())
    file_lists = getattr(source, "source_files", None)
    for i, record_id in enumerate(source.record_ids):
        digest.update(record_id.encode() + b"\0")
        if file_lists is not None:
            files.extend(file_lists(i))
    for path in files:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _install(built: Path, final: Path, meta: dict[str, Any]) -> None:
    """Move the freshly built folder ``built`` to ``final``.

    Another process (a second training run, a DDP worker) may have built the same cache meanwhile: a
    ``final`` whose key and fingerprint match is kept as it is (readers may have it memory-mapped), and
    ``built`` is dropped by the caller. An outdated ``final`` is renamed aside first, then removed.
    """
    try:
        os.replace(built, final)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    try:
        current = json.loads((final / "meta.json").read_text())
    except (OSError, ValueError):
        current = {}
    if all(current.get(k) == meta[k] for k in ("version", "key", "fingerprint")):
        return
    outdated = temporary_path(final)
    os.replace(final, outdated)
    os.replace(built, final)
    shutil.rmtree(outdated, ignore_errors=True)


class RecordCache(LabelledSource):
    """A built cache, opened read-only; it has the reader interface (``load``, ``labels``, splits...)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_file, index_file, data_file = (self.path / n for n in ("meta.json", "index.npz", "signals.f32"))
        if not meta_file.is_file() or not index_file.is_file() or not data_file.is_file():
            raise DataError(f"{self.path} is not a record cache (meta.json, index.npz, signals.f32 expected)")
        self.meta = json.loads(meta_file.read_text())
        if self.meta.get("version") != CACHE_VERSION:
            raise DataError(f"{self.path}: cache version {self.meta.get('version')}, expected {CACHE_VERSION}")
        index = np.load(index_file)
        self.name = f"{self.meta['dataset']}-cache"
        self.task = self.meta["task"]
        self.classes = list(self.meta["classes"])
        self.record_ids = list(self.meta["record_ids"])
        self.skipped = [Skipped(**s) for s in self.meta["skipped"]]
        self.lead_sets = [tuple(s) for s in self.meta["lead_sets"]]
        self.on_error = "raise"
        self.labels = index["labels"]
        self.folds = index["folds"]
        self._offsets, self._leads_n, self._lead_set = index["offsets"], index["n_leads"], index["lead_set"]
        self._n_samples, self._fs = index["n_samples"], index["fs"]
        self.metadata = pd.DataFrame({"fs": index["fs"], "n_samples": index["n_samples"], "n_leads": self._leads_n},
                                     index=pd.Index(self.record_ids, name="record_id"))
        total = int(self._offsets[-1]) if len(self._offsets) else 0
        self.signals = (np.memmap(data_file, dtype=np.float32, mode="r", shape=(total,)) if total
                        else np.zeros(0, dtype=np.float32))
        self._split_names = self.meta.get("split_masks", {})

    @property
    def leads(self) -> tuple[str, ...] | None:
        """Lead names shared by every record (``None`` if they differ)."""
        return self.lead_sets[0] if len(self.lead_sets) == 1 else None

    def _split_mask(self, name: str) -> np.ndarray | None:
        if name in self._split_names:
            return np.asarray(self._split_names[name], dtype=bool)
        return None

    def load(self, i: int, start: int | None = None, stop: int | None = None) -> EcgRecord:
        """Record ``i`` (samples ``[start, stop)``), copied out of the memory map."""
        block = self.signals[int(self._offsets[i]):int(self._offsets[i + 1])]
        block = block.reshape(int(self._leads_n[i]), int(self._n_samples[i]))
        return EcgRecord(self.record_ids[i], np.array(block[:, start:stop]), float(self._fs[i]),
                         self.lead_sets[int(self._lead_set[i])])

    def config(self) -> dict[str, Any]:
        """The configuration the cache was built from."""
        return {"cache_of": self.meta["config"], "preprocess": self.meta["preprocess"]}

    @classmethod
    def build(cls, source: LabelledSource, preprocess: Preprocess | None = None,
              cache_dir: str | Path | None = None, progress: bool = True) -> RecordCache:
        """Read, preprocess and store every record of ``source``; a record that fails to load is
        raised or (``source.on_error == "skip"``) skipped and listed in the cache's ``skipped``."""
        key = cache_key(source, preprocess)
        final = cache_path(source, preprocess, cache_dir)
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final.parent)  # folders of builds that were killed
        tmp = temporary_path(final)
        tmp.mkdir()
        skipped = list(source.skipped)
        offsets, n_leads, n_samples, rates, keep, lead_set_ids = [0], [], [], [], [], []
        lead_sets: list[tuple[str, ...]] = []
        started = time.perf_counter()
        try:
            with open(tmp / "signals.f32", "wb") as handle:
                for i in progress_bar(range(len(source)), f"caching {source.name}", progress):
                    try:
                        record = source.load(i)
                    except RecordError as exc:
                        source.handle_load_error(exc, skipped)
                        continue
                    x, fs, leads = record.signal, record.fs, record.leads
                    if preprocess is not None:
                        x, fs = preprocess(x, fs, leads)
                        leads = preprocess.output_leads(leads)
                    x = np.ascontiguousarray(x, dtype=np.float32)
                    x.tofile(handle)
                    offsets.append(offsets[-1] + x.size)
                    n_leads.append(x.shape[0])
                    n_samples.append(x.shape[1])
                    rates.append(fs)
                    keep.append(i)
                    if leads not in lead_sets:
                        lead_sets.append(leads)
                    lead_set_ids.append(lead_sets.index(leads))
            if not keep:
                raise DataError(f"{source.name}: no record could be cached ({len(skipped)} skipped)")
            rows = np.asarray(keep, dtype=np.int64)
            np.savez(tmp / "index.npz", offsets=np.asarray(offsets, dtype=np.int64),
                     n_leads=np.asarray(n_leads, dtype=np.int64), n_samples=np.asarray(n_samples, dtype=np.int64),
                     fs=np.asarray(rates, dtype=np.float64), labels=source.labels[rows], folds=source.folds[rows],
                     lead_set=np.asarray(lead_set_ids, dtype=np.int64))
            split_masks = {}
            for name in ("DS1", "DS2", "paced", "train", "val", "test"):
                mask = source._split_mask(name)
                if mask is not None:
                    split_masks[name] = np.asarray(mask)[rows].astype(bool).tolist()
            meta = {"version": CACHE_VERSION, "key": key, "fingerprint": source_fingerprint(source),
                    "dataset": source.name, "task": source.task, "config": _config(source),
                    "preprocess": preprocess.to_dict() if preprocess else None, "classes": list(source.classes),
                    "record_ids": [source.record_ids[i] for i in keep], "lead_sets": [list(s) for s in lead_sets],
                    "skipped": [s.to_dict() for s in skipped], "split_masks": split_masks,
                    "build_seconds": time.perf_counter() - started}
            (tmp / "meta.json").write_text(json.dumps(meta, default=str))
            _install(tmp, final, meta)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return cls(final)

    @classmethod
    def open_or_build(cls, source: LabelledSource, preprocess: Preprocess | None = None,
                      cache_dir: str | Path | None = None, progress: bool = True) -> RecordCache:
        """The cache of ``source`` + ``preprocess``: opened if it is current, (re)built otherwise."""
        cache, reason = cls.open_current(source, preprocess, cache_dir)
        if cache is not None:
            return cache
        logger.info("building record cache %s: %s", cache_path(source, preprocess, cache_dir), reason)
        return cls.build(source, preprocess, cache_dir, progress)

    @classmethod
    def open_current(cls, source: LabelledSource, preprocess: Preprocess | None = None,
                     cache_dir: str | Path | None = None) -> tuple[RecordCache | None, str]:
        """The cache of ``source`` + ``preprocess`` if it is built and current (and ``""``), else ``None`` and why
        not (``"not built yet"``, ``"configuration changed"``...); nothing is built."""
        key = cache_key(source, preprocess)
        path = cache_path(source, preprocess, cache_dir)
        if not (path / "meta.json").is_file():
            return None, "not built yet"
        try:
            cache = cls(path)
        except (DataError, ValueError, OSError, KeyError) as exc:
            return None, f"unreadable ({exc})"
        if cache.meta["key"] != key:
            return None, "configuration changed"
        if cache.meta["fingerprint"] != source_fingerprint(source):
            return None, "source files changed"
        return cache, ""
