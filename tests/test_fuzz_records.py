"""Property-based fuzzing of the WFDB reader with mutated copies of real records (issue 19).

Real headers and data files (PTB-XL ``.dat``, LUDB ``.dat``, CinC 2017 and CinC 2021 ``.mat``) are copied to a
temporary folder and mutated: tokens replaced by NaN, infinities, huge, negative, empty or garbage values, lines
dropped, duplicated or swapped, the signal count changed, the header cut short, data bytes truncated, flipped or
appended, MATLAB v4 header fields rewritten. Every mutation must end in one of two ways: the record reads as
finite float32 millivolts of the shape its header promises, or a :class:`RecordError` (a ``DataError``) whose
message is one line naming the record. Any other exception is a failure, and so is a wrong result: whenever an
independent reader also reads the mutated record (``wfdb.rdrecord`` for ``.dat`` files; ``scipy.io.loadmat`` with
``wfdb.rdheader``'s gains and baselines for ``.mat`` files, as the challenges load them), the samples must agree,
and mutations that do not change what the record means must not change the samples. Derandomised, so every CI run
tries the same examples.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgformer.data import STANDARD_LEADS, RecordError
from ecgformer.data.base import Candidate, WfdbReader
from ecgformer.data.wfdb_io import check_data_files, load_wfdb_record, read_header, read_signal

SOURCES = {  # name -> path under the data root
    "ptbxl": "ptbxl/records100/00000/00001_lr",
    "ludb": "ludb/data/1",
    "cinc2017": "cinc2017/training2017/A00001",
    "georgia": "cinc2021/training/georgia/E00271",
}


def fuzz(examples: int) -> settings:
    """Reproducible hypothesis settings: the same ``examples`` examples on every run, no deadline, no database."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


#: Replacement tokens: the values that break naive parsers, and some that look almost right
NASTY = ["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e-320", "1e-300", "1e8", "0", "-0", "-1", "-500",
         "99999999999999999999", "-99999999999999999999", "1.5", "0x10", "", "abc", "\x00", "12(", "1000(",
         "1000(5)/", "/mV", "(3)", "16+99999999999", "16x2", "16:3", "212+3", "nanx", "1_000", "٣"]


