"""LUDB reader: 200 records of 12 leads x 5000 samples; diagnoses from ludb.csv and header comments."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from record_folds import sha256_fold

from ecgformer.data import LUDB, STANDARD_LEADS, DataError, RecordError, Skipped
from ecgformer.data.ludb import ludb_statements


@pytest.fixture(scope="module")
def root(dataset_dir: Callable[[str, str], Path]) -> Path:
    return dataset_dir("ludb", "ludb.csv")


def test_200_records_of_12_leads_and_5000_samples(root: Path) -> None:
    reader = LUDB(root, task="all")
    assert len(reader) == 200
    for i in range(len(reader)):
        record = reader.load(i)
        assert record.signal.shape == (12, 5000) and record.fs == 500 and record.leads == STANDARD_LEADS
        assert np.isfinite(record.signal).all()


@pytest.mark.parametrize(("task", "column"), [("rhythm", "Rhythms"), ("hypertrophies", "Hypertrophies"),
                                               ("ischemia", "Ischemia")])
def test_label_counts_equal_the_csv(root: Path, task: str, column: str) -> None:
    table = pd.read_csv(root / "ludb.csv", dtype=str)
    expected = Counter()
    for cell in table[column].dropna():
        expected.update({line.strip().rstrip(".").capitalize() for line in cell.split("\n") if line.strip()})
    reader = LUDB(root, task=task)
    assert reader.label_counts() == {c: expected[c] for c in reader.classes}
    assert set(reader.classes) == set(expected)


def test_header_comments_agree_with_the_csv(root: Path, tmp_path: Path) -> None:
    os.symlink(root / "data", tmp_path / "data")  # the records without ludb.csv
    from_headers = LUDB(tmp_path, task="all")
    from_csv = LUDB(root, task="all")
    assert from_headers.record_ids == from_csv.record_ids
    for i in range(len(from_csv)):
        a = {c for c, v in zip(from_headers.classes, from_headers.labels[i]) if v}
        b = {c for c, v in zip(from_csv.classes, from_csv.labels[i]) if v}
        assert a <= b and len(b - a) <= 1  # the headers omit at most "Pacemaker presence, undefined"
    assert from_headers.label_counts()["Sinus rhythm"] == from_csv.label_counts()["Sinus rhythm"]


def _ludb_folder(tmp_path: Path, root: Path, records: dict[str, str | None], csv_text: str | None = None) -> Path:
    """A LUDB folder in ``tmp_path``: ``RECORDS`` lists ``records`` in order; each maps to the comment lines of its
    header (the real record 1's signal lines and ``1.dat``), or to ``None`` for a listed record without files."""
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(root / "data" / "1.dat", data / "1.dat")
    signal_lines = [line for line in (root / "data" / "1.hea").read_text().splitlines() if not line.startswith("#")]
    for record, comments in records.items():
        if comments is not None:
            (data / f"{record}.hea").write_text("\n".join([*signal_lines, comments]) + "\n")
    (tmp_path / "RECORDS").write_text("".join(f"data/{record}\n" for record in records))
    if csv_text is not None:
        (tmp_path / "ludb.csv").write_text(csv_text)
    return tmp_path


def _label_sets(reader: LUDB) -> list[set[str]]:
    return [{c for c, v in zip(reader.classes, row) if v} for row in reader.labels]


@pytest.mark.parametrize(("cell", "expected"), [
    ("Left ventricular hypertrophy.\n  sinus RHYTHM .. \n\n", ["Left ventricular hypertrophy", "Sinus rhythm"]),
    ("WIDE QRS COMPLEX.", ["Wide qrs complex"]),  # only dots are stripped, not a final X
    (float("nan"), []),
])
def test_ludb_statements_one_per_line_without_trailing_dots(cell: object, expected: list[str]) -> None:
    """A ``ludb.csv`` cell gives one capitalised statement per non-empty line, trailing dots and blanks removed."""
    assert ludb_statements(cell) == expected


def test_rhythm_task_from_the_header_comments(root: Path, tmp_path: Path) -> None:
    """Without ``ludb.csv``, task rhythm labels each record by its ``#Rhythm: X.`` line only (counts from
    ``grep -h '^#Rhythm' data/*.hea | sort | uniq -c``)."""
    os.symlink(root / "data", tmp_path / "data")
    reader = LUDB(tmp_path, task="rhythm")
    assert reader.label_counts() == {"Atrial fibrillation": 15, "Atrial flutter, typical": 3,
                                     "Irregular sinus rhythm": 2, "Sinus arrhythmia": 8, "Sinus bradycardia": 25,
                                     "Sinus rhythm": 143, "Sinus tachycardia": 4}
    assert (reader.labels.sum(axis=1) == 1).all()


@pytest.mark.parametrize(("task", "classes"), [
    ("rhythm", ["Atrial flutter: 2:1 conduction"]),
    ("all", ["Atrial flutter: 2:1 conduction", "Left ventricular hypertrophy"]),
])
def test_header_rhythm_is_the_text_after_the_first_colon(root: Path, tmp_path: Path, task: str,
                                                         classes: list[str]) -> None:
    """``#Rhythm:X: y.`` (no blank after the colon, more colons after it) gives the statement ``X: y``."""
    comments = "#<age>: 51\n#<sex>: F\n#<diagnoses>:\n#Rhythm:Atrial flutter: 2:1 conduction.\n" \
               "#Left ventricular hypertrophy."
    reader = LUDB(_ludb_folder(tmp_path, root, {"1": comments}), task=task)
    assert reader.classes == classes and _label_sets(reader) == [set(classes)]


@pytest.mark.parametrize("task", ["axis", "other"])
def test_column_tasks_need_the_csv(root: Path, tmp_path: Path, task: str) -> None:
    """Tasks other than all and rhythm cannot be read from the header comments: the error says so."""
    os.symlink(root / "data", tmp_path / "data")
    message = (f"^ludb: task '{task}' needs ludb\\.csv in {re.escape(str(tmp_path))} \\(without it the header "
               f"comments give only the tasks all and rhythm\\)$")
    with pytest.raises(DataError, match=message):
        LUDB(tmp_path, task=task)


def test_record_without_csv_row_is_skipped_and_the_rest_kept(root: Path, tmp_path: Path) -> None:
    """A listed record with no ``ludb.csv`` row is skipped with that reason (or raises), the records after it are
    kept with the labels, sex and age of their rows."""
    csv_text = 'ID,Sex,Age,Rhythms\n1,"F\n",51,Sinus bradycardia\n3,M,">89\n",Sinus rhythm.\n'
    folder = _ludb_folder(tmp_path, root, {"1": "", "2": "", "3": ""}, csv_text)
    reader = LUDB(folder, task="rhythm", on_error="skip")
    assert reader.record_ids == ["1", "3"]
    assert reader.skipped == [Skipped("2", "empty label set (no row in ludb.csv)")]
    assert reader.classes == ["Sinus bradycardia", "Sinus rhythm"]
    assert reader.labels.tolist() == [[1, 0], [0, 1]]
    assert reader.metadata[["sex", "age"]].to_dict("index") == {"1": {"sex": "F", "age": "51"},
                                                                "3": {"sex": "M", "age": ">89"}}
    with pytest.raises(RecordError, match=r"^record 2: empty label set \(no row in ludb\.csv\)$"):
        LUDB(folder, task="rhythm")


def test_sex_and_age_are_empty_without_those_columns(root: Path, tmp_path: Path) -> None:
    """A ``ludb.csv`` without Sex and Age columns gives empty strings, not ``None`` or ``nan``."""
    reader = LUDB(_ludb_folder(tmp_path, root, {"1": ""}, "ID,Rhythms\n1,Sinus rhythm\n"), task="rhythm")
    assert reader.metadata[["sex", "age"]].to_dict("index") == {"1": {"sex": "", "age": ""}}


def test_record_without_header_is_skipped_and_the_rest_kept(root: Path, tmp_path: Path) -> None:
    """Without ``ludb.csv``, a listed record whose header is missing is skipped with that reason; the records
    after it are kept."""
    comments = "#<diagnoses>:\n#Rhythm: Sinus rhythm."
    folder = _ludb_folder(tmp_path, root, {"1": comments, "2": None, "3": comments})
    reader = LUDB(folder, task="rhythm", on_error="skip")
    assert reader.record_ids == ["1", "3"]
    assert reader.skipped == [Skipped("2", f"missing header file {folder / 'data' / '2.hea'}")]


def test_folds_are_the_sha256_of_the_record_id(root: Path) -> None:
    """Record ``r`` is in fold 1 + (first 8 bytes of sha256(r), little-endian) mod 10."""
    reader = LUDB(root, task="all")
    expected = [sha256_fold(r) for r in reader.record_ids]
    assert reader.folds.tolist() == expected
