"""PhysioNet/CinC Challenge 2017: single-lead AliveCor ECGs, 300 Hz, 9-61 s, labels N, A, O, ~."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..metrics import CINC2017_CLASSES
from .base import Candidate, WfdbReader
from .download import DatasetSource, missing_record_files
from .errors import DataError, FlatPolicy, OnError
from .labels import hash_fold
from .registry import register_dataset

__all__ = ["CinC2017", "CINC2017_CLASSES"]

_LABEL_FILES = ("training2017/REFERENCE.csv", "REFERENCE-v3.csv", "training/REFERENCE-v3.csv",
                "REFERENCE.csv", "training/REFERENCE.csv")


@register_dataset
class CinC2017(WfdbReader):
    """The 2017 training set as published (``training2017/`` of ``training2017.zip``, or the
    ``training/`` tree with ``REFERENCE-v3.csv``): ``.hea`` + ``.mat`` (raw samples; gain, baseline
    and rate from the header) and the ``REFERENCE`` csv (``record,label``, no header row).

    A header without a label row, a label row without a header, or a label outside N, A, O, ~ is an
    error naming the record (or skipped with ``on_error="skip"``). Records must be 300 Hz and have
    the one lead ``ECG`` (``leads`` may only name it). ``flat`` handles records without signal (see
    :class:`~ecgformer.data.base.WfdbReader`).
    """

    name = "cinc2017"
    folder = "cinc2017"
    tasks = ("rhythm",)
    default_task = "rhythm"
    dataset_leads = ("ECG",)
    download_source = DatasetSource("challenge-2017", ("training/*", "REFERENCE-v3.csv", "training2017/*"))

    @classmethod
    def check_layout(cls, root: Path) -> list[str]:
        """A ``REFERENCE`` csv and complete records (``.hea`` + ``.mat``) beside it."""
        labels = [name for name in _LABEL_FILES if (root / name).is_file()]
        if not labels:
            return [f"missing a REFERENCE csv ({', '.join(_LABEL_FILES)})"]
        return missing_record_files(root, (root / labels[0]).parent, (".mat",))

    def __init__(self, root: str | Path | None = None, task: str = "rhythm",
                 leads: str | Sequence[str] | None = None, on_error: OnError = "raise",
                 flat: FlatPolicy = "skip", progress: bool = False) -> None:
        super().__init__(root, task=task, leads=leads, expected_fs=300.0, on_error=on_error,
                         unlabelled="raise", flat=flat, progress=progress)

    def challenge_scoring(self) -> dict[str, Any]:
        """The PhysioNet/CinC 2017 score: ``{"scorer": "cinc2017"}`` for :func:`ecgformer.metrics.challenge_metrics`."""
        return {"scorer": "cinc2017"}

    def label_files(self) -> list[Path]:
        """The ``REFERENCE`` csv in use."""
        for name in _LABEL_FILES:
            if (self.root / name).is_file():
                return [self.root / name]
        raise DataError(f"cinc2017: no REFERENCE csv under {self.root} (looked for {', '.join(_LABEL_FILES)})")

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        reference = self.label_files()[0]
        with open(reference, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
        headers = {p.stem: p for p in reference.parent.rglob("*.hea")}
        candidates = []
        labelled = set()
        for row in rows:
            record_id = row[0].strip()
            label = row[1].strip() if len(row) > 1 else ""
            labelled.add(record_id)
            cand = Candidate(record_id, headers.get(record_id), fold=hash_fold(record_id),
                             meta={"label": label})
            if not label:
                cand.problem = f"empty label set (no label in {reference.name})"
            elif label not in CINC2017_CLASSES:
                cand.problem = f"label {label!r} in {reference.name} is not one of {', '.join(CINC2017_CLASSES)}"
            else:
                cand.labels = (label,)
            if cand.header_path is None and not cand.problem:
                cand.problem = f"missing header file {record_id}.hea (listed in {reference.name})"
            candidates.append(cand)
        for record_id in sorted(set(headers) - labelled):
            candidates.append(Candidate(record_id, headers[record_id], fold=hash_fold(record_id),
                                        problem=f"empty label set (no row in {reference.name})"))
        return list(CINC2017_CLASSES), candidates
