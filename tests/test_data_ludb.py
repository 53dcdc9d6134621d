"""LUDB reader: 200 records of 12 leads x 5000 samples; diagnoses from ludb.csv and header comments."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgformer.data import LUDB, STANDARD_LEADS


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
