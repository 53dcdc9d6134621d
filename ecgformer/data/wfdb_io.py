"""Tolerant WFDB header parser and signal reader (formats 16, 61, 80, 160, 212, 24, 32; ``.dat`` and ``.mat``).

One parser serves every reader. It accepts what PhysioNet actually publishes, including the
PhysioNet/CinC 2020/2021 record lines that ``wfdb.rdheader`` rejects (``E00271.mat 12 500 5000
05-May-2020 14:50:55``: the record name carries ``.mat``, the date is ``dd-Mon-yyyy``) and the
challenge ``.mat`` files (a MATLAB v4 matrix whose 24-byte header the ``16+24`` format skips).
Signals are returned in millivolts as float32, rows = leads; partial reads seek into the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import RecordError
from .leads import canonical_order, lead_indices, normalize_lead_name

__all__ = [
    "SignalSpec", "WfdbHeader", "EcgRecord", "read_header", "parse_header_text", "check_data_files",
    "read_signal", "load_wfdb_record", "comment_fields", "SUPPORTED_FORMATS",
]

#: bytes per sample of the supported fixed-width formats (212 packs two samples in three bytes)
_DTYPES = {16: "<i2", 61: ">i2", 80: "u1", 160: "<u2", 32: "<i4"}
_OFFSETS = {80: 128, 160: 32768}
_INVALID = {16: -32768, 61: -32768, 80: -128, 160: -32768, 212: -2048, 24: -(2 ** 23), 32: -(2 ** 31)}
SUPPORTED_FORMATS: tuple[int, ...] = (16, 61, 80, 160, 212, 24, 32)
_BYTES = {16: 2.0, 61: 2.0, 80: 1.0, 160: 2.0, 32: 4.0, 24: 3.0, 212: 1.5}
_UNITS_TO_MV = {"mv": 1.0, "uv": 1e-3, "μv": 1e-3, "µv": 1e-3, "v": 1e3, "nv": 1e-6}
_FORMAT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
_GAIN_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:\(([+-]?\d+)\))?(?:/(.+))?$")
_DEFAULT_GAIN = 200.0  # WFDB: a gain of 0 or no gain means "uncalibrated, 200 adu per unit"


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


def _int_or_none(token: str | None) -> int | None:
    return None if token is None else int(token)


def parse_header_text(text: str, path: Path, record: str | None = None) -> WfdbHeader:
    """Parse the text of a ``.hea`` file; ``record`` names the record in errors (default: file stem)."""
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
    try:
        n_sig = int(tokens[1]) if len(tokens) > 1 else 0
        fs = float(tokens[2].split("/")[0]) if len(tokens) > 2 else 250.0
        n_samples = int(tokens[3]) if len(tokens) > 3 else None
    except ValueError as exc:
        raise RecordError(record, f"header {path}: unreadable record line {body[0]!r} ({exc})") from None
    if fs <= 0:
        raise RecordError(record, f"header {path}: sampling rate {fs} is not positive")
    signal_lines = body[1:]
    if len(signal_lines) != n_sig:
        raise RecordError(record, f"header {path} declares {n_sig} signals but has {len(signal_lines)} signal lines")
    signals = tuple(_parse_signal_line(line, path, record) for line in signal_lines)
    stamps = tokens[4:6]  # WFDB writes "time date"; the challenge headers write "date time"
    base_time = next((t for t in stamps if ":" in t), None)
    base_date = next((t for t in stamps if ":" not in t), None)
    return WfdbHeader(path=path, record_name=name, n_sig=n_sig, fs=fs, n_samples=n_samples,
                      base_time=base_time, base_date=base_date, signals=signals, comments=comments)


def _parse_signal_line(line: str, path: Path, record: str) -> SignalSpec:
    tokens = line.split()
    if len(tokens) < 2:
        raise RecordError(record, f"header {path}: signal line {line!r} has no format")
    match = _FORMAT_RE.match(tokens[1])
    if not match:
        raise RecordError(record, f"header {path}: unreadable format {tokens[1]!r}")
    fmt, spf, skew, offset = match.groups()
    if spf not in (None, "1") or skew not in (None, "0"):
        raise RecordError(record, f"header {path}: multi-frequency or skewed signals ({tokens[1]}) not supported")
    gain, baseline, units = 0.0, None, "mV"
    if len(tokens) > 2:
        gmatch = _GAIN_RE.match(tokens[2])
        if not gmatch:
            raise RecordError(record, f"header {path}: unreadable gain {tokens[2]!r}")
        gain = float(gmatch.group(1))
        baseline = _int_or_none(gmatch.group(2))
        units = gmatch.group(3) or "mV"
    try:
        adc_zero = int(tokens[4]) if len(tokens) > 4 else 0
        init_value = _int_or_none(tokens[5] if len(tokens) > 5 else None)
        checksum = _int_or_none(tokens[6] if len(tokens) > 6 else None)
    except ValueError as exc:
        raise RecordError(record, f"header {path}: unreadable signal line {line!r} ({exc})") from None
    return SignalSpec(
        file_name=tokens[0], fmt=int(fmt), byte_offset=int(offset or 0),
        gain=gain if gain != 0 else _DEFAULT_GAIN,
        baseline=adc_zero if baseline is None else baseline, units=units, adc_zero=adc_zero,
        init_value=init_value, checksum=checksum,
        description=" ".join(tokens[8:]) if len(tokens) > 8 else "")


def read_header(path: str | Path, record: str | None = None) -> WfdbHeader:
    """Read and parse a ``.hea`` file (the suffix may be omitted); errors name ``record``."""
    path = Path(path)
    if path.suffix != ".hea":
        path = path.with_name(path.name + ".hea")
    record = record or path.stem
    try:
        text = path.read_text(encoding="latin-1")
    except FileNotFoundError:
        raise RecordError(record, f"missing header file {path}") from None
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


def _file_layout(header: WfdbHeader, record: str) -> list[tuple[Path, list[int], int, int]]:
    """Per data file: path, the signal indices it holds, its format and byte offset."""
    layout: dict[str, tuple[Path, list[int], int, int]] = {}
    for i, spec in enumerate(header.signals):
        if spec.fmt not in SUPPORTED_FORMATS:
            raise RecordError(record, f"signal format {spec.fmt} of {spec.file_name} is not supported "
                                      f"(supported: {', '.join(map(str, SUPPORTED_FORMATS))})")
        if spec.file_name not in layout:
            layout[spec.file_name] = (header.directory / spec.file_name, [], spec.fmt, spec.byte_offset)
        entry = layout[spec.file_name]
        if entry[2] != spec.fmt:
            raise RecordError(record, f"{spec.file_name} mixes formats {entry[2]} and {spec.fmt}")
        entry[1].append(i)
    return list(layout.values())


def _available_samples(path: Path, n_in_file: int, fmt: int, offset: int, record: str) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RecordError(record, f"missing data file {path}") from None
    return int((size - offset) // (n_in_file * _BYTES[fmt])) if size > offset else 0


def check_data_files(header: WfdbHeader, record: str | None = None) -> int:
    """Check that every data file exists and holds the samples the header promises.

    Returns the record length in samples (inferred from the file size when the header has none).
    Raises :class:`RecordError` for a missing or truncated file, or a ``.mat`` matrix whose shape
    disagrees with the header.
    """
    record = record or header.record_name
    lengths = []
    for path, indices, fmt, offset in _file_layout(header, record):
        available = _available_samples(path, len(indices), fmt, offset, record)
        if header.n_samples is not None and available < header.n_samples:
            expected = offset + int(np.ceil(header.n_samples * len(indices) * _BYTES[fmt]))
            raise RecordError(record, f"truncated data file {path.name}: header promises {header.n_samples} "
                                      f"samples x {len(indices)} signals ({expected} bytes), file has "
                                      f"{path.stat().st_size} bytes")
        if path.suffix.lower() == ".mat" and offset >= 20:
            _check_mat_v4(path, len(indices), header.n_samples, record)
        lengths.append(available)
    return header.n_samples if header.n_samples is not None else min(lengths)


def _check_mat_v4(path: Path, n_sig: int, n_samples: int | None, record: str) -> None:
    """The challenge ``.mat`` files are MATLAB v4: 5 int32 (type, rows, cols, imag, name length)."""
    head = np.fromfile(path, dtype="<i4", count=5)
    if len(head) < 5 or head[0] not in (0, 10, 20, 30, 40, 50):
        return  # not a little-endian MAT v4 header: the WFDB byte offset alone describes the file
    rows, cols = int(head[1]), int(head[2])
    if rows != n_sig or (n_samples is not None and cols != n_samples):
        raise RecordError(record, f"{path.name} holds a {rows}x{cols} matrix but the header describes "
                                  f"{n_sig} signals x {n_samples} samples")


def _decode(path: Path, fmt: int, offset: int, n_in_file: int, start: int, stop: int) -> np.ndarray:
    """Read frames ``[start, stop)`` of one data file as int32 ``(T, n_in_file)``."""
    first, last = start * n_in_file, stop * n_in_file
    if fmt in _DTYPES:
        dtype = np.dtype(_DTYPES[fmt])
        raw = np.fromfile(path, dtype=dtype, count=last - first, offset=offset + first * dtype.itemsize)
        values = raw.astype(np.int32) - _OFFSETS.get(fmt, 0)
    elif fmt == 24:
        raw = np.fromfile(path, dtype=np.uint8, count=3 * (last - first), offset=offset + 3 * first)
        b = raw.reshape(-1, 3).astype(np.int32)
        values = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        values = np.where(values >= 2 ** 23, values - 2 ** 24, values)
    else:  # 212: two 12-bit samples in three bytes
        even = first - first % 2
        n_pairs = (last - even + 1) // 2
        raw = np.fromfile(path, dtype=np.uint8, count=3 * n_pairs, offset=offset + 3 * (even // 2))
        b = raw[: len(raw) - len(raw) % 3].reshape(-1, 3).astype(np.int32)
        pairs = np.empty((len(b), 2), dtype=np.int32)
        pairs[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        pairs[:, 1] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        values = pairs.reshape(-1)
        values = np.where(values >= 2048, values - 4096, values)[first - even: first - even + last - first]
    if values.size != last - first:
        raise RecordError(path.stem, f"truncated data file {path.name}: wanted frames {start}-{stop}")
    return values.reshape(-1, n_in_file)


def read_signal(header: WfdbHeader, start: int = 0, stop: int | None = None,
                record: str | None = None) -> np.ndarray:
    """Samples ``[start, stop)`` of every signal as float32 mV, shape ``(n_sig, T)``.

    Invalid samples (the format's "no data" code) become NaN. Raises :class:`RecordError` for a
    missing or truncated data file or an unsupported format or unit.
    """
    record = record or header.record_name
    n_total = check_data_files(header, record)
    stop = n_total if stop is None else stop
    if not 0 <= start < stop <= n_total:
        raise RecordError(record, f"sample range [{start}, {stop}) outside the record's {n_total} samples")
    out = np.empty((header.n_sig, stop - start), dtype=np.float32)
    for path, indices, fmt, offset in _file_layout(header, record):
        values = _decode(path, fmt, offset, len(indices), start, stop)
        invalid = values == _INVALID[fmt]
        for column, i in enumerate(indices):
            spec = header.signals[i]
            scale = _UNITS_TO_MV.get(spec.units.lower())
            if scale is None:
                raise RecordError(record, f"signal {spec.description or i} has unknown units {spec.units!r}")
            row = (values[:, column] - spec.baseline).astype(np.float32) * np.float32(scale / spec.gain)
            row[invalid[:, column]] = np.nan
            out[i] = row
    return out


def load_wfdb_record(header: WfdbHeader, record: str | None = None, leads: Sequence[str] | None = None,
                     start: int = 0, stop: int | None = None) -> EcgRecord:
    """Load a record as an :class:`EcgRecord` with canonical lead names in the standard order.

    ``leads`` (canonical names) selects and orders the rows; by default every lead is returned in
    the canonical order of :data:`ecgformer.data.leads.KNOWN_LEADS`. Raises :class:`RecordError`
    for an unknown lead name, a missing requested lead, or NaN/invalid samples.
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
