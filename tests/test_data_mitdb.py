"""MIT-BIH reader: AAMI beat counts per record equal wfdb.rdann counts; windows, beats and DS1/DS2 splits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgformer.data import MITBIH, EmptySplitError

# ANSI/AAMI EC57 grouping of the MIT-BIH beat symbols, written out here independently of the library
AAMI_SYMBOLS = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}


@pytest.fixture(scope="module")
def reader(dataset_dir: Callable[[str, str], Path]) -> MITBIH:
    return MITBIH(dataset_dir("mitdb", "RECORDS"))


def test_beat_counts_per_record_equal_rdann(reader: MITBIH) -> None:
    beats = reader.beats()
    per_record = beats.metadata.groupby("record")
    assert len(reader) == 26
    for record_id in reader.record_ids:
        symbols = np.asarray(wfdb.rdann(str(reader.root / record_id), "atr").symbol)
        expected = {cls: int(np.isin(symbols, list(chars)).sum()) for cls, chars in AAMI_SYMBOLS.items()}
        rows = per_record.indices.get(record_id, [])
        got = {cls: int(beats.labels[rows, j].sum()) for j, cls in enumerate(beats.classes)}
        assert got == expected, record_id
    assert beats.labels.sum() == len(beats)  # one class per beat


def test_beat_windows_are_centred_on_the_annotation(reader: MITBIH) -> None:
    beats = reader.beats(before_s=0.25, after_s=0.45)
    i = 1000
    row = beats.metadata.iloc[i]
    parent = reader.load(reader.index_of(row["record"]))
    window = beats.load(i)
    assert window.signal.shape == (2, 90 + 162)
    np.testing.assert_array_equal(window.signal, parent.signal[:, row["peak"] - 90: row["peak"] + 162])
    first = beats.load(0)  # the first beat of record 101 is 7 samples in: zero-padded on the left
    assert first.signal.shape == (2, 252) and (first.signal[:, :90 - int(beats.metadata.iloc[0]["peak"])] == 0).all()


def test_window_labels_contain_their_beats_and_rhythms(reader: MITBIH) -> None:
    windows = reader.windows(length_s=10.0)  # record 201 has atrial fibrillation episodes
    ann = wfdb.rdann(str(reader.root / "201"), "atr")
    samples, symbols = np.asarray(ann.sample), np.asarray(ann.symbol)
    rhythm_at = [(s, a.strip("\x00")) for s, sym, a in zip(ann.sample, ann.symbol, ann.aux_note) if sym == "+"]
    rows = np.flatnonzero(windows.metadata["record"].to_numpy() == "201")
    assert len(rows) == 650000 // 3600
    for k in rows[::7]:
        start = int(windows.metadata.iloc[k]["start"])
        inside = symbols[(samples >= start) & (samples < start + 3600)]
        beats = {cls for cls, chars in AAMI_SYMBOLS.items() if np.isin(inside, list(chars)).any()}
        active = {r for j, (s, r) in enumerate(rhythm_at)
                  if s < start + 3600 and (j + 1 == len(rhythm_at) or rhythm_at[j + 1][0] > start)}
        got = {c for c, v in zip(windows.classes, windows.labels[k]) if v}
        assert got == beats | active
    assert windows.load(int(rows[0])).signal.shape == (2, 3600)
    assert "(AFIB" in {c for c, v in zip(windows.classes, windows.labels[rows].max(axis=0)) if v}


def test_de_chazal_splits(reader: MITBIH) -> None:
    ids = np.asarray(reader.record_ids)
    assert sorted(ids[reader.split("DS1")]) == sorted(
        "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230".split())
    assert sorted(ids[reader.split("paced")]) == ["102", "104", "107", "217"]
    assert set(ids[reader.split("train")]) | set(ids[reader.split("val")]) == set(ids[reader.split("DS1")])
    with pytest.raises(EmptySplitError, match="split test selects no record"):
        reader.split("test")  # DS2 is kept aside: not in the shared records
    beats = reader.beats()
    assert set(beats.metadata["record"].to_numpy()[beats.split("DS1")]) == set(ids[reader.split("DS1")])


def test_lead_order_puts_mlii_first(reader: MITBIH) -> None:
    assert reader.load(reader.index_of("114")).leads == ("MLII", "V5")  # stored as V5, MLII
    assert reader.load(reader.index_of("102")).leads == ("V2", "V5")
    assert reader.leads is None  # two leads per record, whose names differ between records


def test_a_lead_request_leaves_out_records_without_it(reader: MITBIH) -> None:
    headers = {r: (reader.root / f"{r}.hea").read_text().splitlines()[1:3] for r in reader.record_ids}
    without = sorted(r for r, lines in headers.items() if not any(line.split()[-1] == "MLII" for line in lines))
    assert without == ["102", "104"]
    mlii = MITBIH(reader.root, leads=["MLII"], on_error="skip")
    assert mlii.leads == ("MLII",) and sorted(s.record for s in mlii.skipped) == without
    assert all("requested lead(s) MLII missing (record has V2, V5" in s.reason for s in mlii.skipped)
    np.testing.assert_array_equal(mlii.load(mlii.index_of("114")).signal[0],
                                  reader.load(reader.index_of("114")).signal[0])
