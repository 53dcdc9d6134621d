"""WFDB header parser and signal reader: agreement with wfdb, the challenge quirks, and bad records."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
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


# ---------------------------------------------------------------- untrusted headers (issue 19)
def _real(data_root: Path, relative: str) -> Path:
    base = data_root / relative
    if not base.with_suffix(".hea").is_file():
        pytest.skip(f"{relative} not present")
    return base


def _copy_with_header(base: Path, folder: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    """Copy a real record (header and data files) into ``folder``, passing the header lines through ``edit``."""
    lines = base.with_suffix(".hea").read_text().splitlines()
    for name in {line.split()[0] for line in lines[1:] if line and not line.startswith("#")}:
        shutil.copy(base.parent / name, folder / name)
    (folder / f"{base.name}.hea").write_text("\n".join(edit(lines)) + "\n")
    return folder / base.name


def _set_token(lines: list[str], line: int, token: int, value: str) -> list[str]:
    tokens = lines[line].split()
    tokens[token] = value
    return [*lines[:line], " ".join(tokens), *lines[line + 1:]]


@pytest.mark.parametrize("rate", ["nan", "NaN", "inf", "-inf", "1e400", "0", "-500", "1e-300", "0.5", "1e8", "2e6",
                                  "1_000", "٣٦٠"])
def test_sampling_rate_must_be_finite_and_plausible(data_root: Path, tmp_path: Path, rate: str) -> None:
    base = _copy_with_header(_real(data_root, "ptbxl/records100/00000/00001_lr"), tmp_path,
                             lambda lines: _set_token(lines, 0, 2, rate))
    with pytest.raises(RecordError, match=r"record 00001_lr: .*: sampling rate (.* is not a number|.* Hz is not a "
                                          r"finite rate within 1-1e\+06 Hz)"):
        read_header(base)


@pytest.mark.parametrize("rate", ["1", "100", "360/1000", "1e6"])
def test_plausible_rates_are_accepted(data_root: Path, tmp_path: Path, rate: str) -> None:
    base = _copy_with_header(_real(data_root, "ptbxl/records100/00000/00001_lr"), tmp_path,
                             lambda lines: _set_token(lines, 0, 2, rate))
    assert read_header(base).fs == float(rate.split("/")[0])


@pytest.mark.parametrize("gain", ["1e400", "-1000", "-1e400", "1e-320"])
def test_gain_must_be_finite_and_positive(data_root: Path, tmp_path: Path, gain: str) -> None:
    # 1e400 parses to inf: before, every sample became 0 mV and the record loaded as a flat line
    base = _copy_with_header(_real(data_root, "ptbxl/records100/00000/00001_lr"), tmp_path,
                             lambda lines: _set_token(lines, 3, 2, f"{gain}/mV"))
    with pytest.raises(RecordError, match=r"record 00001_lr: .*ADC gain '.*' of signal III in 00001_lr.dat is not a "
                                          r"finite positive number"):
        read_header(base)


def test_gain_zero_means_uncalibrated_200_adu_per_unit(data_root: Path, tmp_path: Path) -> None:
    # WFDB signal(5): "If the gain is zero or missing, ... a value of 200 ADC units per physical unit may be assumed"
    source = _real(data_root, "ptbxl/records100/00000/00001_lr")
    base = _copy_with_header(source, tmp_path, lambda lines: _set_token(lines, 1, 2, "0/mV"))
    digital = wfdb.rdrecord(str(source), physical=False).d_signal[:, 0].astype(np.float64)
    np.testing.assert_allclose(read_signal(read_header(base))[0], digital / 200.0, rtol=1e-6)


@pytest.mark.parametrize(("token", "value", "message"), [
    (4, "99999999999", "ADC zero 99999999999 .* outside the 32-bit sample range"),
    (2, "1000(-9999999999)/mV", "baseline -9999999999 .* outside the 32-bit sample range"),
    (0, "../00001_lr.dat", "data file '../00001_lr.dat' is not a file name in the header's folder"),
    (0, "/dev/zero", "data file '/dev/zero' is not a file name in the header's folder"),
    (0, "-", "data file '-' is not a file name"),
])
def test_bad_signal_fields_name_the_record(data_root: Path, tmp_path: Path, token: int, value: str,
                                           message: str) -> None:
    base = _copy_with_header(_real(data_root, "ptbxl/records100/00000/00001_lr"), tmp_path,
                             lambda lines: _set_token(lines, 1, token, value))
    with pytest.raises(RecordError, match=f"record 00001_lr: .*{message}"):
        read_header(base)


def test_sample_count_zero_means_unspecified_and_negative_is_refused(data_root: Path, tmp_path: Path) -> None:
    source = _real(data_root, "ptbxl/records100/00000/00001_lr")
    expected = wfdb.rdrecord(str(source)).p_signal.T
    base = _copy_with_header(source, tmp_path, lambda lines: _set_token(lines, 0, 3, "0"))
    header = read_header(base)  # WFDB header(5): a count of 0 means "not given": the file size tells
    assert header.n_samples is None
    np.testing.assert_allclose(read_signal(header), expected, atol=1e-5)
    _copy_with_header(source, tmp_path, lambda lines: _set_token(lines, 0, 3, "-1000"))
    with pytest.raises(RecordError, match="negative sample count -1000"):
        read_header(base)
    (tmp_path / "00001_lr.dat").write_bytes(b"")
    _copy_with_header(source, tmp_path, lambda lines: _set_token(lines, 0, 3, "0"))
    (tmp_path / "00001_lr.dat").write_bytes(b"\x01")  # less than one frame
    with pytest.raises(RecordError, match="no samples"):
        read_signal(read_header(base))


def test_a_header_without_signals_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="record X1: .*declares 0 signals"):
        parse_header_text("X1 0 500 10\n", tmp_path / "X1.hea")


# ---------------------------------------------------------------- MATLAB v4 payloads
def _mat_v4_fields(path: Path) -> tuple[int, int, int, int, int, bytes]:
    """The five int32 of a little-endian MATLAB v4 header and the variable name, read with struct."""
    raw = path.read_bytes()
    fields = struct.unpack("<5i", raw[:20])
    return (*fields, raw[20:20 + fields[4]])


@pytest.mark.parametrize("relative", ["cinc2017/training2017/A00001", "cinc2017/training2017/A05000",
                                      "cinc2021/training/georgia/E00271", "cinc2021/training/ptb/S0001",
                                      "cinc2021/training/ningbo/JS11438"])
def test_challenge_mat_files_are_int16_v4_matrices(data_root: Path, relative: str) -> None:
    """What the challenge files hold: type 30 (M 0 little-endian, O 0, P 3 int16, T 0 full), signals x samples,
    real, named ``val``: the ``16+24`` format of their headers describes the same bytes."""
    base = _real(data_root, relative)
    header = read_header(base)
    mopt, rows, cols, imaginary, name_length, name = _mat_v4_fields(base.with_suffix(".mat"))
    assert (mopt, rows, cols, imaginary, name) == (30, header.n_sig, header.n_samples, 0, b"val\x00")
    assert {(s.fmt, s.byte_offset) for s in header.signals} == {(16, 20 + name_length)}


def _cinc2017_with_mat(data_root: Path, folder: Path, value: np.ndarray | None = None, **savemat: object) -> Path:
    """A00001's header next to a ``.mat`` holding ``value`` (default: the real samples) written by scipy."""
    base = _copy_with_header(_real(data_root, "cinc2017/training2017/A00001"), folder, lambda lines: lines)
    if value is not None:
        scipy.io.savemat(folder / "A00001.mat", {"val": value}, **savemat)
    return base


