"""CinC 2017 reader: every shared record loads and the label counts equal REFERENCE.csv; REFERENCE parsing,
folds and skip reasons on hand-made records."""

from __future__ import annotations

import csv
import locale
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from record_folds import sha256_fold

from ecgformer.data import CinC2017, Skipped


@pytest.fixture(scope="module")
def root(dataset_dir: Callable[[str, str], Path]) -> Path:
    return dataset_dir("cinc2017", "training2017/REFERENCE.csv")


def test_every_record_loads_and_counts_equal_reference(root: Path) -> None:
    with open(root / "training2017" / "REFERENCE.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    reader = CinC2017(root)
    assert reader.classes == ["N", "A", "O", "~"]
    assert reader.label_counts() == dict(Counter(label for _, label in rows))
    assert reader.record_ids == [name for name, _ in rows]
    assert len(reader) == 5000 and reader.record_ids[0] == "A00001" and reader.record_ids[-1] == "A05000"
    assert (reader.labels.sum(axis=1) == 1).all()
    lengths = []
    for i in range(len(reader)):
        record = reader.load(i)
        assert record.signal.shape[0] == 1 and record.fs == 300 and np.isfinite(record.signal).all()
        lengths.append(record.signal.shape[1])
    assert lengths == reader.metadata["n_samples"].tolist()
    assert 9 <= min(lengths) / 300 and max(lengths) / 300 <= 61


def test_mat_samples_use_header_gain(root: Path) -> None:
    import scipy.io

    reader = CinC2017(root)
    raw = scipy.io.loadmat(root / "training2017" / "A00001.mat")["val"][0].astype(np.float64)
    gain = float((root / "training2017" / "A00001.hea").read_text().splitlines()[1].split()[2].split("/")[0])
    np.testing.assert_allclose(reader.load(0).signal[0], raw / gain, atol=1e-6)


# A hand-made REFERENCE.csv (CR LF line endings): A00002 has no label field, A00003 (no header) an unknown label,
# A00004 a valid label but no header, A00006 a quoted label spanning two lines, A00007 a label with a space before it.
TINY_REFERENCE = 'A00001,N\r\nA00002\r\nA00003,X\r\nA00004,A\r\nA00005,~\r\nA00006,"N\r\nA"\r\nA00007, O\r\n\r\n'
# Headers: the listed records but A00003 and A00004, and A00009, which REFERENCE.csv does not list.
TINY_HEADERS = ("A00001", "A00002", "A00005", "A00006", "A00007", "A00009")
NOT_A_CLASS = "in REFERENCE.csv is not one of N, A, O, ~"


def write_tiny_cinc2017(root: Path, reference: str, headers: tuple[str, ...]) -> None:
    """``reference`` as training2017/REFERENCE.csv (UTF-8) and a one-lead 300 Hz record per name in ``headers``."""
    folder = root / "training2017"
    folder.mkdir()
    (folder / "REFERENCE.csv").write_bytes(reference.encode("utf-8"))
    for name in headers:
        (folder / f"{name}.dat").write_bytes(np.arange(30, dtype="<i2").tobytes())
        (folder / f"{name}.hea").write_text(f"{name} 1 300 30\n{name}.dat 16 1000/mV 16 0 0 0 0 ECG\n")


def test_scan_keeps_labelled_records_and_reports_each_bad_row(tmp_path: Path) -> None:
    """Labels (stripped), label metadata and id-hash folds of the usable rows; every other row, and a header
    without a row, is reported with its own reason (a label problem before a missing header)."""
    write_tiny_cinc2017(tmp_path, TINY_REFERENCE, TINY_HEADERS)
    reader = CinC2017(tmp_path, on_error="skip")
    assert reader.record_ids == ["A00001", "A00005", "A00007"]
    assert reader.labels.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    assert reader.metadata["label"].tolist() == ["N", "~", "O"]
    assert reader.folds.tolist() == [sha256_fold(r) for r in reader.record_ids]
    assert reader.skipped == [
        Skipped("A00002", "empty label set (no label in REFERENCE.csv)"),
        Skipped("A00003", f"label 'X' {NOT_A_CLASS}"),
        Skipped("A00004", "missing header file A00004.hea (listed in REFERENCE.csv)"),
        Skipped("A00006", f"label 'N\\r\\nA' {NOT_A_CLASS}"),
        Skipped("A00009", "empty label set (no row in REFERENCE.csv)"),
    ]


def test_reference_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Under an ASCII (C) locale a non-ASCII label is still decoded from UTF-8 and reported as written."""
    write_tiny_cinc2017(tmp_path, "A00001,N\nA00002,\u00c4\n", ("A00001", "A00002"))
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        reader = CinC2017(tmp_path, on_error="skip")
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    assert reader.record_ids == ["A00001"]
    assert reader.skipped == [Skipped("A00002", f"label '\u00c4' {NOT_A_CLASS}")]
