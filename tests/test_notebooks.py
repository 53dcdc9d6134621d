"""The notebooks in ``notebooks/``: committed without outputs, and each runs top to bottom in smoke mode.

Smoke mode (``ECGFORMER_SMOKE=1``) shrinks data, model, epochs and the ablation grid, and makes the notebooks write
into temporary folders. The kernel runs with one torch/OpenMP thread: the smoke models are tiny, and on a shared CPU
several threads per process slow them down by an order of magnitude. Every cell that shows a figure must have
displayed one (a library call that switches matplotlib's backend would silently hide them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 600
PLOT_CALLS = ("plt.show()", "display(Image(")  # a cell with one of these must display a PNG


def test_the_issue_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"01_quickstart.ipynb", "02_mixer_ablation.ipynb",
                                           "03_export_inference.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = json.loads(path.read_text())
    dirty = [i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_smoke_mode(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient", reason="executing notebooks needs nbclient (the dev extra)")
    nbformat = pytest.importorskip("nbformat", reason="executing notebooks needs nbformat (the dev extra)")
    pytest.importorskip("ipykernel", reason="executing notebooks needs ipykernel (the dev extra)")
    monkeypatch.setenv("ECGFORMER_SMOKE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary folders land in pytest's, cleaned up by it
    notebook = nbformat.read(path, as_version=4)
    # "python3" is the kernel ipykernel installs; jupyter_client starts it with this interpreter (sys.executable)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # the kernel inherits this environment; a failing cell raises CellExecutionError
    blank = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and any(call in cell.source for call in PLOT_CALLS)
             and not any("image/png" in output.get("data", {}) for output in cell.outputs)]
    assert not blank, f"{path.name}: cells {blank} show no figure (did something switch the plotting backend?)"
    if path.name == "02_mixer_ablation.ipynb":  # the CNN baseline's row comes from its own (smoke) grid
        baseline = next(cell for cell in notebook.cells if "baseline_dir = " in cell.source)
        printed = "".join(output.get("text", "") for output in baseline.outputs)
        assert "xresnet1d101: seeds [0]" in printed and "tested 1" in printed, printed
