"""Tolerant WFDB header parser and signal reader (formats 16, 61, 80, 160, 212, 24, 32; ``.dat`` and ``.mat``).

One parser serves every reader. It accepts what PhysioNet actually publishes, including the
PhysioNet/CinC 2020/2021 record lines that ``wfdb.rdheader`` rejects (``E00271.mat 12 500 5000
05-May-2020 14:50:55``: the record name carries ``.mat``, the date is ``dd-Mon-yyyy``) and the
challenge ``.mat`` files (a MATLAB v4 matrix whose 24-byte header the ``16+24`` format skips).
Signals are returned in millivolts as float32, rows = leads; partial reads seek into the file.

Headers and data files are untrusted input: every value that would make a later step fail or give
a wrong result (a rate or gain that is not a finite positive number, a data file outside the
header's folder, a ``.mat`` file that is not the matrix the header describes) is a
:class:`~ecgformer.data.errors.RecordError` naming the record, never another exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import RecordError
from .leads import canonical_order, lead_indices, normalize_lead_name

__all__ = [
    "SignalSpec", "WfdbHeader", "EcgRecord", "read_header", "parse_header_text", "check_data_files",
    "read_signal", "load_wfdb_record", "comment_fields", "header_leads", "flat_leads", "SUPPORTED_FORMATS",
    "FS_RANGE_HZ", "FLAT_PEAK_TO_PEAK_MV",
]

#: sample type of the fixed-width formats (212 and 24 are unpacked by hand)
_DTYPES = {16: "<i2", 61: ">i2", 80: "u1", 160: "<u2", 32: "<i4"}
_OFFSETS = {80: 128, 160: 32768}
_INVALID = {16: -32768, 61: -32768, 80: -128, 160: -32768, 212: -2048, 24: -(2 ** 23), 32: -(2 ** 31)}
SUPPORTED_FORMATS: tuple[int, ...] = (16, 61, 80, 160, 212, 24, 32)
_BYTES = {16: 2.0, 61: 2.0, 80: 1.0, 160: 2.0, 32: 4.0, 24: 3.0, 212: 1.5}
_UNITS_TO_MV = {"mv": 1.0, "uv": 1e-3, "μv": 1e-3, "µv": 1e-3, "v": 1e3, "nv": 1e-6}
# Numbers in headers are plain ASCII decimals (int() and float() would also take "1_000", "nan", "٣")
_INT_RE = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FORMAT_RE = re.compile(r"([0-9]+)(?:x([0-9]+))?(?::([0-9]+))?(?:\+([0-9]+))?")
_GAIN_RE = re.compile(rf"({_FLOAT_RE.pattern})(?:\(({_INT_RE.pattern})\))?(?:/(.+))?")
_DEFAULT_GAIN = 200.0  # WFDB: a gain of 0 or no gain means "uncalibrated, 200 adu per unit"
_DEFAULT_FS = 250.0  # WFDB: the sampling frequency when the record line gives none
_SAMPLE_RANGE = (-(2 ** 31), 2 ** 31 - 1)  # WFDB_Sample is a 32-bit int: baselines and ADC zeros must fit

#: Sampling rates a header may declare, in Hz. ECGs are recorded at 50 Hz (old Holters) to a few tens
#: of kHz (pacemaker-spike detection); the bounds leave a wide margin on both sides and only refuse
#: values that cannot describe a recording (1e-300 Hz, 1e8 Hz) and on which resampling to a model's
#: rate breaks down (the polyphase up/down factors explode).
FS_RANGE_HZ: tuple[float, float] = (1.0, 1e6)

#: A lead whose samples span less than this (mV, i.e. 1 µV) over the whole record carries no ECG: it
#: is flat. The same threshold as the predictor's input check (``ecgformer.inference.bundle``).
FLAT_PEAK_TO_PEAK_MV = 1e-3

#: MATLAB v4 precision code (the P of the type field MOPT) -> numpy sample type (endianness added per file)
_MAT_PRECISIONS = {0: "f8", 1: "f4", 2: "i4", 3: "i2", 4: "u2", 5: "u1"}
_MAT_NAMES = {0: "double", 1: "single", 2: "int32", 3: "int16", 4: "uint16", 5: "uint8"}
_MAT_HEADER_BYTES = 20  # five int32: type, rows, columns, imaginary flag, name length (with its NUL)


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a WFDB header."""

    file_name: str
    fmt: int
    byte_offset: int
    gain: float
    baseline: int
    units: str
    adc_zero: int
    init_value: int | None
    checksum: int | None
    description: str


