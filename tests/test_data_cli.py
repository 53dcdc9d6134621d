"""``ecgformer data summary``, ``data cache``, ``bench data`` and the offline parts of the download scripts."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ecgformer.bench.data import add_data_bench_parser, bench_data
from ecgformer.data.cli import add_data_parser
from ecgformer.data.download import (
    check_layout,
    parse_sha256sums,
    select_files,
    sha256_file,
    verify_checksums,
    write_sha256sums,
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ecgformer")
    commands = parser.add_subparsers(dest="command", required=True)
    add_data_parser(commands)
    bench = commands.add_parser("bench").add_subparsers(dest="target", required=True)
    add_data_bench_parser(bench)
    args = parser.parse_args(argv)
    code = args.run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_summary_json_cinc2017(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = data_root / "cinc2017"
    if not root.is_dir():
        pytest.skip("CinC 2017 not present")
    code, out, _ = run(["data", "summary", "--dataset", "cinc2017", "--root", str(root), "--json"], capsys)
    summary = json.loads(out)
    with open(root / "training2017" / "REFERENCE.csv", newline="") as handle:
        counts = Counter(label for _, label in csv.reader(handle))
    assert code == 0
    assert summary["dataset"] == "cinc2017" and summary["task"] == "rhythm"
    assert summary["records"] == 5000 and summary["skipped"] == []
    assert summary["classes"] == ["N", "A", "O", "~"] and summary["label_counts"] == dict(counts)
    assert summary["sampling_rates"] == {"300": 5000}


def test_summary_json_ptbxl_superdiag_lists_skips(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = data_root / "ptbxl"
    if not root.is_dir():
        pytest.skip("PTB-XL not present")
    code, out, _ = run(["data", "summary", "--dataset", "ptbxl", "--root", str(root), "--task", "superdiag",
                     "--json", "--no-load"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["classes"] == ["NORM", "MI", "STTC", "CD", "HYP"]
    assert summary["records"] + len(summary["skipped"]) == 1999
    assert all(set(item) == {"record", "reason"} for item in summary["skipped"])
    assert sum(summary["sampling_rates"].values()) == summary["records"]
    code, out, _ = run(["data", "summary", "--dataset", "ptbxl", "--root", str(root), "--fs", "500", "--json",
                     "--no-load"], capsys)
    summary = json.loads(out)
    assert summary["records"] <= 20 and any("missing header file" in s["reason"] for s in summary["skipped"])
    code, _, _ = run(["data", "summary", "--dataset", "ptbxl", "--root", str(root), "--fs", "500", "--strict"], capsys)
    assert code == 2


def test_summary_text_mitdb_beats(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = data_root / "mitdb"
    if not root.is_dir():
        pytest.skip("MIT-BIH not present")
    code, out, _ = run(["data", "summary", "--dataset", "mitdb", "--root", str(root)], capsys)
    assert code == 0 and "mitdb-beats" in out and "360 Hz" in out
    assert [line.split()[0] for line in out.splitlines()[-5:]] == ["N", "S", "V", "F", "Q"]


def test_summary_of_a_missing_folder_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["data", "summary", "--dataset", "ludb", "--root", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and out == "" and "does not exist" in err


def test_cache_command_and_bench(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = data_root / "ludb"
    if not root.is_dir():
        pytest.skip("LUDB not present")
    code, out, _ = run(["data", "cache", "--dataset", "ludb", "--root", str(root), "--target-fs", "250",
                     "--cache-dir", str(tmp_path)], capsys)
    assert code == 0 and "200 records" in out
    result = bench_data("ludb", str(root), records=20, repeats=1, cache_dir=str(tmp_path))
    assert result["records"] == result["cached_records"] == 20
    assert result["wfdb_records_per_s"] > 0 and result["cache_sequential_records_per_s"] > 0
    code, out, _ = run(["bench", "data", "--dataset", "synthetic", "--records", "10", "--repeats", "1", "--json"],
                       capsys)
    assert code == 0 and json.loads(out)["records"] == 10


def test_checksums_and_layout_offline(data_root: Path, tmp_path: Path) -> None:
    root = data_root / "mitdb"
    if not root.is_dir():
        pytest.skip("MIT-BIH not present")
    for name in ("ptbxl", "cinc2021", "cinc2017", "mitdb", "ludb"):
        if (data_root / name).is_dir():
            assert check_layout(name, data_root / name) == [], name
    files = ["100.hea", "101.hea", "101.dat", "101.atr", "RECORDS"]
    present = [f for f in files if (root / f).is_file()]
    sums = parse_sha256sums(write_sha256sums(root, present, tmp_path / "SHA256SUMS.txt").read_text())
    assert set(sums) == set(present) and verify_checksums(root, tmp_path / "SHA256SUMS.txt") == []
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in present:
        shutil.copy(root / f, copy / f)
    data = bytearray((copy / "101.atr").read_bytes())
    data[100] ^= 0xFF  # one flipped byte
    (copy / "101.atr").write_bytes(bytes(data))
    (copy / "RECORDS").unlink()
    problems = verify_checksums(copy, sums)
    assert sorted(problems) == ["101.atr: checksum mismatch", "RECORDS: missing"]
    assert check_layout("mitdb", copy) == []  # without RECORDS: every .hea has .dat and .atr
    (copy / "101.dat").unlink()
    assert check_layout("mitdb", copy) == ["missing 101.dat"]
    assert select_files(["records100/00000/00001_lr.hea", "records500/x.hea", "ptbxl_database.csv"],
                        ["records100/*", "*.csv"]) == ["ptbxl_database.csv", "records100/00000/00001_lr.hea"]
    assert sha256_file(root / "101.hea") == sums["101.hea"]
    with pytest.raises(ValueError, match="not a sha256sum line"):
        parse_sha256sums("abc  file\n")


def test_registered_on_the_ecgformer_command(dataset_dir: Callable[[str, str], Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from ecgformer.cli import main

    root = dataset_dir("ludb", "ludb.csv")
    assert main(["data", "summary", "--dataset", "ludb", "--root", str(root), "--json", "--no-load"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 200 and summary["sampling_rates"] == {"500": 200}
