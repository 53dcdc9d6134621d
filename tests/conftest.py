"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import os

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """The tests read the real records from ``$ECGFORMER_DATA``, by default ``../shared/data`` beside the checkout
    (set here so that the package's own default, the user data folder, and notebook kernels see the same root)."""
    os.environ.setdefault("ECGFORMER_DATA", str(REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests in file and line order however their ids were given: mutation testing passes them as a set, and
    with ``-x`` the fast tests written first in a file then stop a run before its slow fixtures are built."""
    items.sort(key=lambda item: (str(item.path), item.location[1]))


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