@pytest.mark.parametrize("dtype", ["f8", "f4", "i4", ">i2", "u2"])
def test_mat_payload_is_decoded_by_its_own_precision(data_root: Path, tmp_path: Path, dtype: str) -> None:
    """A v4 matrix whose precision is not the header's int16 (format 16) is read by its MAT type, as the
    challenge's loader (scipy.io.loadmat) reads it: before, its bytes were decoded as int16 (garbage)."""
    source = _real(data_root, "cinc2017/training2017/A00001")
    digital = scipy.io.loadmat(source.with_suffix(".mat"))["val"].astype(np.int64)
    if dtype == "u2":
        digital = digital + 2000  # uint16 holds no negative values
    base = _copy_with_header(source, tmp_path, lambda lines: lines)
    if dtype == ">i2":  # a big-endian v4 file (M = 1): header and data in big-endian byte order, by hand
        body = struct.pack(">5i", 1030, 1, digital.shape[1], 0, 4) + b"val\x00"
        (tmp_path / "A00001.mat").write_bytes(body + digital.astype(">i2").tobytes(order="F"))
    else:
        scipy.io.savemat(tmp_path / "A00001.mat", {"val": digital.astype(dtype)}, format="4")
    gain, baseline = 1000.0, 0  # A00001.hea: "16+24 1000/mV 16 0 ..." (baseline = ADC zero = 0)
    np.testing.assert_allclose(read_signal(read_header(base))[0], (digital[0] - baseline) / gain, rtol=1e-6)