@dataclass(frozen=True)
class WfdbHeader:
    """A parsed WFDB header: record line, signal lines and comment lines."""

    path: Path
    record_name: str
    n_sig: int
    fs: float
    n_samples: int | None
    base_time: str | None
    base_date: str | None
    signals: tuple[SignalSpec, ...]
    comments: tuple[str, ...] = field(default_factory=tuple)

    @property
    def directory(self) -> Path:
        """Folder holding the header (and, by WFDB convention, its data files)."""
        return self.path.parent

    @property
    def descriptions(self) -> list[str]:
        """The signal descriptions as written in the header (lead names before normalisation)."""
        return [s.description for s in self.signals]

    def data_files(self) -> list[Path]:
        """Distinct data files of the record, in order of first use."""
        seen: dict[str, None] = {}
        for spec in self.signals:
            seen.setdefault(spec.file_name, None)
        return [self.directory / name for name in seen]

    def duration(self) -> float | None:
        """Length in seconds, when the header gives a sample count."""
        return None if self.n_samples is None else self.n_samples / self.fs


@dataclass
class EcgRecord:
    """A loaded ECG: ``signal`` is ``(leads, T)`` float32 in mV, rows named by ``leads``."""

    record_id: str
    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.signal.shape[-1] / self.fs


def _token(tokens: Sequence[str], i: int) -> str | None:
    return tokens[i] if i < len(tokens) else None


def _parse_number(token: str | None, what: str, path: Path, record: str, integer: bool = False) -> int | float | None:
    """``token`` as a decimal number, an ``int`` when ``integer`` (``None`` when absent); :class:`RecordError`
    naming ``what`` unless it is one."""
    if token is None:
        return None
    if not (_INT_RE if integer else _FLOAT_RE).fullmatch(token):
        raise RecordError(record, f"header {path}: {what} {token!r} is not {'an integer' if integer else 'a number'}")
    return int(token) if integer else float(token)


