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


# ---------------------------------------------------------------- bad options and folders (issue 19)
def _main_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``ecgformer`` with ``argv``; assert exit code 2, nothing on stdout and one ``error:`` line on stderr."""
    from ecgformer.cli import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(("options", "expected"), [
    (["--dataset", "ptbxl", "--task", "bogus"],
     "error: --task bogus: ptbxl tasks are all, diag, subdiag, superdiag, form, rhythm"),
    (["--dataset", "mitdb", "--task", "bogus"], "error: --task bogus: mitdb tasks are beats, windows, record"),
    (["--dataset", "ptbxl", "--leads", "V7"], "error: --leads V7: unknown lead name 'V7'; known leads: MLI, MLII"),
    (["--dataset", "cinc2021", "--leads", "I,V7"], "error: --leads I,V7: unknown lead name 'V7'"),
    (["--dataset", "ptbxl", "--leads", "MLII"],
     "error: --leads MLII: ptbxl records have no lead MLII (their leads: I, II, III, aVR, aVL, aVF, V1"),
    (["--dataset", "cinc2017", "--leads", "six"],
     "error: --leads six: cinc2017 records have no lead I (their leads: ECG)"),
    (["--dataset", "synthetic", "--leads", "V1"], "error: --leads: synthetic generates its records with fixed leads"),
    (["--dataset", "ptbxl", "--fs", "250"], "error: --fs 250: ptbxl files come at 100 or 500 Hz"),
    (["--dataset", "cinc2021", "--fs", "500"], "error: --fs 500: cinc2021 has one rate per record"),
])
def test_bad_options_end_in_one_error_line(options: list[str], expected: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("summary", "cache"):
        assert _main_error(["data", action, *options], capsys).startswith(expected)


@pytest.mark.parametrize(("dataset", "expected"), [
    ("cinc2021", "error: cinc2021: missing scoring file {root}/weights.csv"),
    ("cinc2017", "error: cinc2017: no REFERENCE csv under {root} (looked for training2017/REFERENCE.csv"),
    ("ptbxl", "error: ptbxl: missing ptbxl_database.csv in {root}"),
    ("ludb", "error: ludb: no usable record under {root} (0 skipped)"),
    ("mitdb", "error: mitdb: no usable record under {root} (0 skipped)"),
])
def test_empty_folders_end_in_one_error_line(tmp_path: Path, dataset: str, expected: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    line = _main_error(["data", "summary", "--dataset", dataset, "--root", str(tmp_path)], capsys)
    assert line.startswith(expected.format(root=tmp_path))
    missing = tmp_path / "nowhere"
    line = _main_error(["data", "summary", "--dataset", dataset, "--root", str(missing)], capsys)
    assert line == f"error: {dataset}: data folder {missing} does not exist (as root= gave it)"


@pytest.mark.parametrize(("dataset", "copied", "written", "options", "expected"), [
    ("ptbxl", ["ptbxl_database.csv"], {}, [], "ptbxl: missing scp_statements.csv in {root}"),
    ("ptbxl", ["ptbxl_database.csv"], {"scp_statements.csv": "code,diagnostic\nNORM,1\n"}, [],
     "ptbxl: {root}/scp_statements.csv has no column diagnostic_class"),
    ("cinc2021", ["weights.csv"], {}, [], "cinc2021: missing scoring file {root}/dx_mapping_scored.csv"),
    ("cinc2021", ["weights.csv"], {"dx_mapping_scored.csv": "Dx,Code\nAF,164889003\n"}, [],
     "cinc2021: {root}/dx_mapping_scored.csv has no column SNOMEDCTCode (columns: Dx, Code)"),
    ("cinc2021", [], {"weights.csv": "a,b\n"}, [], "cinc2021: {root}/weights.csv: empty weights table"),
    ("ludb", [], {}, ["--task", "ischemia"], "ludb: task 'ischemia' needs ludb.csv in {root} (without it the header "
                                             "comments give only the tasks all and rhythm)"),
])
def test_missing_or_broken_label_files_end_in_one_error_line(dataset_dir: Callable[[str, str], Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str], dataset: str,
                                                             copied: list[str], written: dict[str, str],
                                                             options: list[str], expected: str) -> None:
    for name in copied:
        shutil.copy(dataset_dir(dataset, name) / name, tmp_path / name)
    for name, text in written.items():
        (tmp_path / name).write_text(text)
    line = _main_error(["data", "summary", "--dataset", dataset, "--root", str(tmp_path), *options], capsys)
    assert line == "error: " + expected.format(root=tmp_path)
