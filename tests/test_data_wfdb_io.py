"""WFDB header parser and signal reader: agreement with wfdb, the challenge quirks, and bad records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from ecgformer.data import CinC2017, EmptySplitError, RecordError
from ecgformer.data.wfdb_io import comment_fields, load_wfdb_record, parse_header_text, read_header, read_signal


def _write(folder: Path, name: str, signal: np.ndarray, fs: float = 300, leads: list[str] | None = None,
           fmt: str = "16", gain: float = 1000.0) -> None:
    leads = leads or ["ECG"] * signal.shape[1]
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=leads, p_signal=signal.astype(np.float64),
                fmt=[fmt] * len(leads), adc_gain=[gain] * len(leads), baseline=[0] * len(leads), write_dir=str(folder))


# ---------------------------------------------------------------- parser
def test_georgia_record_line_is_accepted_where_wfdb_rejects_it(data_root: Path) -> None:
    base = data_root / "cinc2021" / "training" / "georgia" / "E00271"
    if not base.with_suffix(".hea").is_file():
        pytest.skip("Georgia quirk record not present")
    with pytest.raises(ValueError, match="record line"):  # wfdb's HeaderSyntaxError
        wfdb.rdheader(str(base))
    header = read_header(base)
    assert (header.record_name, header.n_sig, header.fs, header.n_samples) == ("E00271", 12, 500.0, 5000)
    assert header.base_date == "05-May-2020"
    # independent check of the samples: the .mat matrix through scipy, scaled by the header gains
    mat = scipy.io.loadmat(base.with_suffix(".mat"))["val"].astype(np.float64)
    text = base.with_suffix(".hea").read_text().splitlines()[1:13]
    gains = np.array([float(line.split()[2].split("/")[0]) for line in text])
    np.testing.assert_allclose(read_signal(header), mat / gains[:, None], rtol=1e-6, atol=1e-6)


def test_parser_fields_gain_with_baseline_units_and_comments(tmp_path: Path) -> None:
    text = ("rec 2 500 5000\n"
            "rec.dat 16 1716(6)/mV 0 0 -120 -32198 0 i\n"
            "rec.dat 16 200/uV 12 3 4 5 0 V1 lead with spaces\n"
            "#<age>: 51\n#Dx: 1,2\n# 75 F x1\n")
    header = parse_header_text(text, tmp_path / "rec.hea")
    first, second = header.signals
    assert (first.gain, first.baseline, first.units, first.description) == (1716.0, 6, "mV", "i")
    assert (second.gain, second.baseline, second.units, second.description) == (200.0, 3, "uV", "V1 lead with spaces")
    assert comment_fields(header.comments) == {"age": "51", "dx": "1,2"}


def test_header_with_wrong_signal_count_names_the_record(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="record X1: .*declares 2 signals but has 1"):
        parse_header_text("X1 2 500 10\nX1.dat 16 200 0 0 0 0 0 I\n", tmp_path / "X1.hea")


# ---------------------------------------------------------------- samples against wfdb
@pytest.mark.parametrize("relative", ["mitdb/101", "mitdb/114", "ptbxl/records100/00000/00001_lr",
                                      "ptbxl/records500/00000/00001_hr", "ludb/data/1",
                                      "cinc2017/training2017/A00001", "cinc2021/training/ptb/S0001"])
def test_samples_equal_wfdb_rdrecord(data_root: Path, relative: str) -> None:
    base = data_root / relative
    if not base.with_suffix(".hea").is_file():
        pytest.skip(f"{relative} not present")
    expected = wfdb.rdrecord(str(base)).p_signal.T
    got = read_signal(read_header(base))
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # partial reads seek into the file, including odd offsets of the 212 format
    np.testing.assert_allclose(read_signal(read_header(base), 301, 777), expected[:, 301:777], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", ["16", "212", "24", "32", "80"])
def test_formats_written_by_wfdb_round_trip(tmp_path: Path, fmt: str) -> None:
    signal = np.random.default_rng(0).normal(0, 0.3, size=(777, 2))
    gain = 100.0 if fmt == "80" else 1000.0
    _write(tmp_path, "rec", np.clip(signal, -1.2, 1.2), fs=360, leads=["MLII", "V1"], fmt=fmt, gain=gain)
    expected = wfdb.rdrecord(str(tmp_path / "rec")).p_signal.T
    np.testing.assert_allclose(read_signal(read_header(tmp_path / "rec")), expected, atol=1e-5)
    np.testing.assert_allclose(read_signal(read_header(tmp_path / "rec"), 3, 400), expected[:, 3:400], atol=1e-5)


@pytest.mark.parametrize(("fmt", "dtype", "offset"), [("61", ">i2", 0), ("160", "<u2", 32768)])
def test_big_endian_and_offset_formats(tmp_path: Path, fmt: str, dtype: str, offset: int) -> None:
    digital = np.random.default_rng(1).integers(-2000, 2000, size=(300, 2))
    (digital + offset).astype(dtype).tofile(tmp_path / "rec.dat")
    lines = [f"rec.dat {fmt} 200 16 0 0 0 0 {lead}" for lead in ("I", "II")]
    (tmp_path / "rec.hea").write_text("\n".join(["rec 2 250 300", *lines]) + "\n")
    expected = wfdb.rdrecord(str(tmp_path / "rec")).p_signal.T
    np.testing.assert_allclose(read_signal(read_header(tmp_path / "rec")), expected, atol=1e-6)
    np.testing.assert_allclose(expected, digital.T / 200.0, atol=1e-6)


def test_lead_names_are_normalised_and_ordered(data_root: Path) -> None:
    base = data_root / "ptbxl" / "records100" / "00000" / "00001_lr"
    if not base.with_suffix(".hea").is_file():
        pytest.skip("PTB-XL record not present")
    header = read_header(base)
    assert "AVR" in header.descriptions  # PTB-XL spells the augmented leads in capitals
    record = load_wfdb_record(header, leads=("V6", "aVR", "I"))
    raw = read_signal(header)
    np.testing.assert_array_equal(record.signal, raw[[11, 3, 0]])
    assert record.leads == ("V6", "aVR", "I")


# ---------------------------------------------------------------- bad records
def _cinc2017_folder(root: Path, rows: list[tuple[str, str]]) -> Path:
    folder = root / "training2017"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "REFERENCE.csv").write_text("".join(f"{r},{label}\n" for r, label in rows))
    return folder


def _good(folder: Path, name: str) -> None:
    t = np.arange(3000) / 300
    _write(folder, name, (0.5 * np.sin(2 * np.pi * 1.2 * t))[:, None])


def _broken(tmp_path: Path, problem: str) -> tuple[Path, str]:
    """A CinC 2017-style folder with one good record (A00001) and one broken one (A00002)."""
    rows = [("A00001", "N"), ("A00002", "A")]
    if problem == "empty label":
        rows = rows[:1]
    if problem == "bad label":
        rows[1] = ("A00002", "Z")
    folder = _cinc2017_folder(tmp_path, rows)
    _good(folder, "A00001")
    t = np.arange(3000) / 300
    x = (0.5 * np.sin(2 * np.pi * 1.0 * t))[:, None]
    if problem == "nan":
        x[100:110] = np.nan
    _write(folder, "A00002", x, fs=250 if problem == "wrong rate" else 300,
           leads=["XYZ"] if problem == "unknown lead" else ["ECG"])
    if problem == "missing dat":
        (folder / "A00002.dat").unlink()
    if problem == "missing hea":
        (folder / "A00002.hea").unlink()
        (folder / "A00002.dat").unlink()
    if problem == "truncated":
        data = (folder / "A00002.dat").read_bytes()
        (folder / "A00002.dat").write_bytes(data[: len(data) // 2])
    return tmp_path, {"missing dat": "missing data file", "missing hea": "missing header file",
                      "truncated": "truncated data file", "wrong rate": "sampling rate 250 Hz, expected 300 Hz",
                      "unknown lead": "unknown lead name 'XYZ'", "empty label": "empty label set",
                      "bad label": "label 'Z'", "nan": "10 NaN"}[problem]


PROBLEMS = ["missing dat", "missing hea", "truncated", "wrong rate", "unknown lead", "empty label", "bad label", "nan"]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_bad_record_raises_naming_record_and_problem(tmp_path: Path, problem: str) -> None:
    root, message = _broken(tmp_path, problem)
    with pytest.raises(RecordError, match="A00002") as info:
        reader = CinC2017(root)
        reader.validate()  # NaN samples are found when the signal is read
    assert info.value.record == "A00002"
    assert message in info.value.problem


@pytest.mark.parametrize("problem", PROBLEMS)
def test_bad_record_is_skipped_and_reported_on_request(tmp_path: Path, problem: str) -> None:
    root, message = _broken(tmp_path, problem)
    reader = CinC2017(root, on_error="skip")
    reader.validate()
    assert reader.record_ids == ["A00001"]
    np.testing.assert_array_equal(reader.labels, [[1, 0, 0, 0]])
    assert [s.record for s in reader.skipped] == ["A00002"]
    assert message in reader.skipped[0].reason
    summary = reader.summary(load=False)
    assert summary["records"] == 1 and summary["skipped"][0]["record"] == "A00002"


def test_empty_split_raises(tmp_path: Path) -> None:
    folder = _cinc2017_folder(tmp_path, [("A00001", "N")])
    _good(folder, "A00001")
    reader = CinC2017(tmp_path)
    assert len(reader.split("all")) == 1
    empty = [f for f in range(1, 11) if f != reader.folds[0]][:1]
    with pytest.raises(EmptySplitError, match=r"split folds \[\d+\] selects no record"):
        reader.split(empty)
