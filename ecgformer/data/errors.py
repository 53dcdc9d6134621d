"""Errors of the data layer and the skip report: every problem names its record."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["DataError", "RecordError", "FlatSignalError", "EmptySplitError", "Skipped", "OnError", "FlatPolicy",
           "first_line", "handle_problem", "logger"]

logger = logging.getLogger("ecgformer.data")

OnError = Literal["raise", "skip"]
#: What a reader does with a flat record (no lead carries signal): leave it out and list it, raise, or load it.
FlatPolicy = Literal["skip", "raise", "keep"]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DataError(ValueError):
    """Base class of every data-layer error (a ``ValueError``)."""


class RecordError(DataError):
    """A record that cannot be used as it is, with the record's name and the problem."""

    def __init__(self, record: str, problem: str) -> None:
        super().__init__(f"record {record}: {problem}")
        self.record = record
        self.problem = problem


class FlatSignalError(RecordError):
    """A record whose signal is flat (see :data:`ecgformer.data.wfdb_io.FLAT_PEAK_TO_PEAK_MV`); readers
    handle it by their ``flat`` policy rather than by ``on_error``."""


class EmptySplitError(DataError):
    """A split (train, val, test, a fold list, a record list) that selects no record."""


@dataclass(frozen=True)
class Skipped:
    """One record left out of a dataset, and why."""

    record: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """``{"record": ..., "reason": ...}`` for JSON reports."""
        return asdict(self)


def handle_problem(policy: OnError, record: str, problem: str, skipped: list[Skipped]) -> None:
    """Raise :class:`RecordError` (``policy="raise"``) or log the problem and append it to ``skipped``."""
    if policy == "raise":
        raise RecordError(record, problem)
    if policy != "skip":
        raise ValueError(f"on_error must be 'raise' or 'skip', got {policy!r}")
    logger.info("skipping record %s: %s", record, problem)
    skipped.append(Skipped(record, problem))
