"""The deployment contract (issue 22, part 5): units, layout and provenance in ``model.json``, the contract in the
ONNX ``metadata_props``, execution providers and threads of the predictor, and the reference vectors every bundle
carries with ``ecgformer predict --verify``.

Each feature is checked against an independent path: the ONNX metadata read with the ``onnx`` package, the
reference windows recomputed with the preprocessing functions directly, the reference probabilities with the eager
model, the sha256 with ``hashlib``; tampered bundles must fail ``--verify``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_inference import torch_blocked_env
from test_models import small

import ecgformer
from ecgformer.cli import main
from ecgformer.data.preprocess import Preprocess, sliding_windows
from ecgformer.export import export_bundle, from_preset, load_source
from ecgformer.export.bundle import run_provenance
from ecgformer.inference import Predictor
from ecgformer.inference.bundle import BundleError, read_bundle_json
from ecgformer.inference.predictor import RuntimeOptionError
from ecgformer.inference.schema import bundle_schema
from ecgformer.training.thresholds import Thresholds

CLASSES = ("NORM", "MI", "STTC")
THRESHOLDS = (0.4, 0.5, 0.6)
# the keys this test expects in the ONNX contract, listed here rather than taken from the package
CONTRACT = ("format_version", "task_type", "class_names", "thresholds", "sampling_rate", "lead_names", "input",
            "preprocess")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A 3-class, 12-lead bundle at 100 Hz (5 s windows, band-passed, z-scored, f1 thresholds) and its eager model."""
    source = from_preset("xresnet1d50", class_names=CLASSES, sampling_rate=100.0, seconds=5.0, **small("xresnet1d50"))
    source.preprocess = Preprocess(bandpass=(0.5, 40.0), normalize="zscore")
    source.thresholds = Thresholds(THRESHOLDS, "f1", "val", CLASSES)
    return export_bundle(source, tmp_path_factory.mktemp("contract") / "bundle", ["onnx"]), source.model


@pytest.fixture
def bundle(exported: tuple[Path, torch.nn.Module], tmp_path: Path) -> Path:
    """A copy of the bundle that a test may change."""
    return Path(shutil.copytree(exported[0], tmp_path / "bundle"))


def rewrite_json(folder: Path, **changes: Any) -> None:
    """Set top-level keys of ``folder/model.json``."""
    meta = json.loads((folder / "model.json").read_text())
    meta.update(changes)
    (folder / "model.json").write_text(json.dumps(meta))


def replace_array(folder: Path, name: str, array: np.ndarray, update_sha: bool = True, **save: Any) -> None:
    """Overwrite a reference array; with ``update_sha`` also its sha256 in model.json (as an attacker would)."""
    path = folder / f"{name}.npy"
    np.save(path, array, **save)
    meta = json.loads((folder / "model.json").read_text())
    if update_sha:
        meta["files"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(meta))


def verify_lines(folder: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, list[str]]:
    code = main(["predict", "--verify", str(folder), *options])
    return code, capsys.readouterr().out.strip().splitlines()


def test_model_json_states_units_layout_and_dtype(exported: tuple[Path, torch.nn.Module]) -> None:
    meta = read_bundle_json(exported[0])
    assert meta["format_version"] == 2
    assert {key: meta["input"][key] for key in ("units", "layout", "model_layout", "dtype")} == {
        "units": "mV", "layout": "(leads, samples)", "model_layout": "(batch, leads, samples)", "dtype": "float32"}
    jsonschema.validate(meta, bundle_schema())
    assert meta["provenance"] == {"data": None, "commit": None, "metrics": None,
                                  "thresholds": "rule f1 per class on the val split"}


def test_a_format_1_bundle_gets_a_one_line_error_that_says_how_to_re_export(bundle: Path) -> None:
    rewrite_json(bundle, format_version=1)
    with pytest.raises(BundleError) as caught:
        Predictor(bundle)
    message = str(caught.value)
    assert "format_version 1" in message and "ecgformer export" in message and "\n" not in message


