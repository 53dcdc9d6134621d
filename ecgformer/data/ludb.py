"""Lobachevsky University ECG Database (LUDB): 200 12-lead 10 s records at 500 Hz with diagnoses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .base import Candidate, Unlabelled, WfdbReader
from .download import DatasetSource, missing_files, missing_record_files
from .errors import DataError, FlatPolicy, OnError, RecordError
from .labels import hash_fold
from .leads import STANDARD_LEADS
from .registry import register_dataset
from .wfdb_io import read_header

__all__ = ["LUDB", "LUDB_TASK_COLUMNS", "ludb_statements"]

#: Task name -> column of ``ludb.csv``; ``all`` uses every column.
LUDB_TASK_COLUMNS: dict[str, str] = {
    "rhythm": "Rhythms",
    "axis": "Electric axis of the heart",
    "conduction": "Conduction abnormalities",
    "extrasystoles": "Extrasystolies",
    "hypertrophies": "Hypertrophies",
    "pacing": "Cardiac pacing",
    "ischemia": "Ischemia",
    "repolarization": "Non-specific repolarization abnormalities",
    "other": "Other states",
}


def ludb_statements(cell: object) -> list[str]:
    """The diagnostic statements of one ``ludb.csv`` cell (one per line, trailing dots removed)."""
    if not isinstance(cell, str):
        return []
    return [_clean(line) for line in cell.splitlines() if _clean(line)]


def _clean(text: str) -> str:
    """One spelling per statement: stripped, no trailing dot, capitalised as in ``ludb.csv``."""
    return text.strip().rstrip(".").strip().capitalize()


def _header_statements(comments: Sequence[str]) -> tuple[list[str], list[str]]:
    """Statements after ``<diagnoses>:`` in a LUDB header: (all, rhythm); ``Rhythm: X.`` gives ``X``."""
    statements, rhythm, started = [], [], False
    for line in comments:
        if line.lower().startswith("<diagnoses>"):
            started = True
            continue
        if not started or not line.strip():
            continue
        text = _clean(line)
        if text.lower().startswith("rhythm:"):
            text = _clean(text.split(":", 1)[1])
            rhythm.append(text)
        statements.append(text)
    return statements, rhythm


@register_dataset
class LUDB(WfdbReader):
    """LUDB as published: ``data/<n>.hea``/``.dat`` (+ wave annotations ``.i`` ... ``.v6``), ``ludb.csv``.

    Labels are the diagnostic statements of ``ludb.csv`` (one class per distinct statement):
    ``task="all"`` uses every column, the other tasks one column each (see
    :data:`LUDB_TASK_COLUMNS`). Without ``ludb.csv`` the statements come from the header comments
    (tasks ``all`` and ``rhythm`` only). Records must be 500 Hz with the 12 standard leads (or the
    requested ones). ``flat`` handles records without signal (see :class:`~ecgformer.data.base.WfdbReader`).
    """

    name = "ludb"
    folder = "ludb"
    tasks = ("all", *LUDB_TASK_COLUMNS)
    default_task = "rhythm"
    dataset_leads = STANDARD_LEADS
    download_source = DatasetSource("ludb", ("data/*", "ludb.csv", "RECORDS", "LICENSE.txt"))

    @classmethod
    def check_layout(cls, root: Path) -> list[str]:
        """``ludb.csv`` and the ``data/`` records listed in ``RECORDS`` (``.hea`` + ``.dat``)."""
        problems = missing_files(root, "ludb.csv", "data")
        return problems + missing_record_files(root, root / "data", (".dat",), root / "RECORDS")

    def __init__(self, root: str | Path | None = None, task: str = "rhythm",
                 leads: str | Sequence[str] | None = None, on_error: OnError = "raise",
                 unlabelled: Unlabelled = "keep", flat: FlatPolicy = "skip", progress: bool = False) -> None:
        super().__init__(root, task=task, leads=leads, expected_fs=500.0, on_error=on_error,
                         unlabelled=unlabelled, flat=flat, progress=progress)

    def label_files(self) -> list[Path]:
        """``ludb.csv`` when present."""
        path = self.root / "ludb.csv"
        return [path] if path.is_file() else []

    def _record_paths(self) -> dict[str, Path]:
        listing = self.root / "RECORDS"
        if listing.is_file():
            names = [line.strip() for line in listing.read_text().split() if line.strip()]
            return {Path(n).name: self.root / f"{n}.hea" for n in names}
        data = self.root / "data" if (self.root / "data").is_dir() else self.root
        return {p.stem: p for p in sorted(data.glob("*.hea"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)}

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        paths = self._record_paths()
        table = None
        if self.label_files():
            table = pd.read_csv(self.label_files()[0], dtype=str).set_index("ID")
            table.index = table.index.str.strip()
        elif self.task not in ("all", "rhythm"):
            raise DataError(f"ludb: task {self.task!r} needs ludb.csv in {self.root} (without it the header "
                            f"comments give only the tasks all and rhythm)")
        columns = list(LUDB_TASK_COLUMNS.values()) if self.task == "all" else [LUDB_TASK_COLUMNS[self.task]]
        candidates, all_labels = [], set()
        for record_id, path in paths.items():
            cand = Candidate(record_id, path, fold=hash_fold(record_id))
            if table is not None:
                if record_id not in table.index:
                    cand.problem = "empty label set (no row in ludb.csv)"
                    candidates.append(cand)
                    continue
                row = table.loc[record_id]
                labels = {s for column in columns for s in ludb_statements(row.get(column))}
                cand.meta = {"sex": str(row.get("Sex", "")).strip(), "age": str(row.get("Age", "")).strip()}
            else:
                try:
                    statements, rhythm = _header_statements(read_header(path, record_id).comments)
                except RecordError as exc:
                    cand.problem = exc.problem
                    candidates.append(cand)
                    continue
                labels = set(statements if self.task == "all" else rhythm)
            cand.assign(labels, f"no {self.task} statement")
            all_labels |= labels
            candidates.append(cand)
        if table is not None:  # classes from the whole table, so they do not depend on which files exist
            all_labels = {s for column in columns for cell in table[column] for s in ludb_statements(cell)}
        return sorted(all_labels), candidates
