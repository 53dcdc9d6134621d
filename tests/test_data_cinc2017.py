"""CinC 2017 reader: every shared record loads and the label counts equal REFERENCE.csv."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ecgformer.data import CinC2017


@pytest.fixture(scope="module")
def root(dataset_dir: Callable[[str, str], Path]) -> Path:
    return dataset_dir("cinc2017", "training2017/REFERENCE.csv")


def test_every_record_loads_and_counts_equal_reference(root: Path) -> None:
    with open(root / "training2017" / "REFERENCE.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    reader = CinC2017(root)
    assert reader.classes == ["N", "A", "O", "~"]
    assert reader.label_counts() == dict(Counter(label for _, label in rows))
    assert reader.record_ids == [name for name, _ in rows]
    assert len(reader) == 5000 and reader.record_ids[0] == "A00001" and reader.record_ids[-1] == "A05000"
    assert (reader.labels.sum(axis=1) == 1).all()
    lengths = []
    for i in range(len(reader)):
        record = reader.load(i)
        assert record.signal.shape[0] == 1 and record.fs == 300 and np.isfinite(record.signal).all()
        lengths.append(record.signal.shape[1])
    assert lengths == reader.metadata["n_samples"].tolist()
    assert 9 <= min(lengths) / 300 and max(lengths) / 300 <= 61


def test_mat_samples_use_header_gain(root: Path) -> None:
    import scipy.io

    reader = CinC2017(root)
    raw = scipy.io.loadmat(root / "training2017" / "A00001.mat")["val"][0].astype(np.float64)
    gain = float((root / "training2017" / "A00001.hea").read_text().splitlines()[1].split()[2].split("/")[0])
    np.testing.assert_allclose(reader.load(0).signal[0], raw / gain, atol=1e-6)