def parse_header_text(text: str, path: Path, record: str | None = None) -> WfdbHeader:
    """Parse the text of a ``.hea`` file; ``record`` names the record in errors (default: file stem).

    Raises :class:`RecordError` for a header that does not describe a usable record: no record line,
    a multi-segment record, unreadable numbers, a sampling rate that is not finite or outside
    :data:`FS_RANGE_HZ`, a negative sample count, no signals, or signal lines that disagree with the
    declared count or hold an invalid gain, baseline or file name.
    """
    record = record or path.stem
    lines = text.splitlines()
    comments = tuple(line.lstrip()[1:].strip() for line in lines if line.lstrip().startswith("#"))
    body = [line.split("#", 1)[0].strip() for line in lines if not line.lstrip().startswith("#")]
    body = [line for line in body if line]
    if not body:
        raise RecordError(record, f"header {path} has no record line")
    tokens = body[0].split()
    name = tokens[0]
    if "/" in name:
        raise RecordError(record, f"header {path} is a multi-segment record ({name}); not supported")
    for ext in (".mat", ".dat", ".hea"):
        name = name[: -len(ext)] if name.lower().endswith(ext) else name
    n_sig = _parse_number(_token(tokens, 1), "signal count", path, record, integer=True) or 0
    rate = _token(tokens, 2)
    fs = _parse_number(rate.split("/")[0], "sampling rate", path, record) if rate else _DEFAULT_FS
    if rate and "/" in rate:  # "rate/counter frequency(base counter value)"
        _parse_number(rate.split("/", 1)[1].split("(")[0], "counter frequency", path, record)
    n_samples = _parse_number(_token(tokens, 3), "sample count", path, record, integer=True)
    if not FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]:  # 1e400 parses to inf
        raise RecordError(record, f"header {path}: sampling rate {fs:g} Hz is not a finite rate within "
                                  f"{FS_RANGE_HZ[0]:g}-{FS_RANGE_HZ[1]:g} Hz")
    if n_samples is not None and n_samples < 0:
        raise RecordError(record, f"header {path}: negative sample count {n_samples}")
    if n_sig <= 0:
        raise RecordError(record, f"header {path} declares {n_sig} signals; a record needs at least one")
    signal_lines = body[1:]
    if len(signal_lines) != n_sig:
        raise RecordError(record, f"header {path} declares {n_sig} signals but has {len(signal_lines)} signal lines")
    signals = tuple(_parse_signal_line(line, path, record) for line in signal_lines)
    stamps = tokens[4:6]  # WFDB writes "time date"; the challenge headers write "date time"
    base_time = next((t for t in stamps if ":" in t), None)
    base_date = next((t for t in stamps if ":" not in t), None)
    # WFDB: a sample count of 0 means "not given" (the length then follows from the data file)
    return WfdbHeader(path=path, record_name=name, n_sig=n_sig, fs=fs, n_samples=n_samples or None,
                      base_time=base_time, base_date=base_date, signals=signals, comments=comments)


def _parse_signal_line(line: str, path: Path, record: str) -> SignalSpec:
    tokens = line.split()
    if len(tokens) < 2:
        raise RecordError(record, f"header {path}: signal line {line!r} has no format")
    file_name = tokens[0]
    description = " ".join(tokens[8:])
    signal = f"signal {description or '(unnamed)'} in {file_name}"
    if file_name in ("-", "~") or Path(file_name).name != file_name or "\\" in file_name:
        raise RecordError(record, f"header {path}: data file {file_name!r} is not a file name in the header's "
                                  f"folder (standard input, null signals and paths are not supported)")
    match = _FORMAT_RE.fullmatch(tokens[1])
    if not match:
        raise RecordError(record, f"header {path}: unreadable format {tokens[1]!r}")
    fmt, spf, skew, offset = match.groups()
    if spf not in (None, "1") or skew not in (None, "0"):
        raise RecordError(record, f"header {path}: multi-frequency or skewed signals ({tokens[1]}) not supported")
    gain, baseline, units = 0.0, None, "mV"
    if len(tokens) > 2:
        gmatch = _GAIN_RE.fullmatch(tokens[2])
        if not gmatch:
            raise RecordError(record, f"header {path}: unreadable gain {tokens[2]!r}")
        gain = float(gmatch.group(1))
        baseline = _parse_number(gmatch.group(2), "baseline", path, record, integer=True)
        units = gmatch.group(3) or "mV"
    # WFDB: gain 0 means uncalibrated (200 adu per unit). A negative gain would invert the lead (wfdb-python
    # refuses to write one); an infinite gain (1e400) would turn every sample into 0 mV; a gain so small that
    # 1/gain overflows would turn every sample into infinity.
    gain = gain if gain != 0 else _DEFAULT_GAIN
    if not (gain > 0 and math.isfinite(gain) and math.isfinite(1.0 / gain)):
        raise RecordError(record, f"header {path}: ADC gain {tokens[2]!r} of {signal} is not a finite positive "
                                  f"number")
    resolution = _parse_number(_token(tokens, 3), "ADC resolution", path, record, integer=True)
    if resolution is not None and not 0 <= resolution <= 32:
        raise RecordError(record, f"header {path}: ADC resolution {resolution} of {signal} is not 0-32 bits")
    adc_zero = _parse_number(_token(tokens, 4), "ADC zero", path, record, integer=True) or 0
    init_value = _parse_number(_token(tokens, 5), "initial value", path, record, integer=True)
    checksum = _parse_number(_token(tokens, 6), "checksum", path, record, integer=True)
    _parse_number(_token(tokens, 7), "block size", path, record, integer=True)
    baseline = adc_zero if baseline is None else baseline
    for what, value in (("baseline", baseline), ("ADC zero", adc_zero)):
        if not _SAMPLE_RANGE[0] <= value <= _SAMPLE_RANGE[1]:
            raise RecordError(record, f"header {path}: {what} {value} of {signal} is outside the 32-bit sample "
                                      f"range")
    return SignalSpec(
        file_name=file_name, fmt=int(fmt), byte_offset=int(offset or 0), gain=gain, baseline=baseline,
        units=units, adc_zero=adc_zero, init_value=init_value, checksum=checksum,
        description=description)