@pytest.fixture(scope="module")
def originals(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real records, copied once: name -> record path (no suffix) in a private folder."""
    out = {}
    for name, relative in SOURCES.items():
        base = data_root / relative
        if not base.with_suffix(".hea").is_file():
            pytest.skip(f"{relative} not present")
        folder = tmp_path_factory.mktemp(name)
        for path in base.parent.glob(f"{base.name}.*"):
            if path.suffix in (".hea", ".dat", ".mat"):
                shutil.copy(path, folder / path.name)
        out[name] = folder / base.name
    return out


def _workspace(original: Path) -> Iterator[Path]:
    """A fresh folder holding a copy of ``original``'s files; yields the copy's record path."""
    with tempfile.TemporaryDirectory() as folder:
        for path in original.parent.iterdir():
            shutil.copy(path, Path(folder) / path.name)
        yield Path(folder) / original.name


def _rewrite_header(base: Path, mutate: Callable[[list[str]], list[str]]) -> None:
    """Pass the lines of ``base``'s header through ``mutate`` (written as UTF-8: any bytes are fair game)."""
    path = base.with_suffix(".hea")
    path.write_bytes(("\n".join(mutate(path.read_text(encoding="latin-1").splitlines())) + "\n").encode())


UNITS_TO_MV = {"mv": 1.0, "uv": 1e-3, "v": 1e3}  # physical units -> mV, for the reference readers


def _reference(base: Path) -> np.ndarray | None:
    """The record in mV (file order) as read by wfdb / scipy, or ``None`` when they cannot read it either."""
    try:
        header = wfdb.rdheader(str(base))
        scale = np.array([UNITS_TO_MV[(u or "mV").lower()] for u in header.units])[:, None]
        gain = np.asarray(header.adc_gain, dtype=np.float64)[:, None]
        if not (np.isfinite(gain).all() and (gain > 0).all() and np.isfinite(header.fs) and header.fs > 0):
            return None
        if header.file_name[0].lower().endswith(".mat"):
            digital = scipy.io.loadmat(base.with_suffix(".mat"))["val"].astype(np.float64)
            return (digital - np.asarray(header.baseline, dtype=np.float64)[:, None]) / gain * scale
        return wfdb.rdrecord(str(base)).p_signal.T * scale
    except Exception:  # noqa: BLE001 - the reference readers fail in their own ways; then there is nothing to compare
        return None


def _outcome(base: Path, record: str) -> np.ndarray | None:
    """Read a record; assert the contract (and agreement with the reference readers); return the signal in file
    order, or ``None`` after a proper RecordError."""
    try:
        header = read_header(base, record)
        loaded = load_wfdb_record(header, record)
    except RecordError as exc:
        message = str(exc)
        assert exc.record == record and message.startswith(f"record {record}: ")
        assert "\n" not in message and "\r" not in message, message
        return None
    n_samples = header.n_samples if header.n_samples is not None else check_data_files(header, record)
    assert loaded.signal.dtype == np.float32 and loaded.signal.shape == (header.n_sig, n_samples)
    assert np.isfinite(loaded.signal).all()
    assert 1 <= loaded.fs <= 1e6 and all(0 < s.gain < np.inf for s in header.signals)
    signal = read_signal(header, record=record)
    reference = _reference(base)
    if reference is not None and reference.shape == signal.shape:
        np.testing.assert_allclose(signal, reference, rtol=1e-5, atol=1e-6)
    return signal


# ---------------------------------------------------------------- header mutations
@st.composite
def header_mutation(draw: st.DrawFn) -> Callable[[list[str]], list[str]]:
    """A function that mutates the lines of a header."""
    kind = draw(st.sampled_from(["token", "token", "token", "drop", "duplicate", "swap", "n_sig", "cut", "insert"]))
    replacement = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=6)))
    i, j = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    count = draw(st.integers(-3, 40))
    cut = draw(st.integers(0, 2000))

    def mutate(lines: list[str]) -> list[str]:
        body = [k for k, line in enumerate(lines) if line.strip() and not line.startswith("#")]
        a, b = body[i % len(body)], body[j % len(body)]
        out = list(lines)
        if kind == "token":
            tokens = out[a].split()
            tokens[j % len(tokens)] = replacement
            out[a] = " ".join(tokens)
        elif kind == "drop":
            del out[a]
        elif kind == "duplicate":
            out.insert(a, out[a])
        elif kind == "swap":
            out[a], out[b] = out[b], out[a]
        elif kind == "n_sig":
            tokens = out[0].split()
            tokens[1] = str(count)
            out[0] = " ".join(tokens)
        elif kind == "cut":
            return "\n".join(out)[:cut].split("\n")
        else:
            out.insert(a, replacement)
        return out

    return mutate


@fuzz(400)
@given(name=st.sampled_from(sorted(SOURCES)), mutate=header_mutation())
def test_mutated_headers_read_or_fail_with_a_record_error(originals: dict[str, Path], name: str,
                                                          mutate: Callable[[list[str]], list[str]]) -> None:
    for base in _workspace(originals[name]):
        _rewrite_header(base, mutate)
        _outcome(base, "fuzzed")


@fuzz(60)
@given(name=st.sampled_from(sorted(SOURCES)), seed=st.integers(0, 2 ** 32 - 1),
       edit=st.sampled_from(["comment", "blank", "case", "spaces", "crlf"]))
