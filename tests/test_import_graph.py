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
    """Every ``ecgformer`` module ``path`` imports, at any depth (deferred imports inside functions included,
    ``if TYPE_CHECKING:`` blocks not).

    ``from package import name`` counts as importing ``package.name`` when that is a module of the package.
    """
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # imports for type checkers only never run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found = set()
    for node in ast.walk(tree):
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


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``ecgformer`` modules importing it runs: its imports, plus the ``__init__`` of each package
    outside its own that an import passes through (``from ..data.base import x`` runs ``ecgformer/data/__init__``)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        own = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for target in imported_modules(path):
            edges.add(target)
            parts = target.split(".")
            for depth in range(2, len(parts)):
                package = ".".join(parts[:depth])
                if not (own == package or own.startswith(package + ".")):
                    edges.add(package)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated at the end), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_against_hand_made_graphs() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_package_has_no_import_cycle() -> None:
    """Deferred imports inside functions count: the data <-> metrics cycle they hid is gone."""
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


if __name__ == "__main__":  # `python tests/test_import_graph.py` prints the evidence the tests above assert
    for family in FAMILY_FILES:
        print(f"{family.stem:<18} imports {', '.join(sorted(imported_modules(family)))}")
    modules = import_graph()
    print(f"{len(modules)} modules, import cycle: {' -> '.join(find_cycle(modules) or ['none'])}")
