"""The package's import graph, read from the source with ``ast``: mixer families lean only on shared code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ecgformer"


def module_name(path: Path) -> str:
    """Dotted module name of a source file of the package (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every ``ecgformer`` module ``path`` imports, at any depth (deferred imports inside functions included).

    ``from package import name`` counts as importing ``package.name`` when that is a module of the package.
    """
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules}


def test_import_parser_resolves_relative_imports(tmp_path: Path) -> None:
    """The parser against hand-written expectations for the import forms the package uses."""
    inception = imported_modules(PACKAGE / "mixers" / "inception.py")
    assert {"ecgformer.checks", "ecgformer.layers.attention", "ecgformer.ops.conv",
            "ecgformer.mixers.registry"} <= inception
    assert "ecgformer.mixers" not in imported_modules(PACKAGE / "mixers" / "registry.py")
    assert "ecgformer.mixers.registry" in imported_modules(PACKAGE / "mixers" / "__init__.py")
    assert {"ecgformer.checks", "ecgformer.layers.attention"} <= imported_modules(PACKAGE / "models" / "heads.py")


FAMILY_FILES = sorted(p for p in (PACKAGE / "mixers").glob("*.py") if p.name not in ("__init__.py", "registry.py"))
SHARED = ("ecgformer.checks", "ecgformer.layers", "ecgformer.ops", "ecgformer.mixers.registry")


@pytest.mark.parametrize("path", FAMILY_FILES, ids=lambda p: p.stem)
def test_a_mixer_family_imports_only_shared_layers_and_ops(path: Path) -> None:
    """A family file never imports another family: helpers two families need live in ``layers``, ``ops``, ``checks``."""
    foreign = sorted(name for name in imported_modules(path)
                     if not any(name == shared or name.startswith(shared + ".") for shared in SHARED))
    assert not foreign, f"{path.name} imports {foreign}"


def test_nothing_outside_the_mixers_reaches_into_a_family_file() -> None:
    """Models, bench and export code ask the registry (``ecgformer.mixers``), never a family module."""
    families = {module_name(p) for p in FAMILY_FILES}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "mixers":
            continue
        assert not imported_modules(path) & families, f"{module_name(path)} imports a family module"
