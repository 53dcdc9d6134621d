"""One label-matrix builder and one fold rule for every reader."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["multi_hot", "label_counts", "hash_fold", "TRAIN_FOLDS", "VAL_FOLDS", "TEST_FOLDS"]

#: The PTB-XL convention, used for every dataset: folds 1-8 train, 9 validation, 10 test.
TRAIN_FOLDS: tuple[int, ...] = tuple(range(1, 9))
VAL_FOLDS: tuple[int, ...] = (9,)
TEST_FOLDS: tuple[int, ...] = (10,)


def multi_hot(label_sets: Sequence[Iterable[str]], classes: Sequence[str]) -> np.ndarray:
    """``(n_records, n_classes)`` uint8 matrix with a 1 where a record carries a class.

    Raises ``ValueError`` for a label that is not one of ``classes`` (never a silent drop).
    """
    column = {name: j for j, name in enumerate(classes)}
    if len(column) != len(classes):
        raise ValueError(f"duplicate class names in {list(classes)}")
    matrix = np.zeros((len(label_sets), len(classes)), dtype=np.uint8)
    for i, labels in enumerate(label_sets):
        for label in labels:
            if label not in column:
                raise ValueError(f"label {label!r} of row {i} is not a class ({', '.join(classes)})")
            matrix[i, column[label]] = 1
    return matrix


def label_counts(labels: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    """Number of records carrying each class."""
    totals = labels.sum(axis=0) if len(labels) else np.zeros(len(classes), dtype=np.int64)
    return {name: int(n) for name, n in zip(classes, totals)}


def hash_fold(record_id: str, n_folds: int = 10) -> int:
    """A stable fold in ``1..n_folds`` from the record id alone (same on every machine and run)."""
    digest = hashlib.sha256(record_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % n_folds + 1
