"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Folder of the real PhysioNet records ($ECGFORMER_DATA, default ../shared/data); skip when absent."""
    from ecgformer.data import data_root as find_root

    root = find_root()
    if not root.is_dir():
        pytest.skip(f"real PhysioNet data not found at {root} (set $ECGFORMER_DATA)")
    return root


@pytest.fixture(scope="session")
def dataset_dir(data_root: Path) -> Callable[[str, str], Path]:
    """``dataset_dir(name, marker)``: ``data_root / name``, skipping when ``marker`` is not in it."""

    def find(name: str, marker: str) -> Path:
        path = data_root / name
        if not (path / marker).exists():
            pytest.skip(f"{name} not found under {path} (no {marker})")
        return path

    return find
