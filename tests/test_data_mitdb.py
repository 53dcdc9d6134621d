"""MIT-BIH reader: AAMI beat counts per record equal wfdb.rdann counts; windows, beats and DS1/DS2 splits;
annotation parsing, record listing and named splits on hand-made records; LabelledSource.split."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest
import wfdb
from record_folds import sha256_fold

from ecgformer.data import MITBIH, EmptySplitError, LabelledSource, RecordError, Skipped
from ecgformer.data.labels import hash_fold, multi_hot
from ecgformer.data.mitdb import read_annotations

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
    # val: the DS1 records whose sha256 (first 8 bytes, little-endian) % 10 + 1 is 9 (119 203 205 223 230) or 10 (114)
    assert sorted(ids[reader.split("val")]) == ["114", "119", "203", "205", "223", "230"]
    assert sorted(ids[reader.split("train")]) == sorted(
        "101 106 108 109 112 115 116 118 122 124 201 207 208 209 215 220".split())
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


# MIT annotation-format type codes (WFDB <ecgcodes.h>) of the symbols the hand-made annotation files use
ANNOTATION_CODES = {"N": 1, "V": 5, "A": 8, '"': 22, "+": 28, "x": 37}


def write_atr(path: Path, annotations: Sequence[tuple[int, str, str]]) -> None:
    """Write ``(sample, symbol, aux_note)`` annotations in the MIT format (WFDB annot(5)): per annotation a
    little-endian word with the type code in its top 6 bits and the samples since the previous annotation in its
    low 10 bits; a note follows as type 63 with its length, then its bytes padded to even; a zero word ends it."""
    out, previous = bytearray(), 0
    for sample, symbol, aux in annotations:
        assert 0 <= sample - previous < 1024  # no SKIP words needed
        out += (ANNOTATION_CODES[symbol] << 10 | sample - previous).to_bytes(2, "little")
        previous = sample
        if aux:
            note = aux.encode("ascii")
            out += (63 << 10 | len(note)).to_bytes(2, "little") + note + b"\0" * (len(note) % 2)
    path.write_bytes(bytes(out) + b"\0\0")


def write_record(folder: Path, record_id: str, annotations: Sequence[tuple[int, str, str]] | None,
                 n_samples: int = 200) -> None:
    """A two-lead 360 Hz record of ``n_samples`` samples (format 16); its ``.atr`` unless ``annotations`` is None."""
    signal = np.arange(2 * n_samples, dtype="<i2").reshape(n_samples, 2)
    (folder / f"{record_id}.dat").write_bytes(signal.tobytes())
    lines = [f"{record_id} 2 360 {n_samples}"]
    lines += [f"{record_id}.dat 16 200/mV 16 0 0 0 0 {lead}" for lead in ("MLII", "V1")]
    (folder / f"{record_id}.hea").write_text("\n".join(lines) + "\n")
    if annotations is not None:
        write_atr(folder / f"{record_id}.atr", annotations)


# Every hand-made record: normal rhythm from sample 0, two normal beats and a PVC, in 200 samples.
TINY_ANNOTATIONS = [(0, "+", "(N"), (10, "N", ""), (90, "N", ""), (150, "V", "")]
# RECORDS, unsorted: DS2, DS1 (fold 5), DS1 (fold 9), paced, DS2, no .atr, DS1 (fold 10), in no list.
TINY_LISTING = ["231", "101", "119", "102", "100", "999", "114", "300"]
TINY_KEPT = ["231", "101", "119", "102", "100", "114", "300"]


@pytest.fixture
def tiny_mitdb(tmp_path: Path) -> Path:
    """The records of TINY_LISTING (999 without its .atr) listed in RECORDS, and 105 (DS2) present but unlisted."""
    for record_id in [*TINY_LISTING, "105"]:
        write_record(tmp_path, record_id, None if record_id == "999" else TINY_ANNOTATIONS)
    (tmp_path / "RECORDS").write_text("\n".join(TINY_LISTING) + "\n")
    return tmp_path


def test_read_annotations_sorts_beats_from_rhythm_episodes(tmp_path: Path) -> None:
    """Beats are the AAMI-mapped symbols; an episode starts at each '+' whose note is a rhythm and ends where the
    next starts (the last at ``n_samples``); a '+' without a note, a non-beat 'x' and a comment that reads like a
    rhythm change nothing."""
    write_atr(tmp_path / "r.atr", [(0, "+", "(N"), (10, "N", ""), (20, "+", ""), (30, "V", ""), (40, '"', "(VT"),
                                   (45, "x", ""), (50, "+", "(AFIB"), (60, "A", ""), (70, "+", "(N")])
    ann = read_annotations(tmp_path / "r.hea", 200, "r")
    assert ann.beat_samples.tolist() == [10, 30, 60]
    assert ann.beat_classes.tolist() == ["N", "V", "S"] and ann.beat_symbols.tolist() == ["N", "V", "A"]
    assert ann.rhythms == ("(N", "(AFIB", "(N")
    assert ann.rhythm_starts.tolist() == [0, 50, 70] and ann.rhythm_stops.tolist() == [50, 70, 200]
    assert ann.rhythm_starts.dtype == ann.rhythm_stops.dtype == ann.beat_samples.dtype == np.int64


def test_read_annotations_of_an_empty_file_keeps_array_types(tmp_path: Path) -> None:
    """A file with no annotation gives no beat and no rhythm, as int64 positions and one-letter class strings."""
    write_atr(tmp_path / "r.atr", [])
    ann = read_annotations(tmp_path / "r.hea", 200, "r")
    assert ann.beat_samples.shape == ann.beat_classes.shape == ann.rhythm_starts.shape == (0,) and ann.rhythms == ()
    assert ann.beat_samples.dtype == ann.rhythm_starts.dtype == np.int64 and ann.beat_classes.dtype == np.dtype("<U1")
    assert ann.beat_symbols.dtype == np.dtype("<U1")


def test_a_record_of_beats_only_has_no_rhythm_episode(tmp_path: Path) -> None:
    """Without rhythm annotations there is no episode: no start, no stop (not one stop at the record's end)."""
    write_atr(tmp_path / "r.atr", [(10, "N", ""), (30, "V", "")])
    ann = read_annotations(tmp_path / "r.hea", np.int64(200), "r")
    assert ann.rhythm_starts.tolist() == ann.rhythm_stops.tolist() == [] and ann.rhythms == ()
    assert ann.rhythm_stops.dtype == np.int64


def test_a_header_without_its_length_takes_it_from_the_data_file(tmp_path: Path) -> None:
    """The sample count is optional in a WFDB header: the last rhythm episode then ends where the data file does."""
    write_record(tmp_path, "101", TINY_ANNOTATIONS)
    header = tmp_path / "101.hea"
    header.write_text(header.read_text().replace("101 2 360 200", "101 2 360"))
    reader = MITBIH(tmp_path)
    ann = reader._annotations["101"]
    assert ann.rhythm_starts.tolist() == [0] and ann.rhythm_stops.tolist() == [200]
    assert reader.labels[reader.index_of("101")].tolist() == [
        c in ("N", "V", "(N") for c in reader.classes]


@pytest.mark.parametrize("annotations, problem", [
    (None, "missing annotation file r.atr"),
    ([(0, "+", "(N"), (5, "+", "(XYZ")], "unknown rhythm annotation '(XYZ' at sample 5"),
])
def test_read_annotations_errors_name_record_and_problem(tmp_path: Path, annotations: list | None,
                                                         problem: str) -> None:
    """A missing file or an unknown rhythm note raises RecordError naming the given record and the problem."""
    if annotations is not None:
        write_atr(tmp_path / "r.atr", annotations)
    with pytest.raises(RecordError, match=f"^{re.escape(f'record 7: {problem}')}$") as info:
        read_annotations(tmp_path / "r.hea", 100, "7")
    assert (info.value.record, info.value.problem) == ("7", problem)


@pytest.mark.parametrize("listed, expected", [
    (True, TINY_KEPT),
    (False, ["100", "101", "102", "105", "114", "119", "231", "300"]),
])
def test_records_come_from_the_listing_else_from_the_headers(tiny_mitdb: Path, listed: bool,
                                                             expected: list[str]) -> None:
    """RECORDS gives the records and their order; without it every .hea is one, sorted by name. A record without
    its .atr is skipped with that reason and the records after it are still read."""
    if not listed:
        (tiny_mitdb / "RECORDS").unlink()
    reader = MITBIH(tiny_mitdb, on_error="skip")
    assert reader.record_ids == expected
    assert reader.skipped == [Skipped("999", "missing annotation file 999.atr")]


def test_scan_sets_split_fold_beat_counts_and_episodes(tiny_mitdb: Path) -> None:
    """Per record: its de Chazal list, its id-hash fold, its AAMI beat counts (2 N, 1 V) and labels, and a
    rhythm episode that runs to the header's sample count."""
    reader = MITBIH(tiny_mitdb, on_error="skip")
    assert reader.metadata["split"].tolist() == ["DS2", "DS1", "DS1", "paced", "DS2", "DS1", ""]
    assert reader.folds.tolist() == [sha256_fold(r) for r in TINY_KEPT]
    counts = reader.metadata[["beats_N", "beats_S", "beats_V", "beats_F", "beats_Q"]].to_numpy()
    assert counts.tolist() == [[2, 0, 1, 0, 0]] * len(TINY_KEPT)
    assert [{c for c, v in zip(reader.classes, row) if v} for row in reader.labels] == [{"(N", "N", "V"}] * 7
    assert [(a.rhythm_starts.tolist(), a.rhythm_stops.tolist()) for a in reader.annotations] == [([0], [200])] * 7


@pytest.mark.parametrize("split, expected", [
    ("DS1", ["101", "119", "114"]), ("DS2", ["231", "100"]), ("test", ["231", "100"]), ("paced", ["102"]),
    ("train", ["101"]), ("val", ["119", "114"]), ("all", TINY_KEPT),
])
def test_named_splits_of_hand_made_records(tiny_mitdb: Path, split: str, expected: list[str]) -> None:
    """DS1/DS2/paced follow de Chazal's lists, test is DS2, and DS1 divides by id hash: 119 (fold 9) and 114
    (fold 10) are val, 101 (fold 5) is train; "all" is every record, in listing order."""
    reader = MITBIH(tiny_mitdb, on_error="skip")
    assert [reader.record_ids[i] for i in reader.split(split)] == expected


class FoldsOnly(LabelledSource):
    """A source with only what LabelledSource.split reads: record ids and folds."""

    name, task = "tiny", "t"

    def __init__(self, folds: list[int]) -> None:
        self.folds = np.asarray(folds)
        self.record_ids = [f"r{i}" for i in range(len(folds))]


@pytest.mark.parametrize("which, expected", [("all", [0, 1, 2, 3]), ("train", [0, 1, 2]), ("test", [3]),
                                             ([1, 10], [1, 3]), (iter([3]), [0, 2])])
def test_split_selects_by_name_or_fold_numbers(which: str | Iterable[int], expected: list[int]) -> None:
    """"all" is every record, train/test are folds 1-8/10, and any iterable of fold numbers selects those folds."""
    assert FoldsOnly([3, 1, 3, 10]).split(which).tolist() == expected


@pytest.mark.parametrize("which, error, message", [
    ("bogus", ValueError, "tiny: unknown split 'bogus'"),
    ("val", EmptySplitError, "tiny (task t): split val selects no record out of 4"),
    ([2, 4], EmptySplitError, "tiny (task t): split folds [2, 4] selects no record out of 4"),
])
def test_split_errors_say_which_split(which: str | list[int], error: type[Exception], message: str) -> None:
    """An unknown name raises ValueError; a split with no record raises EmptySplitError naming it (a fold list as
    its folds) and the record count."""
    with pytest.raises(error, match=f"^{re.escape(message)}$") as info:
        FoldsOnly([3, 1, 3, 10]).split(which)
    assert type(info.value) is error


def test_multi_hot_rows_and_its_errors_word_for_word() -> None:
    """The label matrix is uint8 with one 1 per carried class; a stray label or a repeated class name is an error
    naming it (labels are never dropped silently)."""
    matrix = multi_hot([("B",), (), ("C", "A", "B")], ["A", "B", "C"])
    assert matrix.dtype == np.uint8 and matrix.tolist() == [[0, 1, 0], [0, 0, 0], [1, 1, 1]]
    with pytest.raises(ValueError, match=r"^label 'D' of row 1 is not a class \(A, B, C\)$"):
        multi_hot([("A",), ("B", "D")], ["A", "B", "C"])
    with pytest.raises(ValueError, match=r"^duplicate class names in \['A', 'B', 'A'\]$"):
        multi_hot([("A",)], ("A", "B", "A"))


@pytest.mark.parametrize("n_folds", [None, 5])
def test_hash_fold_is_the_documented_sha256_rule(n_folds: int | None) -> None:
    """Fold = first 8 bytes of the id's sha256, little-endian, modulo the fold count (10 by default), plus 1."""
    for record_id in ("100", "HR00001", "E00007", "ψ-record"):
        if n_folds is None:
            assert hash_fold(record_id) == sha256_fold(record_id)
        else:
            assert hash_fold(record_id, n_folds) == sha256_fold(record_id, n_folds)
