"""Package metadata: one version source, the license, the typing marker, dependencies exactly as imported."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.resources
import re
import sys
from pathlib import Path

import pytest
import tomllib

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


#: Import name -> distribution name where they differ.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml"}
#: Declared, not imported by ecgformer itself: ``torch.onnx.export(dynamo=True)`` needs onnxscript (``onnx`` is
#: imported to write the bundle contract into the ONNX model's metadata_props); Lightning's ``LightningCLI`` needs
#: jsonargparse with its ``signatures`` extra, which Lightning does not declare.
INDIRECT = {"onnxscript", "jsonargparse"}
#: Imported only by optional backends, declared as extras.
OPTIONAL = {"triton": "triton"}


def third_party_imports() -> dict[str, set[str]]:
    """Distribution -> the package modules importing it (deferred imports included)."""
    found: dict[str, set[str]] = {}
    for path in (REPO / "ecgformer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} - set(sys.stdlib_module_names) - {"ecgformer"}:
                found.setdefault(DISTRIBUTIONS.get(top, top), set()).add(str(path.relative_to(REPO)))
    return found


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-") for r in requirements}


def test_every_runtime_import_is_declared_and_every_declared_dependency_used() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = requirement_names([*project["dependencies"], *extras["train"], *extras["inference"]])
    imported = third_party_imports()
    undeclared = {name: sorted(modules) for name, modules in imported.items()
                  if name not in declared and name not in OPTIONAL}
    assert not undeclared, f"imported but not in the dependencies or the train/inference extras: {undeclared}"
    assert declared - set(imported) == INDIRECT, f"declared but never imported: {declared - set(imported) - INDIRECT}"
    for module, extra in OPTIONAL.items():
        assert module in requirement_names(extras[extra])
    assert "einops" in imported  # the project's dependency list intends it: head split/merge use it
    assert requirement_names(extras["inference"]) == {"onnxruntime"}
    assert "ecgformer[train]" in extras["dev"]


def test_the_base_install_is_torch_free_and_the_inference_extra_is_the_predictor_alone() -> None:
    """The base dependencies hold no training package: ``torch``, Lightning and the rest come with ``[train]``."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = requirement_names(project["dependencies"])
    training_only = requirement_names(project["optional-dependencies"]["train"]) - base
    assert {"torch", "lightning", "scikit-learn", "onnx"} <= training_only
    assert base == {"numpy", "scipy", "wfdb", "pandas"}
