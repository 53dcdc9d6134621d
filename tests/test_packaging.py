"""Package metadata: one version source, the license, the typing marker."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from pathlib import Path

import pytest

import ecgformer
from ecgformer.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_version_has_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    """The installed metadata (which setuptools reads from ``ecgformer.__version__``) and ``--version`` agree."""
    assert importlib.metadata.version("ecgformer") == ecgformer.__version__
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"ecgformer {ecgformer.__version__}"
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()


def test_license_and_typing_marker_ship() -> None:
    metadata = importlib.metadata.metadata("ecgformer")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert (REPO / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert importlib.resources.files("ecgformer").joinpath("py.typed").is_file()
    assert f"## {ecgformer.__version__}" in (REPO / "CHANGELOG.md").read_text()