def test_mutations_that_keep_the_meaning_keep_the_samples(originals: dict[str, Path], name: str, seed: int,
                                                          edit: str) -> None:
    """Comments, blank lines, lead-name case, extra spaces and CRLF line ends change nothing (no wrong result)."""
    expected = _outcome(originals[name], "original")
    assert expected is not None
    rng = np.random.default_rng(seed)
    for base in _workspace(originals[name]):
        header = base.with_suffix(".hea")
        lines = header.read_text(encoding="latin-1").splitlines()
        k = int(rng.integers(1, len(lines) + 1))
        if edit == "comment":
            lines.insert(k, "# " + "".join(rng.choice(list("abc:#,. 0129"), size=12)))
        elif edit == "blank":
            lines.insert(k, " " * int(rng.integers(0, 4)))
        elif edit == "case":  # lead names (description, from the 9th token on) in capitals or lower case
            change = str.upper if seed % 2 else str.lower
            lines = [lines[0], *(" ".join([*line.split()[:8], change(" ".join(line.split()[8:]))])
                                 if line and not line.startswith("#") else line for line in lines[1:])]
        elif edit == "spaces":
            lines = ["  " + "   ".join(line.split()) + " \t" for line in lines]
        header.write_text(("\r\n" if edit == "crlf" else "\n").join(lines) + "\n", encoding="latin-1")
        got = _outcome(base, "original")
        assert got is not None
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- data file mutations
@st.composite
def data_mutation(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    """A function that mutates the bytes of a data file (MAT v4 header fields included)."""
    kind = draw(st.sampled_from(["truncate", "flip", "append", "mat_field", "mat_field", "zero_head"]))
    position = draw(st.integers(0, 10 ** 6))
    length = draw(st.integers(1, 64))
    field = draw(st.integers(0, 4))
    value = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 4, 10, 20, 30, 31, 40, 50, 60, 1030, 2030, -1, 2 ** 31 - 1,
                                            -(2 ** 31), 9000, 8999, 9001, 5000, 12, 13, 65, 0x7FF00000]),
                           st.integers(-(2 ** 31), 2 ** 31 - 1)))
    noise = draw(st.binary(min_size=1, max_size=64))

    def mutate(raw: bytes) -> bytes:
        if kind == "truncate":
            return raw[: position % (len(raw) + 1)]
        if kind == "flip":
            at = position % len(raw)
            return raw[:at] + bytes(x ^ y for x, y in zip(raw[at:at + len(noise)], noise)) + raw[at + len(noise):]
        if kind == "append":
            return raw + noise
        if kind == "zero_head":
            return bytes(min(length, len(raw))) + raw[length:]
        return raw[: 4 * field] + struct.pack("<i", value) + raw[4 * field + 4:]

    return mutate


@fuzz(400)
@given(name=st.sampled_from(sorted(SOURCES)), mutate=data_mutation())
def test_mutated_data_files_read_or_fail_with_a_record_error(originals: dict[str, Path], name: str,
                                                             mutate: Callable[[bytes], bytes]) -> None:
    for base in _workspace(originals[name]):
        data = next(p for p in base.parent.iterdir() if p.suffix in (".dat", ".mat"))
        data.write_bytes(mutate(data.read_bytes()))
        _outcome(base, "fuzzed")


# ---------------------------------------------------------------- one mutated record in a dataset
class _Folder(WfdbReader):
    """Every ``*.hea`` of a folder as a 12-lead record of one class."""

    name = "fuzz"
    folder = "fuzz"
    tasks = ("all",)
    dataset_leads = STANDARD_LEADS

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        return ["x"], [Candidate(p.stem, p, labels=("x",), fold=1) for p in sorted(self.root.glob("*.hea"))]


@pytest.fixture(scope="module")
def ludb_records(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LUDB records 1-3, copied."""
    folder = tmp_path_factory.mktemp("ludb")
    for record in ("1", "2", "3"):
        for suffix in (".hea", ".dat"):
            path = data_root / "ludb" / "data" / f"{record}{suffix}"
            if not path.is_file():
                pytest.skip("LUDB not present")
            shutil.copy(path, folder / path.name)
    return folder


@fuzz(60)
@given(header=header_mutation(), data=data_mutation(), which=st.sampled_from(["header", "data", "both"]))
def test_one_mutated_record_never_stops_the_others(ludb_records: Path, header: Callable[[list[str]], list[str]],
                                                   data: Callable[[bytes], bytes], which: str) -> None:
    for base in _workspace(ludb_records / "2"):
        if which in ("header", "both"):
            _rewrite_header(base, header)
        if which in ("data", "both"):
            path = base.with_suffix(".dat")
            path.write_bytes(data(path.read_bytes()))
        reader = _Folder(base.parent, task="all", on_error="skip")
        reader.validate()
        assert {"1", "3"} <= set(reader.record_ids)
        assert set(reader.record_ids) | {s.record for s in reader.skipped} == {"1", "2", "3"}
        assert all(s.record == "2" and "\n" not in s.reason for s in reader.skipped)
        for i in range(len(reader)):
            record = reader.load(i)
            assert record.signal.shape[0] == 12 and record.leads == STANDARD_LEADS
            assert np.isfinite(record.signal).all()
        summary = reader.summary(load=False)
        assert summary["records"] == sum(summary["sampling_rates"].values()) == len(reader)
        assert all(np.isfinite(v) for v in summary["length_s"].values())