def read_header(path: str | Path, record: str | None = None) -> WfdbHeader:
    """Read and parse a ``.hea`` file (the suffix may be omitted); errors name ``record``."""
    path = Path(path)
    if path.suffix != ".hea":
        path = path.with_name(path.name + ".hea")
    record = record or path.stem
    if not path.exists():
        raise RecordError(record, f"missing header file {path}")
    if not path.is_file():  # a folder, a FIFO or a device: reading it fails or never ends
        raise RecordError(record, f"header {path} is not a regular file")
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise RecordError(record, f"cannot read header {path} ({exc.strerror or exc})") from None
    return parse_header_text(text, path, record)


def comment_fields(comments: Sequence[str]) -> dict[str, str]:
    """``Key: value`` comment lines as a dict with lower-case keys (``#<age>: 51`` -> ``{"age": "51"}``)."""
    out: dict[str, str] = {}
    for line in comments:
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.strip().strip("<>").strip().lower()
        if key and key not in out:
            out[key] = value.strip()
    return out


@dataclass(frozen=True)
class _DataFile:
    """How to read one data file: the signals it holds, where sample 0 starts and how samples are encoded.

    ``dtype`` is the sample type of fixed-width encodings (``None`` for the packed formats 212 and 24);
    ``shift`` is subtracted from every sample (offset-binary formats 80, 160); ``invalid`` is the "no
    data" code, if the encoding has one; ``frames`` is the length a MAT v4 matrix declares and
    ``mat_type`` its precision (``"int16"``, ``"double"``, ...).
    """

    path: Path
    indices: list[int]
    fmt: int
    offset: int
    dtype: np.dtype | None
    shift: int
    invalid: int | None
    frames: int | None = None
    mat_type: str | None = None

    @property
    def frame_bytes(self) -> float:
        """Bytes per frame (one sample of each signal in the file)."""
        per_sample = _BYTES[self.fmt] if self.dtype is None else float(self.dtype.itemsize)
        return per_sample * len(self.indices)


def _data_path(directory: Path, name: str, record: str) -> Path:
    path = directory / name
    if not path.exists():
        raise RecordError(record, f"missing data file {path}")
    if not path.is_file():
        raise RecordError(record, f"data file {path} is not a regular file")
    return path


def _file_layout(header: WfdbHeader, record: str) -> list[_DataFile]:
    """One :class:`_DataFile` per data file of the record, in order of first use."""
    groups: dict[str, tuple[int, list[int]]] = {}
    for i, spec in enumerate(header.signals):
        if spec.fmt not in SUPPORTED_FORMATS:
            raise RecordError(record, f"signal format {spec.fmt} of {spec.file_name} is not supported "
                                      f"(supported: {', '.join(map(str, SUPPORTED_FORMATS))})")
        fmt, indices = groups.setdefault(spec.file_name, (spec.fmt, []))
        if fmt != spec.fmt:
            raise RecordError(record, f"{spec.file_name} mixes formats {fmt} and {spec.fmt}")
        indices.append(i)
    out = []
    for name, (fmt, indices) in groups.items():
        path = _data_path(header.directory, name, record)
        offset = header.signals[indices[0]].byte_offset
        if path.suffix.lower() == ".mat":
            out.append(_mat_v4_layout(path, indices, fmt, header.n_samples, record))
        else:
            out.append(_DataFile(path, indices, fmt, offset, np.dtype(_DTYPES[fmt]) if fmt in _DTYPES else None,
                                 _OFFSETS.get(fmt, 0), _INVALID[fmt]))
    return out


