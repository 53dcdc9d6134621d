"""PhysioNet/CinC Challenge 2020/2021: 12-lead ECGs from several sources labelled with SNOMED CT codes."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import load_challenge_weights
from .base import Candidate, Unlabelled, WfdbReader
from .download import DatasetSource, missing_files, missing_record_files
from .errors import DataError, FlatPolicy, OnError
from .labels import hash_fold
from .leads import STANDARD_LEADS
from .registry import register_dataset
from .wfdb_io import comment_fields, read_header

__all__ = ["CinC2021", "read_scored_classes"]


def _read_csv_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"cinc2021: missing scoring file {path}")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows:
        raise DataError(f"cinc2021: scoring file {path} is empty")
    return rows


def read_scored_classes(root: Path) -> tuple[list[str], list[str], np.ndarray]:
    """The scored classes as in ``weights.csv``: SNOMED CT code groups (``"733534002|164909002"``:
    equivalent codes merged into one class), their abbreviations (``weights_abbreviations.csv``,
    else the codes) and the weight matrix. Every code of ``dx_mapping_scored.csv`` must belong to
    one group."""
    if not (root / "weights.csv").is_file():
        raise DataError(f"cinc2021: missing scoring file {root / 'weights.csv'}")
    try:
        groups, weights = load_challenge_weights(root / "weights.csv")
    except ValueError as exc:
        raise DataError(f"cinc2021: {exc}") from None
    abbreviations_csv = root / "weights_abbreviations.csv"
    names = groups
    if abbreviations_csv.is_file():
        names = [cell.strip() for cell in _read_csv_rows(abbreviations_csv)[0][1:]]
        if len(names) != len(groups):
            raise DataError("cinc2021: weights_abbreviations.csv and weights.csv disagree on the class count")
    in_groups = {code for group in groups for code in group.split("|")}
    scored = [row["SNOMEDCTCode"].strip() for row in _dict_rows(root / "dx_mapping_scored.csv")]
    missing = [code for code in scored if code not in in_groups]
    if missing:
        raise DataError(f"cinc2021: scored code {missing[0]} of dx_mapping_scored.csv is not in weights.csv")
    return groups, names, weights


def _dict_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a ``dx_mapping`` file as dicts; :class:`DataError` unless it has ``Dx`` and ``SNOMEDCTCode``."""
    rows = _read_csv_rows(path)
    missing = [column for column in ("Dx", "SNOMEDCTCode") if column not in rows[0]]
    if missing:
        raise DataError(f"cinc2021: {path} has no column {missing[0]} (columns: {', '.join(rows[0])})")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise DataError(f"cinc2021: {path} line {number} has {len(row)} cells, its header {len(rows[0])}")
    return [dict(zip(rows[0], row)) for row in rows[1:]]


#: The scoring files of the official evaluation code (not on PhysioNet's project page).
_EVALUATION_2021 = "https://raw.githubusercontent.com/physionetchallenges/evaluation-2021/main/"


