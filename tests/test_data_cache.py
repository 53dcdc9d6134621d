"""Record cache: equal to the reader, reused when current, rebuilt when configuration or files change."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgformer.data import MITBIH, CinC2017, Preprocess, RecordCache, RecordError, resample


def make_cinc2017(root: Path, n: int = 6, nan_record: int | None = None) -> Path:
    folder = root / "training2017"
    folder.mkdir(parents=True)
    labels = "NAO~"
    rows = []
    for i in range(n):
        name = f"A{i + 1:05d}"
        t = np.arange(300 * (9 + i)) / 300
        x = (0.8 * np.sin(2 * np.pi * (1 + i / 10) * t))[:, None]
        if i == nan_record:
            x[50] = np.nan
        wfdb.wrsamp(name, fs=300, units=["mV"], sig_name=["ECG"], p_signal=x, fmt=["16"], adc_gain=[1000.0],
                    baseline=[0], write_dir=str(folder))
        rows.append(f"{name},{labels[i % 4]}\n")
    (folder / "REFERENCE.csv").write_text("".join(rows))
    return root


def test_cache_equals_reader_and_is_reused(tmp_path: Path) -> None:
    reader = CinC2017(make_cinc2017(tmp_path / "data"))
    cache = RecordCache.open_or_build(reader, None, tmp_path / "cache", progress=False)
    assert cache.record_ids == reader.record_ids and cache.classes == reader.classes
    np.testing.assert_array_equal(cache.labels, reader.labels)
    np.testing.assert_array_equal(cache.folds, reader.folds)
    for i in range(len(reader)):
        np.testing.assert_array_equal(cache.load(i).signal, reader.load(i).signal)
        np.testing.assert_array_equal(cache.load(i, 10, 50).signal, reader.load(i).signal[:, 10:50])
    assert isinstance(cache.signals, np.memmap)
    stamp = (cache.path / "signals.f32").stat().st_mtime_ns
    again = RecordCache.open_or_build(reader, None, tmp_path / "cache", progress=False)
    assert again.path == cache.path and (again.path / "signals.f32").stat().st_mtime_ns == stamp


def test_cache_rebuilds_when_config_or_files_change(tmp_path: Path) -> None:
    root = make_cinc2017(tmp_path / "data")
    reader = CinC2017(root)
    first = RecordCache.open_or_build(reader, None, tmp_path / "cache", progress=False)
    resampled = RecordCache.open_or_build(reader, Preprocess(fs=100), tmp_path / "cache", progress=False)
    assert resampled.path != first.path and resampled.fs == 100.0
    assert resampled.load(0).signal.shape[1] == pytest.approx(first.load(0).signal.shape[1] / 3, abs=1)
    # rewrite one record with other samples: same path and key, new fingerprint -> rebuilt
    folder = root / "training2017"
    x = np.linspace(-0.5, 0.5, 2700)[:, None]  # a ramp: a constant would be a flat record, left out by default
    time.sleep(0.01)
    wfdb.wrsamp("A00001", fs=300, units=["mV"], sig_name=["ECG"], p_signal=x, fmt=["16"], adc_gain=[1000.0],
                baseline=[0], write_dir=str(folder))
    os.utime(folder / "A00001.dat", ns=(time.time_ns(), time.time_ns()))
    reader = CinC2017(root)
    rebuilt = RecordCache.open_or_build(reader, None, tmp_path / "cache", progress=False)
    assert rebuilt.path == first.path
    np.testing.assert_allclose(rebuilt.load(0).signal, x.T, atol=1e-3)  # 1 adu at gain 1000


def test_concurrent_build_keeps_the_finished_cache(tmp_path: Path) -> None:
    """Two runs building the same cache at once: the one finishing second keeps the first one's folder
    (readers may have it memory-mapped) instead of failing or deleting it."""
    reader = CinC2017(make_cinc2017(tmp_path / "data"))
    first = RecordCache.build(reader, None, tmp_path / "cache", progress=False)
    inode = (first.path / "signals.f32").stat().st_ino
    second = RecordCache.build(reader, None, tmp_path / "cache", progress=False)
    assert second.path == first.path and (second.path / "signals.f32").stat().st_ino == inode
    for i in range(len(reader)):
        np.testing.assert_array_equal(first.load(i).signal, reader.load(i).signal)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [first.path.name]


def test_cache_skips_or_raises_on_nan_records(tmp_path: Path) -> None:
    root = make_cinc2017(tmp_path / "data", nan_record=2)
    with pytest.raises(RecordError, match="A00003: 1 NaN"):
        RecordCache.build(CinC2017(root), None, tmp_path / "cache", progress=False)
    cache = RecordCache.build(CinC2017(root, on_error="skip"), None, tmp_path / "cache", progress=False)
    assert "A00003" not in cache.record_ids and len(cache) == 5
    assert [s.record for s in cache.skipped] == ["A00003"]
    assert not list((tmp_path / "cache").glob("*.tmp-*"))  # the failed build left nothing behind


def test_mitdb_windows_over_a_preprocessed_cache(data_root: Path, tmp_path: Path) -> None:
    if not (data_root / "mitdb" / "RECORDS").is_file():
        pytest.skip("MIT-BIH not present")
    reader = MITBIH(data_root / "mitdb", leads=["MLII"], on_error="skip")  # 102 and 104 lack MLII
    cache = RecordCache.build(reader, Preprocess(fs=180), tmp_path, progress=False)
    assert cache.fs == 180 and cache.load(0).signal.shape == (1, 325000)
    np.testing.assert_array_equal(cache.split("DS1"), reader.split("DS1"))  # named splits survive caching
    raw, fast = reader.windows(), reader.windows(source=cache)
    np.testing.assert_array_equal(raw.labels, fast.labels)
    window = fast.load(100).signal
    expected = resample(raw.load(100).signal, 360, 180)
    assert window.shape == expected.shape == (1, 1800)
    assert np.corrcoef(window[0, 50:-50], expected[0, 50:-50])[0, 1] > 0.999
