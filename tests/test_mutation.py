"""The mutation-testing tool (tools/mutation.py): its diff and name handling against cases worked out by hand, its
reading of mutmut's results on a toy project whose surviving mutants are known, and, in CI, the mutants of the
functions the last change touched."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutation_tool", REPO / "tools" / "mutation.py")
mutation = importlib.util.module_from_spec(_spec)
sys.modules["mutation_tool"] = mutation
_spec.loader.exec_module(mutation)

SOURCE = '''\
import math


def first(x):
    return x + 1


@staticmethod
def decorated(x):
    def inner(y):
        return y * 2
    return inner(x)


class Box:
    size = 3

    def area(self):
        return self.size ** 2

    def volume(self):
        return self.size ** 3
'''
# lines: first 4-5, decorated 8-12 (decorator on 8, inner nested), Box.area 18-19, Box.volume 21-22


def test_function_spans_by_hand() -> None:
    assert mutation.function_spans(SOURCE) == [("first", 4, 5), ("decorated", 8, 12), ("Box.area", 18, 19),
                                               ("Box.volume", 21, 22)]


def test_changed_functions_by_hand() -> None:
    diff = ("diff --git a/pkg/m.py b/pkg/m.py\n--- a/pkg/m.py\n+++ b/pkg/m.py\n"
            "@@ -5 +5 @@ def first(x):\n-    return x\n+    return x + 1\n"  # changes line 5: first
            "@@ -11,0 +11,1 @@\n+        return y * 2\n"                   # adds line 11: inside inner -> decorated
            "@@ -16 +16 @@ class Box:\n-    size = 2\n+    size = 3\n"         # a class attribute: no function
            "@@ -23,2 +22,0 @@\n-\n-    def gone(self):\n"                    # deletion after line 22: Box.volume
            "diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1 @@\n-a\n+b\n"
            "diff --git a/pkg/old.py b/pkg/old.py\n--- a/pkg/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x = 1\n")
    assert mutation.changed_lines(diff) == {"pkg/m.py": {5, 11, 16, 22}, "notes.txt": {1}}
    touched = mutation.changed_functions(diff, read_source=lambda path: SOURCE)
    assert touched == {"pkg/m.py": {"first", "decorated", "Box.volume"}}


@pytest.mark.parametrize(("module", "function", "name"), [
    ("ecgformer/losses.py", "_check", "ecgformer.losses.x__check__mutmut_1"),
    ("ecgformer/losses.py", "_Loss.extra_repr", "ecgformer.losses.x\u01c1_Loss\u01c1extra_repr__mutmut_2"),
    ("ecgformer/data/ptbxl.py", "PTBXL._scan", "ecgformer.data.ptbxl.x\u01c1PTBXL\u01c1_scan__mutmut_17"),
    ("ecgformer/metrics.py", "auroc", "ecgformer.metrics.x_auroc__mutmut_3"),
])
def test_mutant_names_as_mutmut_writes_them(module: str, function: str, name: str) -> None:
    assert name.startswith(mutation.mutant_prefix(module, function))
    assert mutation.parse_mutant(name) == (mutation.dotted(module), function)


def test_every_shard_names_files_tests_and_functions_that_exist() -> None:
    for shard in mutation.SHARDS:
        for test in shard.tests:
            assert (REPO / test.split("::")[0]).is_file(), (shard.name, test)
        for module in shard.modules:
            names = {name for name, _, _ in mutation.function_spans((REPO / module).read_text())}
            missing = set(shard.functions.get(module, ())) - names
            assert not missing, f"shard {shard.name} names functions {missing} that {module} no longer has"


def test_equivalents_name_a_line_and_a_reason() -> None:
    """Each shard's list names only mutants that shard counts, with the line the mutant writes and a reason."""
    for path in sorted(mutation.EQUIVALENTS.glob("*.json")):
        shard = mutation.shard_named(path.stem)
        for entry in json.loads(path.read_text()):
            module, function = mutation.parse_mutant(entry["mutant"])
            assert any(mutation.dotted(m) == module and shard.selects(m, function) for m in shard.modules), entry
            assert entry["line"].strip() and len(entry["reason"]) > 20, entry
    assert len(mutation.load_equivalents()) == sum(len(json.loads(p.read_text()))
                                                   for p in mutation.EQUIVALENTS.glob("*.json"))


