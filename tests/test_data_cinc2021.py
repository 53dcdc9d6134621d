"""CinC 2020/2021 reader: scored labels equal an independent mapping of #Dx through the scoring files."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ecgformer.data import CinC2021, RecordError


@pytest.fixture(scope="module")
def root(dataset_dir: Callable[[str, str], Path]) -> Path:
    return dataset_dir("cinc2021", "weights.csv")


@pytest.fixture(scope="module")
def reader(root: Path) -> CinC2021:
    return CinC2021(root)


def independent_labels(root: Path) -> tuple[list[str], dict[str, set[str]]]:
    """Per record: the weights.csv columns hit by its #Dx codes (equivalent codes share a column)."""
    with open(root / "weights.csv", newline="") as handle:
        columns = next(csv.reader(handle))[1:]
    with open(root / "dx_mapping_scored.csv", newline="") as handle:
        scored = {row["SNOMEDCTCode"] for row in csv.DictReader(handle)}
    column_of = {}
    for column in columns:
        for code in column.split("|"):
            column_of[code] = column
    assert scored <= set(column_of)
    out = {}
    for header in (root / "training").rglob("*.hea"):
        dx_lines = [line for line in header.read_text().splitlines() if line.startswith("#Dx")]
        codes = [c.strip() for c in dx_lines[0].split(":", 1)[1].split(",")]
        out[header.stem] = {column_of[c] for c in codes if c in scored}
    return columns, out


def test_scored_labels_match_independent_mapping(root: Path, reader: CinC2021) -> None:
    columns, expected = independent_labels(root)
    assert reader.class_codes == columns and len(columns) == 26
    assert set(reader.record_ids) == set(expected)
    for i, record_id in enumerate(reader.record_ids):
        got = {code for code, v in zip(reader.class_codes, reader.labels[i]) if v}
        assert got == expected[record_id], record_id
    # the merged equivalence classes really merge: e.g. RBBB (59118001) counts as CRBBB|RBBB
    assert "713427006|59118001" in reader.class_codes
    assert reader.classes[reader.class_codes.index("713427006|59118001")] == "CRBBB|RBBB"


def test_every_record_loads_with_sources_and_rates(reader: CinC2021) -> None:
    assert len(reader) == 226
    assert reader.validate() == []
    counts = reader.metadata["source"].value_counts().to_dict()
    assert counts == {"georgia": 70, "ningbo": 66, "ptb-xl": 37, "chapman_shaoxing": 19, "cpsc_2018": 14,
                      "cpsc_2018_extra": 10, "ptb": 10}
    assert reader.sampling_rates() == {500.0: 216, 1000.0: 10}
    georgia = reader.load(reader.index_of("E00271"))  # the non-standard record line
    assert georgia.signal.shape == (12, 5000) and georgia.fs == 500


def test_records_with_some_flat_leads_are_kept_and_listed(root: Path, reader: CinC2021) -> None:
    """Some Ningbo records have all-zero leads; the challenge kept them, so do we, listing the leads. Independent
    reference: rows of the .mat matrix (scipy) whose samples are all equal (peak to peak 0 < 1 µV = 1 adu)."""
    import scipy.io

    order = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    expected = {}
    for header in (root / "training").rglob("*.hea"):
        val = scipy.io.loadmat(header.with_suffix(".mat"))["val"]
        names = [line.split()[-1].replace("AVR", "aVR").replace("AVL", "aVL").replace("AVF", "aVF")
                 for line in header.read_text().splitlines()[1:13]]
        flat = sorted((names[k] for k in np.flatnonzero(np.ptp(val, axis=1) == 0)), key=order.index)
        if flat:
            expected[header.stem] = ",".join(flat)
    assert len(expected) == 6 and set(expected) <= set(reader.metadata.index[reader.metadata["source"] == "ningbo"])
    reader.validate()
    assert len(reader) == 226
    listed = reader.metadata["flat_leads"]
    assert listed[listed != ""].to_dict() == expected
    assert reader.summary()["flat_leads"] == {r: leads.split(",") for r, leads in expected.items()}


@pytest.mark.parametrize(("subset", "leads"), [("six", ("I", "II", "III", "aVR", "aVL", "aVF")),
                                                ("four", ("I", "II", "III", "V2")), ("three", ("I", "II", "V2")),
                                                ("two", ("I", "II"))])
def test_lead_subsets(root: Path, reader: CinC2021, subset: str, leads: tuple[str, ...]) -> None:
    small = CinC2021(root, leads=subset, sources=["cpsc_2018"])
    full = reader.load(reader.index_of(small.record_ids[0]))
    record = small.load(0)
    assert record.leads == leads
    np.testing.assert_array_equal(record.signal, full.signal[[full.leads.index(name) for name in leads]])


def test_all_task_and_unknown_codes(root: Path, reader: CinC2021) -> None:
    unknown = reader.metadata.loc[reader.metadata["dx_unknown"] != "", "dx_unknown"].to_dict()
    assert unknown == {"JS20006": "251238007"}  # not in either mapping file
    with pytest.raises(RecordError, match="JS20006: unknown SNOMED CT code 251238007"):
        CinC2021(root, task="all")
    everything = CinC2021(root, task="all", on_error="skip")
    assert [s.record for s in everything.skipped] == ["JS20006"]
    dx = everything.metadata.loc["JS20005", "dx"].split(",")
    row = everything.labels[everything.index_of("JS20005")]
    assert sorted(c for c, v in zip(everything.classes, row) if v) == sorted(dx)


def test_unscored_only_records_kept_negative_or_skipped(root: Path, reader: CinC2021) -> None:
    negative = np.flatnonzero(reader.labels.sum(axis=1) == 0)
    assert len(negative) > 0
    strict = CinC2021(root, unlabelled="skip")
    assert len(strict) == len(reader) - len(negative)
    assert all("no scored class" in s.reason for s in strict.skipped)
    with pytest.raises(RecordError, match="no scored class"):
        CinC2021(root, unlabelled="raise")
    assert reader.scoring_weights().shape == (26, 26)