def test_onnx_metadata_carries_class_names_thresholds_and_the_contract(exported: tuple[Path, torch.nn.Module]) -> None:
    folder = exported[0]
    meta = json.loads((folder / "model.json").read_text())
    props = {entry.key: entry.value for entry in onnx.load(str(folder / "model.onnx")).metadata_props}
    assert json.loads(props["ecgformer.class_names"]) == list(CLASSES)
    assert json.loads(props["ecgformer.thresholds"]) == list(THRESHOLDS)
    assert json.loads(props["ecgformer.contract"]) == {key: meta[key] for key in CONTRACT}
    assert json.loads(props["ecgformer.contract"])["input"]["units"] == "mV"


def test_model_json_edited_consistently_disagrees_with_the_onnx_metadata(bundle: Path) -> None:
    """Renamed classes pass the schema and the cross-checks, but not the ONNX model's own class names."""
    meta = json.loads((bundle / "model.json").read_text())
    renamed = ["AF", "MI", "STTC"]
    rewrite_json(bundle, class_names=renamed, thresholds={**meta["thresholds"], "class_names": renamed})
    with pytest.raises(BundleError, match=r"class_names: model.json differs from model.onnx metadata_props") as caught:
        Predictor(bundle)
    assert "\n" not in str(caught.value)


def test_an_onnx_model_without_the_contract_is_refused(bundle: Path) -> None:
    model = onnx.load(str(bundle / "model.onnx"))
    kept = [entry for entry in model.metadata_props if entry.key != "ecgformer.contract"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(bundle / "model.onnx"))
    meta = json.loads((bundle / "model.json").read_text())
    rewrite_json(bundle, files={**meta["files"], "onnx": {
        **meta["files"]["onnx"], "sha256": hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()}})
    with pytest.raises(BundleError, match=r"carries no metadata_props 'ecgformer.contract'; re-export"):
        Predictor(bundle)


def test_providers_and_threads_reach_the_session(exported: tuple[Path, torch.nn.Module]) -> None:
    predictor = Predictor(exported[0], threads=1, providers=["CPUExecutionProvider"])
    assert predictor.providers == ["CPUExecutionProvider"]
    assert predictor.session.get_session_options().intra_op_num_threads == 1
    assert Predictor(exported[0]).providers == ["CPUExecutionProvider"]  # the default


@pytest.mark.parametrize("providers, threads, key", [
    (["NoSuchExecutionProvider", "CPUExecutionProvider"], None, "providers: 'NoSuchExecutionProvider'"),
    ([], None, "providers:"),
    ("CPUExecutionProvider", None, "providers:"),  # a string, not a list of names
    (None, 0, "threads: 0"),
])
def test_an_unusable_provider_or_thread_count_is_one_line_naming_it(exported: tuple[Path, torch.nn.Module],
                                                                    providers: Any, threads: Any, key: str) -> None:
    with pytest.raises(RuntimeOptionError) as caught:
        Predictor(exported[0], threads=threads, providers=providers)
    message = str(caught.value)
    assert message.startswith(key) and "\n" not in message
    if providers and "NoSuch" in providers[0]:
        assert all(name in message for name in ort.get_available_providers())


