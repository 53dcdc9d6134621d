"""CinC 2020/2021 reader: scored labels equal an independent mapping of #Dx through the scoring files."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from ecgformer.data import CinC2021, DataError, RecordError
from ecgformer.data.cinc2021 import read_scored_classes
from ecgformer.data.labels import hash_fold


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


# A hand-made miniature of the challenge layout: three scored classes (one merges two equivalent codes, one has
# no row in either mapping file) and a few 12-lead format-16 records with edge-case headers.
GROUPS = ["164889003", "713427006|59118001", "999999"]
ABBREVIATIONS = ["AF", "CRBBB|RBBB", "X"]
WEIGHTS = [[1.0, 0.5, 0.0], [0.5, 1.0, 0.25], [0.0, 0.25, 1.0]]
SCORED = [("atrial fibrillation", "164889003", "AF"), ("complete right bundle branch block", "713427006", "CRBBB"),
          ("right bundle branch block", "59118001", "RBBB")]
UNSCORED = [("abnormal QRS", "164951009", "abQRS")]
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def write_csv(path: Path, rows: Sequence[Sequence[object]]) -> None:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def write_scoring_files(root: Path, abbreviations: Sequence[str] | None = ABBREVIATIONS,
                        scored: Sequence[tuple[str, str, str]] = SCORED) -> None:
    """weights.csv (and weights_abbreviations.csv unless ``abbreviations`` is None) for GROUPS/WEIGHTS, and the
    two dx_mapping files."""
    root.mkdir(parents=True, exist_ok=True)
    write_csv(root / "weights.csv", [["", *GROUPS], *([g, *row] for g, row in zip(GROUPS, WEIGHTS))])
    if abbreviations is not None:
        write_csv(root / "weights_abbreviations.csv",
                  [["", *abbreviations], *([a, *row] for a, row in zip(abbreviations, WEIGHTS))])
    write_csv(root / "dx_mapping_scored.csv", [("Dx", "SNOMEDCTCode", "Abbreviation"), *scored])
    write_csv(root / "dx_mapping_unscored.csv", [("Dx", "SNOMEDCTCode", "Abbreviation"), *UNSCORED])


def write_record(folder: Path, name: str, comments: Sequence[str]) -> None:
    """A 12-lead, 50-sample format-16 record with the given ``#`` comment lines."""
    folder.mkdir(parents=True, exist_ok=True)
    (np.arange(50 * 12, dtype="<i2").reshape(50, 12) % 7).tofile(folder / f"{name}.dat")
    lines = [f"{name} 12 500 50", *(f"{name}.dat 16 1000/mV 16 0 0 0 0 {lead}" for lead in LEADS)]
    (folder / f"{name}.hea").write_text("\n".join([*lines, *(f"#{c}" for c in comments)]) + "\n")


def write_mini_dataset(root: Path, training: str) -> Path:
    """Scoring files in ``root``, records in ``root/training`` (``training="training"``) or ``root`` itself
    (``""``); returns the folder of the records. In stem order: A01 (src_b), B01, C01 (src_a), D01 (src_b, empty
    header), E01 (top level, no source folder), F01 (src_a). Path order differs (E01 first, then src_a, src_b)."""
    write_scoring_files(root)
    records = root / training
    write_record(records / "src_b", "A01", ["Age: 62.5", "Sex: Female", "Dx: 164889003,59118001"])
    write_record(records / "src_a", "B01", ["Dx: 111111, 222222"])  # no age, no sex, two unknown codes
    write_record(records / "src_a", "C01", ["Age: 40", "Sex: Male"])  # no #Dx line
    (records / "src_b" / "D01.hea").write_text("")
    write_record(records, "E01", ["Age: 1.2.3", "Sex: Male", "Dx: 713427006"])
    write_record(records / "src_a", "F01", ["Age: Unknown", "Sex: Female", "Dx: 164951009,164889003"])
    return records


