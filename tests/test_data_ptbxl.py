"""PTB-XL reader on the shared subset, checked against label sets computed here with pandas; task maps, csv
errors and per-row skip reasons on a hand-made dataset."""

from __future__ import annotations

import ast
import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgformer.data import PTBXL, DataError, EmptySplitError, RecordError, Skipped
from ecgformer.data.ptbxl import ptbxl_task_map


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


# Hand-written scp_statements.csv (first column unnamed, as published): XDIAG is diagnostic but has no class and a
# blank subclass; LVOLT is a form statement, SR a rhythm statement, both non-diagnostic.
TINY_STATEMENTS = """\
,description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass
NORM,normal ECG,1.0,,,NORM,NORM
IMI,inferior myocardial infarction,1.0,,,MI,IMI
NDT,non-diagnostic T abnormalities,1.0,1.0,,STTC,STTC
XDIAG,diagnostic statement without a class,1.0,,,," "
LVOLT,low QRS voltages,0.0,1.0,,,
SR,sinus rhythm,,,1.0,,
"""
# Per ecg_id: patient_id, age, sex, scp_codes, strat_fold. 4 cannot be parsed; 5 and 8 hold no statement; 6 names
# two statements missing from TINY_STATEMENTS; 3 has no superdiagnostic class; 9 only a class-less one.
TINY_DATABASE = {
    1: ("15709.0", "56.0", "1", "{'NORM': 100.0, 'SR': 0.0}", "1"),
    2: ("13243.0", "19.0", "0", "{'IMI': 50.0, 'LVOLT': 0.0}", "9"),
    3: ("20372.0", "37.0", "1", "{'LVOLT': 100.0}", "10"),
    4: ("17014.0", "24.0", "0", "{'NORM': ", "2"),
    5: ("17448.0", "19.0", "1", "", "4"),
    6: ("19005.0", "18.0", "1", "{'XYZ': 100.0, 'NORM': 100.0, 'ABC': 0.0}", "5"),
    7: ("16193.0", "54.0", "0", "{'NDT': 100.0, 'IMI': 15.0}", "10"),
    8: ("11275.0", "48.0", "0", "{}", "3"),
    9: ("18792.0", "55.0", "0", "{'XDIAG': 100.0}", "7"),
}
STANDARD_12 = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture
def tiny_ptbxl(tmp_path: Path) -> Path:
    """TINY_DATABASE and TINY_STATEMENTS as the two csv files, and a 12-lead 100 Hz WFDB record per ecg_id."""
    folder = tmp_path / "records100" / "00000"
    folder.mkdir(parents=True)
    with open(tmp_path / "ptbxl_database.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold", "filename_lr", "filename_hr"])
        for ecg_id, row in TINY_DATABASE.items():
            out.writerow([ecg_id, *row, f"records100/00000/{ecg_id:05d}_lr", f"records500/00000/{ecg_id:05d}_hr"])
    (tmp_path / "scp_statements.csv").write_text(TINY_STATEMENTS)
    for ecg_id in TINY_DATABASE:
        name = f"{ecg_id:05d}_lr"
        (folder / f"{name}.dat").write_bytes(np.arange(12 * 20, dtype="<i2").tobytes())
        lines = [f"{name} 12 100 20"] + [f"{name}.dat 16 1000/mV 16 0 0 0 0 {lead}" for lead in STANDARD_12]
        (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.parametrize("task, names, mapping", [
    ("all", ["IMI", "LVOLT", "NDT", "NORM", "SR", "XDIAG"],
     {c: {c} for c in ("NORM", "IMI", "NDT", "XDIAG", "LVOLT", "SR")}),
    ("diag", ["IMI", "NDT", "NORM", "XDIAG"], {c: {c} for c in ("NORM", "IMI", "NDT", "XDIAG")}),
    ("subdiag", ["IMI", "NORM", "STTC"], {"NORM": {"NORM"}, "IMI": {"IMI"}, "NDT": {"STTC"}}),
    ("superdiag", ["NORM", "MI", "STTC"], {"NORM": {"NORM"}, "IMI": {"MI"}, "NDT": {"STTC"}}),
    ("form", ["LVOLT", "NDT"], {"NDT": {"NDT"}, "LVOLT": {"LVOLT"}}),
    ("rhythm", ["SR"], {"SR": {"SR"}}),
])
def test_task_map_of_hand_written_statements(task: str, names: list[str], mapping: dict[str, set[str]]) -> None:
    """Classes and statement map per task, worked out by hand; a diagnostic statement whose class or subclass
    is empty or blank maps to nothing."""
    statements = pd.read_csv(io.StringIO(TINY_STATEMENTS), index_col=0)
    assert ptbxl_task_map(statements, task) == (names, mapping)


def test_task_map_rejects_an_unknown_task() -> None:
    """An unknown task name raises ValueError naming it."""
    statements = pd.read_csv(io.StringIO(TINY_STATEMENTS), index_col=0)
    with pytest.raises(ValueError, match=r"^unknown PTB-XL task 'beats'$"):
        ptbxl_task_map(statements, "beats")


@pytest.mark.parametrize("task", ["diag", "subdiag", "form"])
def test_task_map_rejects_a_flag_that_is_not_a_number(task: str) -> None:
    """A flag cell that is neither empty nor a number is a DataError naming the column, value and statement."""
    statements = pd.read_csv(io.StringIO(TINY_STATEMENTS.replace("LVOLT,low QRS voltages,0.0,1.0",
                                                                 "LVOLT,low QRS voltages,yes,yes")), index_col=0)
    column = "form" if task == "form" else "diagnostic"
    with pytest.raises(DataError, match=rf"^ptbxl: scp_statements.csv column {column} holds 'yes' for statement "
                                        r"LVOLT, not a 0/1 flag$"):
        ptbxl_task_map(statements, task)


def test_scan_keeps_labels_folds_metadata_and_reports_each_bad_row(tiny_ptbxl: Path) -> None:
    """Superdiag labels, strat_fold folds and the csv's metadata of the usable records; every other row is
    reported with its own reason, and rows after a bad one are still read."""
    reader = PTBXL(tiny_ptbxl, task="superdiag", on_error="skip")
    assert reader.record_ids == ["1", "2", "7"]
    assert reader.classes == ["NORM", "MI", "STTC"]
    assert reader.labels.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert reader.folds.tolist() == [1, 9, 10]
    assert reader.skipped == [
        Skipped("3", "no superdiag class among scp_codes ['LVOLT']"),
        Skipped("4", "unreadable scp_codes \"{'NORM': \""),
        Skipped("5", "empty label set (scp_codes is empty)"),
        Skipped("6", "unknown SCP statement 'XYZ' (not in scp_statements.csv)"),
        Skipped("8", "empty label set (scp_codes is empty)"),
        Skipped("9", "no superdiag class among scp_codes ['XDIAG']"),
    ]
    with open(tiny_ptbxl / "ptbxl_database.csv", newline="") as handle:
        rows = {row["ecg_id"]: row for row in csv.DictReader(handle)}
    for record_id, meta in reader.metadata.iterrows():
        row = rows[record_id]
        assert (meta["patient_id"], meta["age"], meta["sex"]) == (float(row["patient_id"]), float(row["age"]),
                                                                  int(row["sex"]))
        assert (meta["strat_fold"], meta["scp_codes"], meta["filename"]) == (int(row["strat_fold"]),
                                                                             row["scp_codes"], row["filename_lr"])


@pytest.mark.parametrize("name, damage, fs, message", [
    ("ptbxl_database.csv", "delete", 100, "ptbxl: missing ptbxl_database.csv in {root}"),
    ("scp_statements.csv", "delete", 100, "ptbxl: missing scp_statements.csv in {root}"),
    ("ptbxl_database.csv", "strat_fold", 100, "ptbxl: {path} has no column strat_fold"),
    ("ptbxl_database.csv", "scp_codes strat_fold", 100, "ptbxl: {path} has no column scp_codes"),
    ("ptbxl_database.csv", "filename_hr", 500, "ptbxl: {path} has no column filename_hr"),
    ("scp_statements.csv", "form rhythm", 100, "ptbxl: {path} has no column form"),
])
def test_missing_table_or_column_raises_data_error_naming_it(tiny_ptbxl: Path, name: str, damage: str, fs: int,
                                                             message: str) -> None:
    """A missing csv, or one without a needed column (the first in the order the reader needs them), raises
    DataError with the exact message."""
    path = tiny_ptbxl / name
    if damage == "delete":
        path.unlink()
    else:
        pd.read_csv(path).drop(columns=damage.split()).to_csv(path, index=False)
    expected = message.format(root=tiny_ptbxl, path=path)
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        PTBXL(tiny_ptbxl, task="all", fs=fs)


@pytest.mark.parametrize("name, content", [
    ("ptbxl_database.csv", b""),
    ("scp_statements.csv", b"\xff\xfe\x00,\xe9\n"),
])
def test_unreadable_table_raises_data_error_naming_it(tiny_ptbxl: Path, name: str, content: bytes) -> None:
    """An empty or non-UTF-8 csv raises DataError naming the file, with pandas' reason in parentheses."""
    path = tiny_ptbxl / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^ptbxl: unreadable {re.escape(str(path))} \\(.+\\)$"):
        PTBXL(tiny_ptbxl, task="all")
