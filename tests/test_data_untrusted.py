"""Readers on copied real records made untrustworthy (issue 19): a 1-lead record inside a 12-lead dataset, a
NaN rate, an infinite gain, an all-zero signal. Each is left out and listed (or raised under ``on_error="raise"``)
with the record named; what the readers yield afterwards has one lead set, finite rates and counts that add up."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from ecgformer.data import PTBXL, STANDARD_LEADS, CinC2021, RecordCache, RecordError

PTBXL_IDS = range(1, 9)
CINC_RECORDS = ("A0001", "A0002", "A0003", "A0004", "A0005", "A0006")


@pytest.fixture()
def ptbxl_tree(dataset_dir: Callable[[str, str], Path], tmp_path: Path) -> Path:
    """PTB-XL records 1-8 (100 Hz) with their csv rows, copied."""
    source = dataset_dir("ptbxl", "ptbxl_database.csv")
    root = tmp_path / "ptbxl"
    (root / "records100" / "00000").mkdir(parents=True)
    database = pd.read_csv(source / "ptbxl_database.csv")
    database[database["ecg_id"].isin(PTBXL_IDS)].to_csv(root / "ptbxl_database.csv", index=False)
    shutil.copy(source / "scp_statements.csv", root / "scp_statements.csv")
    for ecg_id in PTBXL_IDS:
        for suffix in (".hea", ".dat"):
            name = f"records100/00000/{ecg_id:05d}_lr{suffix}"
            shutil.copy(source / name, root / name)
    return root


@pytest.fixture()
def cinc_tree(dataset_dir: Callable[[str, str], Path], tmp_path: Path) -> Path:
    """Six CPSC 2018 records of CinC 2021 with the four scoring files, copied."""
    source = dataset_dir("cinc2021", "weights.csv")
    root = tmp_path / "cinc2021"
    (root / "training" / "cpsc_2018").mkdir(parents=True)
    for name in ("weights.csv", "weights_abbreviations.csv", "dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
        shutil.copy(source / name, root / name)
    for record in CINC_RECORDS:
        for suffix in (".hea", ".mat"):
            shutil.copy(source / "training" / "cpsc_2018" / f"{record}{suffix}",
                        root / "training" / "cpsc_2018" / f"{record}{suffix}")
    return root


def _keep_one_lead_dat(base: Path, lead: int) -> None:
    """Rewrite a 12-lead format-16 record as a 1-lead record of lead ``lead`` (header and samples)."""
    lines = base.with_suffix(".hea").read_text().splitlines()
    record_line = lines[0].split()
    record_line[1] = "1"
    base.with_suffix(".hea").write_text("\n".join([" ".join(record_line), lines[1 + lead]]) + "\n")
    samples = np.fromfile(base.with_suffix(".dat"), dtype="<i2").reshape(-1, 12)
    samples[:, lead].astype("<i2").tofile(base.with_suffix(".dat"))


def _keep_one_lead_mat(base: Path, lead: int) -> None:
    """The same for a challenge ``.mat`` record (a 1 x samples int16 MATLAB v4 matrix)."""
    lines = base.with_suffix(".hea").read_text().splitlines()
    record_line = lines[0].split()
    record_line[1] = "1"
    comments = [line for line in lines if line.startswith("#")]
    base.with_suffix(".hea").write_text("\n".join([" ".join(record_line), lines[1 + lead], *comments]) + "\n")
    val = scipy.io.loadmat(base.with_suffix(".mat"))["val"]
    scipy.io.savemat(base.with_suffix(".mat"), {"val": val[lead:lead + 1].astype(np.int16)}, format="4")


def _edit_header(base: Path, line: int, token: int, value: str) -> None:
    lines = base.with_suffix(".hea").read_text().splitlines()
    tokens = lines[line].split()
    tokens[token] = value
    lines[line] = " ".join(tokens)
    base.with_suffix(".hea").write_text("\n".join(lines) + "\n")


def test_one_lead_record_in_ptbxl_is_skipped_naming_both_lead_lists(ptbxl_tree: Path, tmp_path: Path) -> None:
    _keep_one_lead_dat(ptbxl_tree / "records100" / "00000" / "00003_lr", lead=0)
    reader = PTBXL(ptbxl_tree, task="all", on_error="skip")
    assert reader.record_ids == ["1", "2", "4", "5", "6", "7", "8"]
    assert [s.record for s in reader.skipped] == ["3"]
    assert reader.skipped[0].reason == ("lead set mismatch: record has I; ptbxl records have I, II, III, aVR, aVL, "
                                        "aVF, V1, V2, V3, V4, V5, V6 (pass leads= to use a subset)")
    assert reader.leads == STANDARD_LEADS
    assert {reader.load(i).signal.shape for i in range(len(reader))} == {(12, 1000)}
    cache = RecordCache.build(reader, cache_dir=tmp_path / "cache", progress=False)
    assert cache.lead_sets == [STANDARD_LEADS] and cache.leads == STANDARD_LEADS
    with pytest.raises(RecordError, match="record 3: lead set mismatch: record has I; ptbxl records have I, II"):
        PTBXL(ptbxl_tree, task="all")
    # a record that has the requested leads fits a subset request
    subset = PTBXL(ptbxl_tree, task="all", leads=["I"])
    assert len(subset) == 8 and {subset.load(i).signal.shape for i in range(8)} == {(1, 1000)}
    missing = PTBXL(ptbxl_tree, task="all", leads=["I", "V2"], on_error="skip")
    assert [(s.record, s.reason) for s in missing.skipped] == [
        ("3", "lead set mismatch: requested lead(s) V2 missing (record has I; requested I, V2)")]


def test_one_lead_record_in_cinc2021_is_skipped(cinc_tree: Path) -> None:
    _keep_one_lead_mat(cinc_tree / "training" / "cpsc_2018" / "A0004", lead=1)
    reader = CinC2021(cinc_tree, on_error="skip")
    assert "A0004" not in reader.record_ids and len(reader) == 5
    assert [(s.record, s.reason) for s in reader.skipped] == [
        ("A0004", "lead set mismatch: record has II; cinc2021 records have I, II, III, aVR, aVL, aVF, V1, V2, V3, "
                  "V4, V5, V6 (pass leads= to use a subset)")]
    assert reader.validate() == [] and {reader.load(i).signal.shape[0] for i in range(len(reader))} == {12}
    with pytest.raises(RecordError, match="record A0004: lead set mismatch"):
        CinC2021(cinc_tree)
    two = CinC2021(cinc_tree, leads="two", on_error="skip")  # I, II: A0004 lacks I
    assert [s.record for s in two.skipped] == ["A0004"] and "requested lead(s) I missing" in two.skipped[0].reason


def test_requested_leads_outside_the_dataset_are_refused_up_front(cinc_tree: Path) -> None:
    with pytest.raises(ValueError, match="cinc2021: requested lead.s. MLII not among the dataset's leads I, II"):
        CinC2021(cinc_tree, leads=["I", "MLII"])


@pytest.mark.parametrize(("line", "token", "value", "reason"), [
    (0, 2, "nan", "sampling rate 'nan' is not a number"),
    (0, 2, "1e400", "sampling rate inf Hz is not a finite rate within 1-1e+06 Hz"),
    (0, 2, "0", "sampling rate 0 Hz is not a finite rate within 1-1e+06 Hz"),
    (3, 2, "1e400/mV", "ADC gain '1e400/mV' of signal III in A0002.mat is not a finite positive number"),
])
def test_header_values_that_cannot_describe_a_record_are_record_errors(cinc_tree: Path, line: int, token: int,
                                                                       value: str, reason: str) -> None:
    _edit_header(cinc_tree / "training" / "cpsc_2018" / "A0002", line, token, value)
    reader = CinC2021(cinc_tree, on_error="skip")
    assert [s.record for s in reader.skipped] == ["A0002"] and reason in reader.skipped[0].reason
    assert reader.sampling_rates() == {500.0: 5}
    with pytest.raises(RecordError, match="record A0002: "):
        CinC2021(cinc_tree)


def _zero_mat(base: Path, leads: slice) -> None:
    """Set the samples of ``leads`` to 0 (the CPSC headers' baseline: 0 mV)."""
    val = scipy.io.loadmat(base.with_suffix(".mat"))["val"]
    val[leads] = 0
    scipy.io.savemat(base.with_suffix(".mat"), {"val": val.astype(np.int16)}, format="4")


def test_flat_records_are_skipped_by_default_raised_or_kept(cinc_tree: Path, tmp_path: Path) -> None:
    from ecgformer.data.errors import FlatSignalError

    folder = cinc_tree / "training" / "cpsc_2018"
    _zero_mat(folder / "A0005", slice(None))  # every lead 0 mV
    _zero_mat(folder / "A0003", slice(6, 12))  # V1-V6 0 mV, as some Ningbo records of the challenge
    reader = CinC2021(cinc_tree)  # on_error="raise": flat records follow flat="skip" all the same
    assert len(reader) == 6  # flatness shows only when the signals are read
    with pytest.raises(FlatSignalError, match="record A0005: flat signal: every lead .I, II, .*V6. spans less than "
                                              "1 µV peak to peak"):
        reader.load(reader.index_of("A0005"))
    assert reader.load(reader.index_of("A0005"), 0, 100).signal.shape == (12, 100)  # a piece is not the record
    dropped = reader.validate()
    assert [s.record for s in dropped] == ["A0005"] and "flat signal" in dropped[0].reason
    assert "A0005" not in reader.record_ids and [s.record for s in reader.skipped] == ["A0005"]
    assert reader.metadata.loc["A0003", "flat_leads"] == "V1,V2,V3,V4,V5,V6"
    assert (reader.metadata.drop(index="A0003")["flat_leads"] == "").all()
    with pytest.raises(FlatSignalError, match="record A0005"):
        CinC2021(cinc_tree, flat="raise").validate()
    kept = CinC2021(cinc_tree, flat="keep")
    assert kept.validate() == [] and not kept.load(kept.index_of("A0005")).signal.any()
    cache = RecordCache.build(CinC2021(cinc_tree, on_error="skip"), cache_dir=tmp_path / "cache", progress=False)
    assert "A0005" not in cache.record_ids and [s.record for s in cache.skipped] == ["A0005"]


def test_summary_counts_add_up(cinc_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ecgformer.cli import main

    folder = cinc_tree / "training" / "cpsc_2018"
    _edit_header(folder / "A0001", 0, 2, "nan")
    _edit_header(folder / "A0002", 3, 2, "1e400/mV")
    _keep_one_lead_mat(folder / "A0003", lead=0)
    _zero_mat(folder / "A0004", slice(None))
    _zero_mat(folder / "A0005", slice(0, 1))
    assert main(["data", "summary", "--dataset", "cinc2021", "--root", str(cinc_tree), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 2 == sum(summary["sampling_rates"].values())
    assert summary["sampling_rates"] == {"500": 2}
    assert all(np.isfinite(v) and v > 0 for v in summary["length_s"].values())
    reasons = {s["record"]: s["reason"] for s in summary["skipped"]}
    assert sorted(reasons) == ["A0001", "A0002", "A0003", "A0004"]
    assert "sampling rate 'nan' is not a number" in reasons["A0001"] and "ADC gain '1e400/mV'" in reasons["A0002"]
    assert "lead set mismatch" in reasons["A0003"] and "flat signal" in reasons["A0004"]
    assert summary["flat_leads"] == {"A0005": ["I"]}
    assert main(["data", "summary", "--dataset", "cinc2021", "--root", str(cinc_tree), "--json", "--keep-flat"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert kept["records"] == 3 and "A0004" not in {s["record"] for s in kept["skipped"]}
    assert main(["data", "summary", "--dataset", "cinc2021", "--root", str(cinc_tree)]) == 0
    text = capsys.readouterr().out
    assert "2 loaded (signals read), 4 skipped" in text and "500 Hz x 2" in text and "A0005: I" in text