def _mat_v4_layout(path: Path, indices: list[int], fmt: int, n_samples: int | None, record: str) -> _DataFile:
    """Read the MATLAB v4 header of a ``.mat`` data file (five int32: type MOPT, rows, columns, imaginary
    flag, name length) and describe its matrix, which must be real, full, ``signals x samples``.

    The matrix is decoded by its own precision. When that is the sample type of the header's WFDB format
    (int16 for 16 and 61, int32 for 32, uint8 for 80, uint16 for 160; the CinC 2017 and 2021 files are
    int16 with format 16) the format's offset and "no data" code apply; otherwise the values are taken as
    ADC units, as the challenges' reference loader (``scipy.io.loadmat``) reads them. The data start after
    the header and the variable name, whatever the WFDB byte offset says.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAT_HEADER_BYTES)
    except OSError as exc:
        raise RecordError(record, f"cannot read data file {path} ({exc.strerror or exc})") from None
    if head.startswith(b"MATLAB"):
        raise RecordError(record, f"{path.name} is a MATLAB 5 (or later) file; only MATLAB v4 matrices are read "
                                  f"(save with scipy.io.savemat(..., format='4') or MATLAB's -v4)")
    if len(head) < _MAT_HEADER_BYTES:
        raise RecordError(record, f"{path.name} has {len(head)} bytes, too short for a MATLAB v4 header")
    for order in ("<", ">"):
        fields = [int(v) for v in np.frombuffer(head, dtype=f"{order}i4")]
        machine = fields[0] // 1000 if fields[0] >= 0 else -1
        if machine == (0 if order == "<" else 1):  # M: 0 little-endian IEEE, 1 big-endian IEEE
            break
    else:
        raise RecordError(record, f"{path.name} is not a MATLAB v4 matrix of IEEE numbers (type field "
                                  f"{int.from_bytes(head[:4], 'little')})")
    mopt, rows, cols, imaginary, name_length = fields
    other, precision, kind = (mopt // 100) % 10, (mopt // 10) % 10, mopt % 10
    if other != 0 or kind != 0 or precision not in _MAT_PRECISIONS:
        raise RecordError(record, f"{path.name}: MATLAB v4 type {mopt} is not a full numeric matrix")
    if imaginary:
        raise RecordError(record, f"{path.name} holds a complex matrix")
    if not 1 <= name_length <= 64 or rows < 0 or cols < 0:
        raise RecordError(record, f"{path.name}: implausible MATLAB v4 header (rows {rows}, columns {cols}, "
                                  f"name length {name_length})")
    if rows != len(indices) or (n_samples is not None and cols != n_samples):
        raise RecordError(record, f"{path.name} holds a {rows}x{cols} matrix but the header describes "
                                  f"{len(indices)} signals x {n_samples} samples")
    dtype = np.dtype(order + _MAT_PRECISIONS[precision])
    offset = _MAT_HEADER_BYTES + name_length
    if fmt in _DTYPES and np.dtype(_DTYPES[fmt]) == dtype:  # the WFDB format's own encoding
        return _DataFile(path, indices, fmt, offset, dtype, _OFFSETS.get(fmt, 0), _INVALID[fmt], cols,
                         _MAT_NAMES[precision])
    return _DataFile(path, indices, fmt, offset, dtype, 0, None, cols, _MAT_NAMES[precision])


def _available_frames(data: _DataFile, record: str) -> int:
    try:
        size = data.path.stat().st_size
    except OSError as exc:
        raise RecordError(record, f"cannot read data file {data.path} ({exc.strerror or exc})") from None
    available = int((size - data.offset) // data.frame_bytes) if size > data.offset else 0
    if data.frames is not None and available < data.frames:
        raise RecordError(record, f"truncated data file {data.path.name}: its MATLAB header declares {data.frames} "
                                  f"samples x {len(data.indices)} signals, the file has {size} bytes")
    return available if data.frames is None else data.frames


def check_data_files(header: WfdbHeader, record: str | None = None) -> int:
    """Check that every data file exists and holds the samples the header promises.

    Returns the record length in samples (inferred from the file size when the header has none).
    Raises :class:`RecordError` for a missing, truncated or empty file, or a ``.mat`` file that is not
    a MATLAB v4 matrix of the header's shape.
    """
    return _checked_layout(header, record or header.record_name)[1]


def _checked_layout(header: WfdbHeader, record: str) -> tuple[list[_DataFile], int]:
    """The data files of the record (see :func:`check_data_files`) and its length in samples."""
    layout = _file_layout(header, record)
    lengths = []
    for data in layout:
        available = _available_frames(data, record)
        if header.n_samples is not None and available < header.n_samples:
            expected = data.offset + math.ceil(header.n_samples * Fraction(data.frame_bytes))  # exact for any count
            raise RecordError(record, f"truncated data file {data.path.name}: header promises {header.n_samples} "
                                      f"samples x {len(data.indices)} signals ({expected} bytes), file has "
                                      f"{data.path.stat().st_size} bytes")
        lengths.append(available)
    n_samples = header.n_samples if header.n_samples is not None else min(lengths)
    if n_samples == 0:
        raise RecordError(record, f"no samples: the data files of {header.path.name} hold no complete frame")
    return layout, n_samples


def _fromfile(data: _DataFile, dtype: np.dtype | str, count: int, offset: int, record: str) -> np.ndarray:
    try:
        return np.fromfile(data.path, dtype=dtype, count=count, offset=offset)
    except OSError as exc:
        raise RecordError(record, f"cannot read data file {data.path} ({exc.strerror or exc})") from None


def _decode(data: _DataFile, start: int, stop: int, record: str) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[start, stop)`` of one data file: the values ``(T, n_in_file)`` as float64 ADC units
    (format offsets removed) and where they are the encoding's "no data" code or not finite."""
    n_in_file = len(data.indices)
    first, last = start * n_in_file, stop * n_in_file
    if data.dtype is not None:
        raw = _fromfile(data, data.dtype, last - first, data.offset + first * data.dtype.itemsize, record)
    elif data.fmt == 24:
        b = _fromfile(data, np.uint8, 3 * (last - first), data.offset + 3 * first, record)
        b = b[: len(b) - len(b) % 3].reshape(-1, 3).astype(np.int32)
        raw = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        raw = np.where(raw >= 2 ** 23, raw - 2 ** 24, raw)
    else:  # 212: two 12-bit samples in three bytes
        even = first - first % 2
        n_pairs = (last - even + 1) // 2
        b = _fromfile(data, np.uint8, 3 * n_pairs, data.offset + 3 * (even // 2), record)
        b = b[: len(b) - len(b) % 3].reshape(-1, 3).astype(np.int32)
        pairs = np.empty((len(b), 2), dtype=np.int32)
        pairs[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        pairs[:, 1] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        raw = pairs.reshape(-1)
        raw = np.where(raw >= 2048, raw - 4096, raw)[first - even: first - even + last - first]
    if raw.size != last - first:
        raise RecordError(record, f"truncated data file {data.path.name}: wanted frames {start}-{stop}")
    values = raw.astype(np.float64) - data.shift
    invalid = ~np.isfinite(values)
    if data.invalid is not None:
        invalid |= values == data.invalid
    if raw.dtype.kind == "f" and not np.array_equal(values[~invalid], np.round(values[~invalid])):
        raise RecordError(record, f"{data.path.name} holds {data.mat_type} values that are not whole numbers, "
                                  f"but WFDB samples are integer ADC units (format {data.fmt} in the header)")
    return values.reshape(-1, n_in_file), invalid.reshape(-1, n_in_file)


def read_signal(header: WfdbHeader, start: int = 0, stop: int | None = None,
                record: str | None = None) -> np.ndarray:
    """Samples ``[start, stop)`` of every signal as float32 mV, shape ``(n_sig, T)``.

    Invalid samples (the format's "no data" code, or values that are not finite in float32 mV)
    become NaN. Raises :class:`RecordError` for a missing or truncated data file or an unsupported
    format or unit.
    """
    record = record or header.record_name
    layout, n_total = _checked_layout(header, record)
    stop = n_total if stop is None else stop
    if not 0 <= start < stop <= n_total:
        raise RecordError(record, f"sample range [{start}, {stop}) outside the record's {n_total} samples")
    out = np.empty((header.n_sig, stop - start), dtype=np.float32)
    for data in layout:
        values, invalid = _decode(data, start, stop, record)
        for column, i in enumerate(data.indices):
            spec = header.signals[i]
            scale = _UNITS_TO_MV.get(spec.units.lower())
            if scale is None:
                raise RecordError(record, f"signal {spec.description or i} has unknown units {spec.units!r}")
            with np.errstate(over="ignore", invalid="ignore"):
                row = ((values[:, column] - spec.baseline) * (scale / spec.gain)).astype(np.float32)
            row[invalid[:, column] | ~np.isfinite(row)] = np.nan
            out[i] = row
    return out


def flat_leads(signal: np.ndarray, leads: Sequence[str]) -> tuple[str, ...]:
    """The leads (rows of ``signal``, named by ``leads``) whose peak-to-peak amplitude is below
    :data:`FLAT_PEAK_TO_PEAK_MV`."""
    if signal.shape[-1] == 0:
        return tuple(leads)
    spans = np.ptp(signal, axis=-1)
    return tuple(name for name, span in zip(leads, spans) if span < FLAT_PEAK_TO_PEAK_MV)


def header_leads(header: WfdbHeader, record: str | None = None) -> list[str]:
    """Canonical lead names of the header's signals, in file order.

    Raises :class:`RecordError` for an unknown or repeated lead name.
    """
    record = record or header.record_name
    names = []
    for description in header.descriptions:
        canon = normalize_lead_name(description)
        if canon is None:
            raise RecordError(record, f"unknown lead name {description!r} in {header.path.name}")
        names.append(canon)
    if len(set(names)) != len(names):
        raise RecordError(record, f"duplicate lead names {names} in {header.path.name}")
    return names


def load_wfdb_record(header: WfdbHeader, record: str | None = None, leads: Sequence[str] | None = None,
                     start: int = 0, stop: int | None = None) -> EcgRecord:
    """Load a record as an :class:`EcgRecord` with canonical lead names in the standard order.

    ``leads`` (canonical names) selects and orders the rows; by default every lead is returned in
    the canonical order of :data:`ecgformer.data.leads.KNOWN_LEADS`. Raises :class:`RecordError`
    for an unknown lead name, a missing requested lead, or NaN/invalid samples.
    """
    record = record or header.record_name
    names = header_leads(header, record)
    wanted = list(leads) if leads is not None else canonical_order(names)
    try:
        rows = lead_indices(names, wanted)
    except KeyError as exc:
        raise RecordError(record, str(exc.args[0])) from None
    signal = read_signal(header, start, stop, record)[rows]
    bad = np.isnan(signal)
    if bad.any():
        per_lead = bad.sum(axis=1)
        worst = int(np.argmax(per_lead))
        raise RecordError(record, f"{int(bad.sum())} NaN/invalid samples (lead {wanted[worst]}: "
                                  f"{int(per_lead[worst])})")
    return EcgRecord(record_id=record, signal=signal, fs=header.fs, leads=tuple(wanted))