@pytest.mark.parametrize("training", ["training", ""], ids=["training-folder", "records-in-root"])
def test_mini_dataset_labels_metadata_and_skips(tmp_path: Path, training: str) -> None:
    """Every field of the scan on hand-made headers: records in stem order, merged and code-less classes with their
    descriptions, per-record source/age/sex/dx/dx_unknown/fold, and the exact reasons records are skipped (no
    #Dx line; unreadable header, with the records after it still read)."""
    records = write_mini_dataset(tmp_path, training)
    reader = CinC2021(tmp_path, on_error="skip")
    assert reader.classes == ABBREVIATIONS and reader.class_codes == GROUPS
    assert reader.class_descriptions == {"164889003": "atrial fibrillation",
                                         "713427006|59118001": "complete right bundle branch block",
                                         "999999": "999999"}
    assert reader.record_ids == ["A01", "B01", "E01", "F01"]
    np.testing.assert_array_equal(reader.labels, [[1, 1, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0]])
    assert [(s.record, s.reason) for s in reader.skipped] == [
        ("C01", "empty label set (no #Dx codes in the header)"),
        ("D01", f"header {records / 'src_b' / 'D01.hea'} has no record line")]
    meta = reader.metadata
    assert meta["source"].to_dict() == {"A01": "src_b", "B01": "src_a", "E01": "", "F01": "src_a"}
    assert meta["sex"].to_dict() == {"A01": "Female", "B01": "", "E01": "Male", "F01": "Female"}
    assert meta["age"].iloc[0] == 62.5 and meta["age"].iloc[1:].isna().all()  # missing, "1.2.3", "Unknown": NaN
    assert meta["dx"].to_dict() == {"A01": "164889003,59118001", "B01": "111111,222222", "E01": "713427006",
                                    "F01": "164951009,164889003"}
    assert meta["dx_unknown"].to_dict() == {"A01": "", "B01": "111111,222222", "E01": "", "F01": ""}
    assert reader.folds.tolist() == [hash_fold(r) for r in reader.record_ids]
    assert set(reader.folds.tolist()) <= set(range(1, 11))


def test_sources_keep_only_the_named_folders(tmp_path: Path) -> None:
    """``sources`` selects records by their folder under ``training/``."""
    write_mini_dataset(tmp_path, "training")
    reader = CinC2021(tmp_path, sources=["src_a"], on_error="skip")
    assert reader.record_ids == ["B01", "F01"]
    assert [s.record for s in reader.skipped] == ["C01"]


@pytest.mark.parametrize("abbreviations", [ABBREVIATIONS, None], ids=["abbreviations", "no-abbreviations"])
def test_read_scored_classes_from_the_root_given(tmp_path: Path, abbreviations: list[str] | None) -> None:
    """Groups, names (abbreviations, else the codes) and weights come from the scoring files in ``root``."""
    write_scoring_files(tmp_path, abbreviations)
    groups, names, weights = read_scored_classes(tmp_path)
    assert groups == GROUPS and names == (abbreviations or GROUPS)
    np.testing.assert_array_equal(weights, WEIGHTS)


def _drop_weights(root: Path) -> None:
    (root / "weights.csv").unlink()


def _header_only_weights(root: Path) -> None:
    write_csv(root / "weights.csv", [["", *GROUPS]])


def _short_abbreviations(root: Path) -> None:
    write_scoring_files(root, abbreviations=ABBREVIATIONS[:2])


def _scored_codes_outside_weights(root: Path) -> None:
    write_scoring_files(root, scored=[*SCORED, ("first stray", "111", "S1"), ("second stray", "222", "S2")])


def _empty_abbreviations(root: Path) -> None:
    (root / "weights_abbreviations.csv").write_text("")


def _short_mapping_row(root: Path) -> None:
    write_scoring_files(root, scored=[*SCORED, ("stray",)])


@pytest.mark.parametrize(("spoil", "message"), [
    (_drop_weights, "cinc2021: missing scoring file {root}/weights.csv"),
    (_empty_abbreviations, "cinc2021: scoring file {root}/weights_abbreviations.csv is empty"),
    (_short_mapping_row, "cinc2021: {root}/dx_mapping_scored.csv line %d has 1 cells, its header 3" % (len(SCORED) + 2)),
    (_header_only_weights, "cinc2021: {root}/weights.csv: empty weights table"),
    (_short_abbreviations, "cinc2021: weights_abbreviations.csv and weights.csv disagree on the class count"),
    (_scored_codes_outside_weights, "cinc2021: scored code 111 of dx_mapping_scored.csv is not in weights.csv"),
], ids=["no-weights", "empty-abbreviations", "short-mapping-row", "empty-weights", "abbreviation-count",
        "scored-code-outside-weights"])
def test_read_scored_classes_rejects_bad_scoring_files(tmp_path: Path, spoil: Callable[[Path], None],
                                                        message: str) -> None:
    """Each inconsistency of the scoring files is a DataError with its exact message (the first stray code named)."""
    write_scoring_files(tmp_path)
    spoil(tmp_path)
    with pytest.raises(DataError, match=f"^{re.escape(message.format(root=tmp_path))}$"):
        read_scored_classes(tmp_path)
