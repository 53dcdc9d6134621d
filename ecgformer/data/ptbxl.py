"""PTB-XL (Wagner et al. 2020) with the label tasks of the PTB-XL benchmark (Strodthoff et al. 2020)."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .base import Candidate, Unlabelled, WfdbReader
from .download import DatasetSource, missing_files
from .errors import DataError, FlatPolicy, OnError
from .leads import STANDARD_LEADS
from .registry import register_dataset

__all__ = ["PTBXL", "SUPERDIAG_CLASSES", "ptbxl_task_map"]

#: Order of the five diagnostic superclasses used throughout the PTB-XL literature.
SUPERDIAG_CLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
#: Columns of ``scp_statements.csv`` the tasks use (the first, unnamed column holds the statement codes).
_STATEMENT_COLUMNS = ("diagnostic", "diagnostic_class", "diagnostic_subclass", "form", "rhythm")


def ptbxl_task_map(statements: pd.DataFrame, task: str) -> tuple[list[str], dict[str, set[str]]]:
    """Classes of ``task`` and the map SCP statement -> classes, from ``scp_statements.csv``.

    As in the benchmark: ``all`` = every statement; ``diag`` = statements with ``diagnostic == 1``;
    ``subdiag``/``superdiag`` = their ``diagnostic_subclass``/``diagnostic_class``; ``form`` and
    ``rhythm`` = statements flagged in those columns.
    """
    def flagged(column: str) -> pd.DataFrame:
        flags = pd.to_numeric(statements[column], errors="coerce")  # empty cells are NaN: not flagged
        stray = statements[column][flags.isna() & statements[column].notna()]
        if len(stray):
            raise DataError(f"ptbxl: scp_statements.csv column {column} holds {stray.iloc[0]!r} for statement "
                            f"{stray.index[0]}, not a 0/1 flag")
        return statements[flags == 1.0]

    mapping: dict[str, set[str]] = {}
    if task == "all":
        mapping = {code: {code} for code in statements.index}
    elif task in ("diag", "form", "rhythm"):
        column = {"diag": "diagnostic", "form": "form", "rhythm": "rhythm"}[task]
        mapping = {code: {code} for code in flagged(column).index}
    elif task in ("subdiag", "superdiag"):
        column = "diagnostic_subclass" if task == "subdiag" else "diagnostic_class"
        for code, value in flagged("diagnostic")[column].items():
            if isinstance(value, str) and value.strip():
                mapping[code] = {value.strip()}
    else:
        raise ValueError(f"unknown PTB-XL task {task!r}")
    names = sorted({c for classes in mapping.values() for c in classes})
    if task == "superdiag":
        names = [c for c in SUPERDIAG_CLASSES if c in names] + [c for c in names if c not in SUPERDIAG_CLASSES]
    return names, mapping


@register_dataset
class PTBXL(WfdbReader):
    """PTB-XL as published: ``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``, ``records500/``.

    ``task`` is one of ``all, diag, subdiag, superdiag, form, rhythm``; every statement listed in
    ``scp_codes`` counts whatever its likelihood, as in the benchmark. ``fs`` (100 or 500) picks
    ``filename_lr`` or ``filename_hr``. Folds are ``strat_fold``: :meth:`split` ``"train"`` = 1-8,
    ``"val"`` = 9, ``"test"`` = 10. Records whose statements give no class for the task are left out
    and reported by default (``unlabelled="skip"``), as the benchmark drops them; an empty
    ``scp_codes``, an unknown statement or a missing file is an error (or skipped with
    ``on_error="skip"``). Every record must have the 12 standard leads (``leads`` selects some).
    ``flat`` handles records without signal (see :class:`~ecgformer.data.base.WfdbReader`).
    """

    name = "ptbxl"
    folder = "ptbxl"
    tasks = ("all", "diag", "subdiag", "superdiag", "form", "rhythm")
    default_task = "superdiag"
    dataset_leads = STANDARD_LEADS
    file_rates = (100, 500)
    download_source = DatasetSource("ptb-xl", ("ptbxl_database.csv", "scp_statements.csv", "records100/*",
                                               "LICENSE.txt"))

    @classmethod
    def check_layout(cls, root: Path) -> list[str]:
        """The two csv files and ``records100/`` or ``records500/``."""
        problems = missing_files(root, "ptbxl_database.csv", "scp_statements.csv")
        if not (root / "records100").is_dir() and not (root / "records500").is_dir():
            problems.append("missing records100/ and records500/")
        return problems

    def __init__(self, root: str | Path | None = None, task: str = "superdiag", fs: int = 100,
                 leads: str | Sequence[str] | None = None, on_error: OnError = "raise",
                 unlabelled: Unlabelled = "skip", flat: FlatPolicy = "skip", progress: bool = False) -> None:
        if fs not in (100, 500):
            raise ValueError(f"PTB-XL comes at 100 or 500 Hz, not {fs}")
        self.rate = fs
        super().__init__(root, task=task, leads=leads, expected_fs=float(fs), on_error=on_error,
                         unlabelled=unlabelled, flat=flat, progress=progress)

    def label_files(self) -> list[Path]:
        """``ptbxl_database.csv`` and ``scp_statements.csv``."""
        return [self.root / "ptbxl_database.csv", self.root / "scp_statements.csv"]

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        database_csv, statements_csv = self.label_files()
        column = "filename_lr" if self.rate == 100 else "filename_hr"
        tables = []
        for path, columns in ((database_csv, ("ecg_id", "scp_codes", "strat_fold", column)),
                              (statements_csv, _STATEMENT_COLUMNS)):
            if not path.is_file():
                raise DataError(f"ptbxl: missing {path.name} in {self.root}")
            try:
                table = pd.read_csv(path)
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(f"ptbxl: unreadable {path} ({exc})") from None
            absent = [c for c in columns if c not in table.columns]
            if absent:
                raise DataError(f"ptbxl: {path} has no column {absent[0]}")
            tables.append(table)
        database = tables[0].set_index("ecg_id")
        statements = tables[1].set_index(tables[1].columns[0])
        classes, mapping = ptbxl_task_map(statements, self.task)
        candidates = []
        for ecg_id, row in database.iterrows():
            record_id = str(ecg_id)
            meta = {"patient_id": row.get("patient_id"), "age": row.get("age"), "sex": row.get("sex"),
                    "strat_fold": int(row["strat_fold"]), "scp_codes": row["scp_codes"],
                    "filename": row[column]}
            cand = Candidate(record_id, self.root / f"{row[column]}.hea", fold=int(row["strat_fold"]), meta=meta)
            try:
                codes = ast.literal_eval(row["scp_codes"]) if isinstance(row["scp_codes"], str) else {}
            except (ValueError, SyntaxError):
                cand.problem = f"unreadable scp_codes {row['scp_codes']!r}"
                candidates.append(cand)
                continue
            unknown = [code for code in codes if code not in statements.index]
            if not codes:
                cand.problem = "empty label set (scp_codes is empty)"
            elif unknown:
                cand.problem = f"unknown SCP statement {unknown[0]!r} (not in scp_statements.csv)"
            cand.assign((c for code in codes for c in mapping.get(code, ())),
                        f"no {self.task} class among scp_codes {sorted(codes)}")
            candidates.append(cand)
        return classes, candidates

    def config(self) -> dict[str, object]:
        """See :meth:`WfdbReader.config`; adds the rate."""
        return {**super().config(), "rate": self.rate}