@register_dataset
class CinC2021(WfdbReader):
    """The challenge training data as published: ``training/<source>/[...]/*.hea`` + ``.mat``, and the
    scoring files ``weights.csv``, ``weights_abbreviations.csv``, ``dx_mapping_scored.csv``,
    ``dx_mapping_unscored.csv`` in ``root``.

    ``task="scored"``: the scored classes of ``weights.csv`` (26 in 2021), equivalent codes merged
    (``class_codes`` gives the codes of each class); codes outside them are ignored as in the
    challenge, and a record with no scored code is kept as all-negative (``unlabelled="keep"``,
    the challenge scores such records) or, on request, skipped. ``task="all"``: one class per code
    of both mapping files; an unknown code is an error. ``leads`` takes a lead list or a 2021 subset
    name (``"twelve"``, ``"six"``, ``"four"``, ``"three"``, ``"two"``); ``sources`` restricts the
    source databases (folder names under ``training/``); ``fs`` requires a sampling rate. Every record
    must have the 12 standard leads (or the requested ones). ``flat`` handles records without signal
    (see :class:`~ecgformer.data.base.WfdbReader`); the Ningbo records whose precordial leads are all
    zero are kept (their flat leads are listed by :meth:`validate`), as in the challenge.
    Metadata: ``source``, ``age``, ``sex``, ``dx`` (all codes), ``dx_unknown`` (codes in neither
    mapping file). Folds are a stable hash of the record id (1-8 train, 9 val, 10 test).
    """

    name = "cinc2021"
    folder = "cinc2021"
    tasks = ("scored", "all")
    default_task = "scored"
    dataset_leads = STANDARD_LEADS
    download_source = DatasetSource("challenge-2021", ("training/*",), {
        name: _EVALUATION_2021 + name
        for name in ("weights.csv", "weights_abbreviations.csv", "dx_mapping_scored.csv", "dx_mapping_unscored.csv")})

    @classmethod
    def check_layout(cls, root: Path) -> list[str]:
        """The scoring files and complete ``training/`` records (``.hea`` + ``.mat``)."""
        problems = missing_files(root, "weights.csv", "dx_mapping_scored.csv", "dx_mapping_unscored.csv", "training")
        if (root / "training").is_dir():
            problems += missing_record_files(root, root / "training", (".mat",))
        return problems

    def __init__(self, root: str | Path | None = None, task: str = "scored",
                 leads: str | Sequence[str] | None = None, sources: Sequence[str] | None = None,
                 fs: float | None = None, on_error: OnError = "raise", unlabelled: Unlabelled = "keep",
                 flat: FlatPolicy = "skip", progress: bool = False) -> None:
        self.sources = tuple(sources) if sources is not None else None
        super().__init__(root, task=task, leads=leads, expected_fs=fs, on_error=on_error,
                         unlabelled=unlabelled, flat=flat, progress=progress)

    def label_files(self) -> list[Path]:
        """The four scoring files."""
        return [self.root / name for name in ("weights.csv", "weights_abbreviations.csv",
                                               "dx_mapping_scored.csv", "dx_mapping_unscored.csv")]

    def scoring_weights(self) -> np.ndarray:
        """The challenge's reward matrix between the scored classes (``task="scored"`` order)."""
        return read_scored_classes(self.root)[2]

    def challenge_scoring(self) -> dict[str, Any] | None:
        """``{"scorer": "cinc2021", "class_codes", "weights_file"}`` for :func:`ecgformer.metrics.challenge_metrics`:
        the ``weights.csv`` code of each class, in class order (``task="scored"`` only; ``None`` otherwise)."""
        if self.task != "scored":
            return None
        return {"scorer": "cinc2021", "class_codes": list(self.class_codes),
                "weights_file": str(self.root / "weights.csv")}

    def _scan(self) -> tuple[list[str], list[Candidate]]:
        groups, names, _ = read_scored_classes(self.root)
        known = {row["SNOMEDCTCode"].strip(): row for row in
                 _dict_rows(self.root / "dx_mapping_scored.csv") + _dict_rows(self.root / "dx_mapping_unscored.csv")}
        if self.task == "scored":
            classes = names
            code_to_class = {code: name for group, name in zip(groups, names) for code in group.split("|")}
            self.class_codes = groups
        else:
            classes = sorted(known)
            code_to_class = {code: code for code in classes}
            self.class_codes = classes
        self.class_descriptions = {c: known[c.split("|")[0]]["Dx"] if c.split("|")[0] in known else c
                                   for c in self.class_codes}
        training = self.root / "training" if (self.root / "training").is_dir() else self.root
        headers = sorted(training.rglob("*.hea"), key=lambda p: p.stem)
        if self.sources is not None:
            headers = [p for p in headers if p.relative_to(training).parts[0] in self.sources]
        candidates = []
        for path in headers:
            rel = path.relative_to(training)
            source = rel.parts[0] if len(rel.parts) > 1 else ""
            cand = Candidate(path.stem, path, fold=hash_fold(path.stem), meta={"source": source})
            try:
                fields = comment_fields(read_header(path, path.stem).comments)
            except DataError as exc:  # unreadable header: reported by the shared checks
                cand.problem = str(getattr(exc, "problem", exc))
                candidates.append(cand)
                continue
            codes = [c.strip() for c in fields.get("dx", "").split(",") if c.strip()]
            unknown = [c for c in codes if c not in known]
            age = fields.get("age", "")
            cand.meta.update({"age": float(age) if age.replace(".", "", 1).isdigit() else np.nan,
                              "sex": fields.get("sex", ""), "dx": ",".join(codes),
                              "dx_unknown": ",".join(unknown)})
            if not codes:
                cand.problem = "empty label set (no #Dx codes in the header)"
            elif unknown and self.task == "all":
                cand.problem = f"unknown SNOMED CT code {unknown[0]} (in neither dx_mapping file)"
            cand.assign((code_to_class[c] for c in codes if c in code_to_class),
                        f"no {self.task} class among #Dx codes {codes}")
            candidates.append(cand)
        return classes, candidates

    def config(self) -> dict[str, object]:
        """See :meth:`WfdbReader.config`; adds the source filter."""
        return {**super().config(), "sources": list(self.sources) if self.sources else None}
