"""The planted-bug tool (tools/planted_bugs.py): its catalogue against the current source (a refactor that makes an
entry stale fails here, not in the periodic run), and its copying, editing and outcome logic. The full run, which
plants every bug and runs its tests, is the tool's own job."""

from __future__ import annotations

import filecmp
import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("planted_bugs_tool", REPO / "tools" / "planted_bugs.py")
planted = importlib.util.module_from_spec(_spec)
sys.modules["planted_bugs_tool"] = planted
_spec.loader.exec_module(planted)

BUGS = planted.load_catalogue()


def test_the_catalogue_holds_the_eighteen_bugs_of_issue_29_once_each() -> None:
    assert len(BUGS) == 18
    assert len({bug.id for bug in BUGS}) == 18


@pytest.mark.parametrize("bug", BUGS, ids=[bug.id for bug in BUGS])
def test_each_edit_finds_its_text_once_changes_it_and_names_existing_tests(bug: planted.Bug) -> None:
    assert (REPO / bug.file).read_text().count(bug.find) == 1, "stale catalogue entry: update tools/planted_bugs.json"
    assert bug.replace != bug.find
    assert bug.title and bug.tests
    for test in bug.tests:
        assert test.startswith("tests/") and (REPO / test.split("::")[0]).is_file(), test


@pytest.mark.parametrize("bug", BUGS, ids=[bug.id for bug in BUGS])
def test_planting_a_bug_in_a_copy_changes_exactly_its_file(tmp_path: Path, bug: planted.Bug) -> None:
    folder = planted.copy_project(tmp_path)
    planted.plant(bug, folder)
    changed = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()
                     and not filecmp.cmp(path, REPO / path.relative_to(folder), shallow=False))
    assert changed == [bug.file]
    assert (folder / bug.file).read_text() == (REPO / bug.file).read_text().replace(bug.find, bug.replace)


def test_the_copy_holds_the_package_tests_and_project_file_without_bytecode(tmp_path: Path) -> None:
    folder = planted.copy_project(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["ecgformer", "pyproject.toml", "tests"]
    assert (folder / "ecgformer" / "__init__.py").is_file() and (folder / "tests" / "conftest.py").is_file()
    assert not list(folder.rglob("__pycache__"))


def test_the_copy_comes_first_on_the_test_path(tmp_path: Path) -> None:
    env = planted.run_env(tmp_path)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path) and env["OMP_NUM_THREADS"] == "1"
    assert env["ECGFORMER_DATA"]


@pytest.mark.parametrize(("find", "count"), [("no such text", 0), ("x = 1\n", 2)])
def test_a_stale_entry_is_a_one_line_error_naming_the_bug(find: str, count: int) -> None:
    bug = planted.Bug("stale_bug", "title", "pkg/m.py", find, "x = 2\n", ("tests/test_m.py",))
    with pytest.raises(SystemExit, match=f"stale_bug: its find text occurs {count} times in pkg/m.py, not once: "
                                         "the catalogue .* is stale"):
        planted.planted_source(bug, "x = 1\nx = 1\n")


def test_an_edit_that_does_not_compile_is_refused() -> None:
    bug = planted.Bug("broken", "title", "pkg/m.py", "x = 1", "x = (1", ("tests/test_m.py",))
    with pytest.raises(SystemExit, match="broken: the edited pkg/m.py does not compile"):
        planted.planted_source(bug, "x = 1\n")


@pytest.mark.parametrize(("exit_code", "expected"), [(1, "caught"), (0, "missed"), (2, "error"), (4, "error"),
                                                     (5, "error"), (None, "error")])
def test_only_failing_tests_catch_a_bug(exit_code: int | None, expected: str) -> None:
    """pytest exits 1 when a test fails; 2 (collection error), 4 (usage: an unknown node id), 5 (nothing collected)
    and a timeout (None) are errors, never catches."""
    assert planted.outcome(exit_code) == expected


def test_bugs_are_chosen_by_id_in_catalogue_order() -> None:
    assert [bug.id for bug in planted.bugs_named(BUGS, [BUGS[2].id, BUGS[0].id])] == [BUGS[0].id, BUGS[2].id]
    with pytest.raises(SystemExit, match="unknown bug 'nope'"):
        planted.bugs_named(BUGS, ["nope"])


def test_the_failure_that_caught_a_bug_is_read_from_the_short_summary() -> None:
    output = ("F\n=========== short test summary info ===========\n"
              "FAILED tests/test_metrics.py::test_cinc2017_score_from_confusion_matrix - assert 0.6 == 0.65\n"
              "!!!!!!!!!!!! stopping after 1 failures !!!!!!!!!!!!\n1 failed in 0.52s\n")
    assert planted.failure_line(output) == ("FAILED tests/test_metrics.py::test_cinc2017_score_from_confusion_matrix"
                                            " - assert 0.6 == 0.65")
    assert planted.failure_line("1 passed in 0.10s\n") == ""