def test_mat_floats_that_are_not_adc_units_are_refused(data_root: Path, tmp_path: Path) -> None:
    millivolts = scipy.io.loadmat(_real(data_root, "cinc2017/training2017/A00001.mat"))["val"] / 1000.0
    base = _cinc2017_with_mat(data_root, tmp_path, millivolts, format="4")
    with pytest.raises(RecordError, match="record A00001: A00001.mat holds double values that are not whole numbers"):
        read_signal(read_header(base))


@pytest.mark.parametrize(("variant", "message"), [
    ("v5", "A00001.mat is a MATLAB 5 .or later. file; only MATLAB v4 matrices are read"),
    ("complex", "A00001.mat holds a complex matrix"),
    ("text", "A00001.mat: MATLAB v4 type 31 is not a full numeric matrix"),
    ("vax", "A00001.mat is not a MATLAB v4 matrix of IEEE numbers"),
    ("short", "A00001.mat has 12 bytes, too short for a MATLAB v4 header"),
    ("shape", "A00001.mat holds a 1x8999 matrix but the header describes 1 signals x 9000 samples"),
    ("truncated", "truncated data file A00001.mat"),
])
def test_mat_files_that_are_not_the_described_matrix_are_refused(data_root: Path, tmp_path: Path, variant: str,
                                                                 message: str) -> None:
    base = _cinc2017_with_mat(data_root, tmp_path)
    path = tmp_path / "A00001.mat"
    raw = bytearray(path.read_bytes())
    if variant == "v5":
        scipy.io.savemat(path, {"val": np.zeros((1, 9000), dtype=np.int16)})
    elif variant == "complex":
        raw[12:16] = struct.pack("<i", 1)
    elif variant == "text":
        raw[0:4] = struct.pack("<i", 31)
    elif variant == "vax":
        raw[0:4] = struct.pack("<i", 2030)
    elif variant == "short":
        del raw[12:]
    elif variant == "shape":
        raw[8:12] = struct.pack("<i", 8999)
    else:
        del raw[-100:]
    if variant != "v5":
        path.write_bytes(bytes(raw))
    with pytest.raises(RecordError, match=f"record A00001: {message}"):
        read_signal(read_header(base))


# ---------------------------------------------------------------- flat leads
def test_flat_leads_use_a_1_microvolt_peak_to_peak_threshold() -> None:
    from ecgformer.data.wfdb_io import FLAT_PEAK_TO_PEAK_MV, flat_leads

    t = np.arange(500) / 500
    signal = np.stack([np.sin(2 * np.pi * t), np.zeros(500), 3.0 + 0.0004 * np.sin(2 * np.pi * t),
                       0.0011 * np.sin(2 * np.pi * t)]).astype(np.float32)
    # peak to peak: 2 mV, 0, 0.8 µV (on a 3 mV offset), 2.2 µV
    assert flat_leads(signal, ["I", "II", "III", "V1"]) == ("II", "III")
    assert FLAT_PEAK_TO_PEAK_MV == 1e-3
