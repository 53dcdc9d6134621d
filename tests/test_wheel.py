"""The built wheel, installed in virtual environments in a temporary folder with no checkout on the path.

With the ``train`` dependencies (a virtualenv seeing the test environment's packages, the wheel installed into it
without dependencies, imported from the virtualenv and not from this checkout), ``ecgformer quickstart`` and a
``fit`` of a packaged config run from an empty folder. With only ``[inference]`` (a fresh virtualenv whose
dependencies pip resolves from the wheel's metadata, no torch), ``ecgformer predict`` classifies records with the
quickstart's bundle, its probabilities equal those of the full install, ``--verify`` passes, and a training
command says which extra to install.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--data.options={n_records: 48, fs: 100, duration_s: 4}", "--data.length_s=3", "--data.batch_size=8",
        "--model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}",
        "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--loggers=[csv]"]

pytestmark = pytest.mark.slow


def run(command: list[str | Path], cwd: Path, timeout: float = 900, returncode: int = 0) -> str:
    """Run ``command`` in ``cwd`` with a clean environment (no ``PYTHONPATH``); its output (stdout, then stderr), or a
    failure showing it when it does not exit with ``returncode``."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == returncode, (f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                                           f"{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def scripts(venv: Path) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", folder, REPO], folder)
    (built,) = folder.glob("ecgformer-*.whl")
    return built


@pytest.fixture(scope="module")
def trained(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the checkout where the wheel's ``ecgformer quickstart`` ran (``runs/quickstart``)."""
    venv = tmp_path_factory.mktemp("train-venv")
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], venv)
    run([scripts(venv) / "python", "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], venv)
    work = tmp_path_factory.mktemp("elsewhere")
    where = run([scripts(venv) / "python", "-c", "import ecgformer; print(ecgformer.__file__)"], work).strip()
    assert Path(where).is_relative_to(venv), f"ecgformer imported from {where}, not from the virtualenv"
    listed = run([scripts(venv) / "ecgformer", "configs"], work)
    assert "ptbxl_superdiag" in listed and "quickstart_synthetic" in listed
    run([scripts(venv) / "ecgformer", "quickstart", "--out", "runs/quickstart", *TINY], work)
    run([scripts(venv) / "ecgformer", "fit", "--config", "cinc2017", "--print-config"], work)
    run([scripts(venv) / "ecgformer", "fit", "--config", "quickstart_synthetic", "--out_dir=runs/fit", *TINY], work)
    assert (work / "runs" / "fit" / "checkpoints" / "best.ckpt").is_file()
    return work


def test_the_wheel_trains_from_packaged_configs_outside_the_checkout(trained: Path) -> None:
    quickstart = trained / "runs" / "quickstart"
    assert (quickstart / "bundle" / "model.json").is_file() and (quickstart / "predictions.csv").is_file()
    assert not (trained / "configs").exists()  # nothing was looked up in (or copied to) the working folder


def probabilities(table: Path) -> dict[str, list[float]]:
    with open(table, newline="") as handle:
        return {Path(row["record"]).name: [float(row[key]) for key in row if key.startswith("p_")]
                for row in csv.DictReader(handle)}


def test_the_inference_extra_predicts_without_torch(wheel: Path, trained: Path,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    venv = tmp_path_factory.mktemp("inference-venv")
    run([sys.executable, "-m", "venv", venv], venv)
    run([scripts(venv) / "python", "-m", "pip", "install", "-q", "--no-compile", f"{wheel}[inference]"], venv,
        timeout=1200)
    python = scripts(venv) / "python"
    missing = run([python, "-c", "import importlib.util as u; print([m for m in ('torch', 'lightning', 'sklearn', "
                   "'yaml', 'tqdm', 'einops', 'onnx') if u.find_spec(m)])"], trained).strip()
    assert missing == "[]", f"the inference install holds training packages: {missing}"
    quickstart = trained / "runs" / "quickstart"
    run([python, "-m", "ecgformer.inference", quickstart / "bundle", quickstart / "records", "--out", "p.csv"],
        trained)
    ecgformer = scripts(venv) / "ecgformer"
    run([ecgformer, "predict", quickstart / "bundle", quickstart / "records", "--out", "q.csv"], trained)
    expected = probabilities(quickstart / "predictions.csv")
    assert len(expected) >= 1
    for table in ("p.csv", "q.csv"):
        got = probabilities(trained / table)
        assert sorted(got) == sorted(expected)
        for record, row in expected.items():
            assert got[record] == pytest.approx(row, abs=1e-6), (table, record)
    verified = run([ecgformer, "predict", "--verify", quickstart / "bundle"], trained)
    assert "PASS" in verified and "FAIL" not in verified
    refused = run([ecgformer, "fit", "--config", "quickstart_synthetic"], trained, returncode=2)
    assert "pip install 'ecgformer[train]'" in refused