def test_predict_takes_providers_and_threads(exported: tuple[Path, torch.nn.Module], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    array = tmp_path / "r.npy"
    np.save(array, np.load(exported[0] / "reference_input.npy", allow_pickle=False))
    out = tmp_path / "p.json"
    assert main(["predict", str(exported[0]), str(array), "--out", str(out), "--threads", "1",
                 "--providers", "CPUExecutionProvider"]) == 0
    assert json.loads(out.read_text())[0]["status"] == "ok"
    assert main(["predict", str(exported[0]), str(array), "--out", str(tmp_path / "q.json"),
                 "--providers", "NoSuchExecutionProvider,CPUExecutionProvider"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: providers: 'NoSuchExecutionProvider'") and len(err.splitlines()) == 1
    assert not (tmp_path / "q.json").exists()


def test_reference_vectors_agree_with_an_independent_recomputation(exported: tuple[Path, torch.nn.Module]) -> None:
    """Windows from the preprocessing functions called directly, probabilities from the eager model, sha256 by
    hashlib: none of it through the predictor."""
    folder, model = exported
    meta = json.loads((folder / "model.json").read_text())
    arrays = {}
    for key in ("reference_input", "reference_windows", "reference_probabilities"):
        entry = meta["files"][key]
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
        arrays[key] = np.load(folder / entry["path"], allow_pickle=False)
        assert arrays[key].dtype == np.dtype("<f4") and list(arrays[key].shape) == entry["shape"]
    raw = arrays["reference_input"]
    length, stride = meta["input"]["length"], meta["input"]["window_stride"]
    assert raw.shape == (12, length + stride // 2)  # two windows: sliding windows and aggregation are covered
    x, _ = Preprocess.from_dict(meta["preprocess"])(raw, meta["sampling_rate"], meta["lead_names"])
    windows = sliding_windows(x, length, stride)
    assert windows.shape[0] == 2
    np.testing.assert_allclose(arrays["reference_windows"], windows, rtol=0, atol=1e-6)
    with torch.no_grad():
        logits = model(torch.from_numpy(windows)).double().numpy()
    probabilities = (1 / (1 + np.exp(-logits))).mean(axis=0)
    np.testing.assert_allclose(arrays["reference_probabilities"], probabilities, rtol=0, atol=1e-6)
    assert meta["reference"]["tolerance"] == {"windows": 1e-4, "probabilities": 1e-4}
    assert meta["reference"]["source"].split(",")[0] in meta["parity"]["onnx"]["inputs"] or \
        meta["reference"]["source"].startswith("synthetic")


def test_verify_passes_on_a_fresh_bundle(exported: tuple[Path, torch.nn.Module],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = verify_lines(exported[0], capsys, "--threads", "1")
    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "PASS bundle", "PASS reference_input", "PASS reference_windows", "PASS reference_probabilities",
        "PASS windows", "PASS probabilities"]


@pytest.mark.parametrize("name", ["reference_windows", "reference_probabilities"])
def test_verify_fails_on_tampered_reference_values(bundle: Path, capsys: pytest.CaptureFixture[str],
                                                   name: str) -> None:
    """A value changed by 1e-3 with its sha256 updated: only the recomputation can tell."""
    array = np.load(bundle / f"{name}.npy", allow_pickle=False)
    array.flat[0] += np.float32(1e-3)
    replace_array(bundle, name, array)
    code, lines = verify_lines(bundle, capsys)
    check = name.removeprefix("reference_")
    failed = [line for line in lines if line.startswith("FAIL")]
    assert code == 1 and [line.split(":")[0] for line in failed] == [f"FAIL {check}"], lines
    assert "max abs diff 0.001 > 0.0001" in failed[0]


def test_verify_fails_on_a_reference_file_that_does_not_match_its_sha256(bundle: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    array = np.load(bundle / "reference_windows.npy", allow_pickle=False)
    replace_array(bundle, "reference_windows", array * 2, update_sha=False)
    code, lines = verify_lines(bundle, capsys)
    assert code == 1 and any(line.startswith("FAIL reference_windows: files.reference_windows.sha256")
                             for line in lines), lines


def test_verify_never_unpickles_a_reference_file(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replace_array(bundle, "reference_input", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, lines = verify_lines(bundle, capsys)
    assert code == 1 and any(line.startswith("FAIL reference_input: files.reference_input.path") and
                             "not a .npy array" in line for line in lines), lines


def test_verify_fails_on_a_wrong_provider_name(exported: tuple[Path, torch.nn.Module],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = verify_lines(exported[0], capsys, "--providers", "NoSuchExecutionProvider")
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("FAIL bundle: providers: 'NoSuchExecutionProvider'")


def test_verify_takes_the_bundle_only(exported: tuple[Path, torch.nn.Module], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--verify", str(exported[0]), str(tmp_path / "x.hea")]) == 2
    assert main(["predict", "--verify", str(exported[0]), "--out", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.count("usage: ecgformer predict --verify BUNDLE") == 2


def test_verify_runs_where_torch_cannot_be_imported(exported: tuple[Path, torch.nn.Module], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ecgformer.inference", "--verify", str(exported[0])],
                          capture_output=True, text=True, timeout=120, env=torch_blocked_env(tmp_path), check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 6 and all(line.startswith("PASS") for line in done.stdout.splitlines())


def trained_checkpoint(folder: Path) -> Path:
    """A checkpoint in the training module's layout with a data section and a ModelCheckpoint selection."""
    torch.manual_seed(0)
    model = ecgformer.create_model("xresnet1d50", 3, 12, **small("xresnet1d50"))
    ckpt = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 6,
            "callbacks": {"ModelCheckpoint{'monitor': 'val/auroc_macro', 'mode': 'max'}": {
                "monitor": "val/auroc_macro", "best_model_score": torch.tensor(0.875)}},
            "hyper_parameters": {"model": "xresnet1d50", "model_overrides": small("xresnet1d50"), "num_classes": 3,
                                 "in_chans": 12, "class_names": list(CLASSES),
                                 "thresholds": Thresholds(THRESHOLDS, "f1", "val", CLASSES).to_dict(),
                                 "sampling_rate": 100, "input_length": 500},
            "data_config": {"data": {"dataset": "ptbxl", "task": "superdiag", "root": "/private/path",
                                     "options": {"fs": 100}, "splits": {"train": "train", "val": "val",
                                                                        "test": "test"}}}}
    path = folder / "best.ckpt"
    torch.save(ckpt, path)
    return path


def test_provenance_of_a_checkpoint_and_of_a_bench_run(tmp_path: Path) -> None:
    ckpt = trained_checkpoint(tmp_path)
    run = tmp_path / "grid" / "xresnet1d50" / "seed0" / "run.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps({
        "model": "xresnet1d50", "seed": 0, "config": "configs/ptbxl_superdiag.yaml", "overrides": [],
        "validation": {"monitor": "val/auroc_macro", "mode": "max", "best": 0.875, "epoch": 7,
                       "rule": "checkpoint of the epoch with the best val/auroc_macro (max) on the validation split",
                       "metrics": {"auroc_macro": 0.875, "f1_macro": 0.5, "loss": float("nan")}},
        "machine": {"commit": "abc1234", "date": "2026-12-07 07:03:13"}}))
    meta = read_bundle_json(export_bundle(load_source(str(ckpt)), tmp_path / "b", ["onnx"],
                                          provenance=run_provenance(run)))
    provenance = meta["provenance"]
    assert provenance["data"] == {"dataset": "ptbxl", "task": "superdiag", "options": {"fs": 100},
                                  "splits": {"train": "train", "val": "val", "test": "test"}}  # no local root
    assert provenance["commit"] == "abc1234"
    assert provenance["metrics"] == {
        "split": "val", "monitor": "val/auroc_macro", "value": 0.875, "epoch": 7,
        "selection": "checkpoint of the epoch with the best val/auroc_macro (max) on the validation split",
        "values": {"auroc_macro": 0.875, "f1_macro": 0.5, "loss": None}}
    assert provenance["thresholds"] == "rule f1 per class on the val split"
    assert provenance["run"]["grid"] == "grid" and provenance["run"]["seed"] == 0
    jsonschema.validate(meta, bundle_schema())

    alone = read_bundle_json(export_bundle(load_source(str(ckpt)), tmp_path / "c", ["onnx"]))["provenance"]
    assert alone["data"] == provenance["data"] and alone["commit"] is None and "run" not in alone
    assert alone["metrics"] == {"split": "val", "monitor": "val/auroc_macro", "value": 0.875, "epoch": 7,
                                "selection": "checkpoint of the epoch with the best val/auroc_macro on the "
                                             "validation split",
                                "values": {"auroc_macro": 0.875}}


def test_the_predictors_model_formats_are_the_exporters() -> None:
    from ecgformer.export import FORMATS
    from ecgformer.inference.bundle import MODEL_FORMATS

    assert set(MODEL_FORMATS) == set(FORMATS)