def test_a_rescored_shard_keeps_the_date_and_commit_of_its_run(tmp_path: Path) -> None:
    """``--rerun none`` reports the run that checked the mutants: mutmut's stats file gives its commit and time."""
    assert mutation.stats_run(tmp_path) == {}
    stats = tmp_path / "mutants" / "mutmut-stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps({"git_commit": "7ef0a0fe290a4e19eae0407034eb656e95acc82f"}))
    os.utime(stats, (1796688000, 1796688000))  # 2026-12-08 00:00:00 UTC
    assert mutation.stats_run(tmp_path) == {"date": "2026-12-08 00:00:00", "commit": "7ef0a0f"}


def test_a_shard_keeps_its_mutmut_time_across_resumed_runs(tmp_path: Path) -> None:
    """Resumed or re-checked runs add to the time of the shard's last full run; a re-scored one reports it (None
    before any run recorded one)."""
    assert mutation.shard_seconds(tmp_path, 0.0, "none") is None
    assert mutation.shard_seconds(tmp_path, 30.0, "all") == 30.0
    assert mutation.shard_seconds(tmp_path, 12.5, "survivors") == 42.5
    assert mutation.shard_seconds(tmp_path, 0.0, "none") == 42.5
    assert mutation.shard_seconds(tmp_path, 5.0, "all") == 5.0


TOY = '''\
def tax(amount, rate):
    if amount > 100:
        return amount * rate
    return 0
'''
WEAK_TEST = "from toy.calc import tax\n\ndef test_tax():\n    assert tax(50, 0.5) == 0\n"
STRONG_TEST = WEAK_TEST + ("\ndef test_tax_edges():\n    assert tax(100, 0.5) == 0\n    assert tax(101, 0.5) == 50.5\n"
                           "    assert tax(200, 0.5) == 100\n")


def toy_project(folder: Path, test: str) -> mutation.Shard:
    (folder / "toy").mkdir(parents=True)
    (folder / "toy" / "__init__.py").write_text("")
    (folder / "toy" / "calc.py").write_text(TOY)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_calc.py").write_text(test)
    shard = mutation.Shard("toy", ("toy/calc.py",), ("tests/test_calc.py",))
    config = mutation.mutmut_config(shard).replace('source_paths = ["ecgformer"]', 'source_paths = ["toy"]')
    (folder / "pyproject.toml").write_text("[project]\nname = 'toy'\nversion = '0'\n" + config)
    return shard


@pytest.mark.slow
def test_mutmut_results_are_read_and_scored_on_a_toy_project(tmp_path: Path) -> None:
    """tax's mutants are all killed by the edge tests (100 taxes nothing, 101 and 200 are taxed); with only the
    untaxed case, the mutants of the taxed branch survive, ``amount >= 100`` among them. (A ``clamp`` toy does not
    work: ``x <= low`` returning ``low`` is an equivalent mutant.)"""
    scores = {}
    for kind, test in (("weak", WEAK_TEST), ("strong", STRONG_TEST)):
        shard = toy_project(tmp_path / kind, test)
        _, out_of_time = mutation.run_mutmut(tmp_path / kind, mutation.shard_patterns(shard), 1, 300)
        assert not out_of_time
        results = mutation.mutant_results(tmp_path / kind, shard)
        assert results and None not in results.values()
        counts, survivors, _ = mutation.module_scores(tmp_path / kind, shard, results, {})
        scores[kind] = counts["toy/calc.py"]
        if kind == "weak":
            diffs = "\n".join(mutation.mutant_diff(tmp_path / kind, name) for name in survivors)
            assert "if amount >= 100:" in mutation.added_lines(diffs)
    assert scores["strong"]["score"] == 1.0 and scores["strong"]["survived"] == 0
    assert scores["weak"]["score"] < 0.8 and scores["weak"]["survived"] >= 3 and scores["strong"]["killed"] >= 4
    assert scores["weak"]["killed"] + scores["weak"]["survived"] == scores["strong"]["killed"]


@pytest.mark.slow
def test_the_last_change_leaves_no_mutant_alive_in_the_functions_it_touched() -> None:
    """CI: the mutants of the functions the last commit (or ``$ECGFORMER_MUTATION_BASE``) touched in the modules under
    mutation testing score at least the target, within a time budget (the full run is the periodic job)."""
    base = os.environ.get("ECGFORMER_MUTATION_BASE", "HEAD~1")
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", base], cwd=REPO, capture_output=True).returncode:
        pytest.skip(f"{base} is not a revision of this checkout (a shallow clone?); set $ECGFORMER_MUTATION_BASE")
    budget = float(os.environ.get("ECGFORMER_MUTATION_BUDGET_S", "120"))
    done = subprocess.run([sys.executable, str(REPO / "tools" / "mutation.py"), "--changed", base, "--check",
                           "--budget-s", str(budget), "--work", str(REPO / "build" / "mutation-changed")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
