"""PTB-XL reader on the shared subset, checked against label sets computed here with pandas."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgformer.data import PTBXL, EmptySplitError, RecordError


@pytest.fixture(scope="module")
def root(dataset_dir: Callable[[str, str], Path]) -> Path:
    return dataset_dir("ptbxl", "ptbxl_database.csv")


@pytest.fixture(scope="module")
def tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    database = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    statements = pd.read_csv(root / "scp_statements.csv", index_col=0)
    return database, statements


def expected_label_sets(database: pd.DataFrame, statements: pd.DataFrame, task: str) -> dict[str, set[str]]:
    """Label sets written from the task definitions of Strodthoff et al. (2020), independently of the library."""
    diagnostic = statements[statements["diagnostic"] == 1]
    out = {}
    for ecg_id, text in database["scp_codes"].items():
        codes = list(ast.literal_eval(text))
        if task == "all":
            labels = set(codes)
        elif task == "diag":
            labels = {c for c in codes if c in diagnostic.index}
        elif task == "subdiag":
            labels = {diagnostic.at[c, "diagnostic_subclass"] for c in codes if c in diagnostic.index}
        elif task == "superdiag":
            labels = {diagnostic.at[c, "diagnostic_class"] for c in codes if c in diagnostic.index}
        else:
            labels = {c for c in codes if statements.at[c, task] == 1}
        out[str(ecg_id)] = {x for x in labels if isinstance(x, str)}
    return out


@pytest.mark.parametrize("task", ["all", "diag", "subdiag", "superdiag", "form", "rhythm"])
def test_labels_match_independent_pandas_computation(root: Path, tables: tuple[pd.DataFrame, pd.DataFrame],
                                                     task: str) -> None:
    database, statements = tables
    expected = expected_label_sets(database, statements, task)
    reader = PTBXL(root, task=task)
    labelled = {r for r, labels in expected.items() if labels}
    assert set(reader.record_ids) == labelled
    assert {s.record for s in reader.skipped} == set(expected) - labelled  # reported, never silent
    counts = Counter(c for r in labelled for c in expected[r])
    assert reader.label_counts() == {c: counts.get(c, 0) for c in reader.classes}
    for i, record_id in enumerate(reader.record_ids):
        assert {c for c, v in zip(reader.classes, reader.labels[i]) if v} == expected[record_id]
    sizes = {"all": 71, "diag": 44, "subdiag": 23, "superdiag": 5, "form": 19, "rhythm": 12}
    assert len(reader.classes) == sizes[task]
    if task == "superdiag":
        assert reader.classes == ["NORM", "MI", "STTC", "CD", "HYP"]


def test_folds_and_splits_follow_strat_fold(root: Path, tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    database, _ = tables
    reader = PTBXL(root, task="all")
    folds = database["strat_fold"].astype(int)
    assert reader.folds.tolist() == [int(folds[int(r)]) for r in reader.record_ids]
    ids = np.asarray(reader.record_ids)
    assert set(ids[reader.split("train")]) == {str(i) for i in database.index[folds <= 8]}
    assert set(ids[reader.split("val")]) == {str(i) for i in database.index[folds == 9]}
    assert set(ids[reader.split("test")]) == {str(i) for i in database.index[folds == 10]}
    assert set(ids[reader.split([3, 4])]) == {str(i) for i in database.index[folds.isin([3, 4])]}
    with pytest.raises(EmptySplitError):
        reader.split([11])


def test_every_record_loads_at_100hz(root: Path) -> None:
    reader = PTBXL(root, task="all")
    assert len(reader) == 1999
    assert reader.validate() == []
    record = reader.load(0)
    assert record.signal.shape == (12, 1000) and record.signal.dtype == np.float32 and record.fs == 100
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    assert np.isfinite(record.signal).all() and 0.05 < np.abs(record.signal).max() < 20  # millivolts


def test_500hz_files_missing_on_disk_are_reported(root: Path) -> None:
    with pytest.raises(RecordError, match="missing header file"):
        PTBXL(root, task="all", fs=500)
    reader = PTBXL(root, task="all", fs=500, on_error="skip")
    present = sorted(int(p.name[:5]) for p in (root / "records500").rglob("*_hr.hea"))
    assert sorted(int(r) for r in reader.record_ids) == present
    assert len(reader.skipped) == 1999 - len(present)
    assert all("missing header file" in s.reason for s in reader.skipped)
    assert reader.load(0).signal.shape == (12, 5000)
