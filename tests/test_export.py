"""Export bundles: every preset to ONNX, TorchScript and ExportedProgram with parity
within 1e-4 at three lengths, bundle contents, checkpoint sources, atomic failure and the CLI.

Presets are exported at a small width (``small`` of test_models) with a 250 Hz, 8 s input (2000 samples, several
windows in every stage); one bundle per preset is cached for the module.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from test_models import small

import ecgformer
from ecgformer.cli import main
from ecgformer.data.preprocess import Preprocess
from ecgformer.data.wfdb_io import load_wfdb_record, read_header
from ecgformer.export import ParityError, export_bundle, from_preset, load_source
from ecgformer.export.bundle import (
    bundle_json,
    check_parity,
    parity_batch,
    parity_inputs,
    parity_lengths,
)
from ecgformer.export.formats import write_model
from ecgformer.inference import BundleSpec, read_bundle_json
from ecgformer.inference.bundle import REFERENCE_FILES, sha256_file
from ecgformer.training.thresholds import Thresholds

ROOT = Path(__file__).resolve().parent.parent
NAMES = ecgformer.list_models()
TINY = {"sampling_rate": 250.0, "seconds": 8.0}


def tiny_source(name: str, **kwargs: object):
    return from_preset(name, **{**TINY, **small(name), **kwargs})


PARITY_SPEC = BundleSpec(class_names=("A", "B"), task_type="multilabel", threshold_values=(0.5, 0.5),
                         sampling_rate=100.0, lead_names=("I", "II"), length=200, min_length=150, window_stride=100,
                         aggregation="mean", preprocess=Preprocess())


def test_parity_batch_is_the_first_window_of_each_record_and_names_them() -> None:
    """One window per record, its first; the source is "synthetic" or "records" with the names in order."""
    records = [np.arange(900, dtype=np.float32).reshape(2, 450) * k for k in (1, 2)]
    inputs, source = parity_batch(PARITY_SPEC, records, ["ptbxl/00001_hr", "cinc2021/A0001"])
    np.testing.assert_array_equal(inputs, np.stack([r[:, :200] for r in records]))
    assert source == "records ptbxl/00001_hr, cinc2021/A0001"
    assert parity_batch(PARITY_SPEC, records[:1], ["synthetic/0"])[1] == "synthetic"


def test_parity_inputs_come_from_the_root_given_else_are_synthetic(tmp_path: Path) -> None:
    """Three records by default; the first headers of each dataset folder of ``root`` in sorted order, read back
    by wfdb as the reference; synthetic ECGs when ``root`` has too few."""
    import wfdb

    folder = tmp_path / "dataset"
    folder.mkdir()
    walk = np.cumsum(np.random.default_rng(0).standard_normal((450, 2)), axis=0) * 0.05
    for name in ("r2", "r1"):
        wfdb.wrsamp(name, fs=100, units=["mV", "mV"], sig_name=["I", "II"], p_signal=walk, fmt=["16", "16"],
                    write_dir=str(folder))
    inputs, source = parity_inputs(PARITY_SPEC, 2, root=tmp_path)
    assert source == "records dataset/r1, dataset/r2"
    expected = wfdb.rdrecord(str(folder / "r1")).p_signal.T[:, :200]
    np.testing.assert_allclose(inputs, np.stack([expected, expected]), atol=1e-6)
    inputs, source = parity_inputs(PARITY_SPEC, root=tmp_path)  # 3 wanted, 2 there
    assert source == "synthetic" and inputs.shape == (3, 2, 200)


@pytest.mark.parametrize(("length", "min_length", "expected"), [
    (200, 150, (200, 151, 150)),  # 3/4 of 200, plus one; half of 200 plus three is below min_length
    (1000, 100, (1000, 751, 503)),
    (200, 199, (200, 199))])  # both shorter lengths clamp to min_length: listed once
def test_parity_lengths_by_hand(length: int, min_length: int, expected: tuple[int, ...]) -> None:
    spec = dataclasses.replace(PARITY_SPEC, length=length, min_length=min_length)
    assert parity_lengths(spec) == expected


class StandInExport:
    """An exported model's runner that differs from an all-zero eager model by ``offsets[(batch, length)]``, raises
    for the shapes in ``raises``, and records the shapes it is called with."""

    def __init__(self, offsets: dict[tuple[int, int], float], raises: tuple[tuple[int, int], ...] = ()) -> None:
        self.offsets, self.raises, self.shapes = offsets, raises, []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(x.shape)
        if (x.shape[0], x.shape[-1]) in self.raises:
            raise RuntimeError("shape guard failed")
        return np.full((x.shape[0], 2), self.offsets.get((x.shape[0], x.shape[-1]), 0.0), dtype=np.float32)


def zero_logits(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros(x.shape[0], 2)


def check_with(monkeypatch: pytest.MonkeyPatch, runner: StandInExport, tolerance: float = 0.25) -> dict[str, float]:
    monkeypatch.setattr(sys.modules["ecgformer.export.bundle"], "load_runner", lambda path, fmt: runner)
    return check_parity(zero_logits, Path("model.onnx"), "onnx", np.zeros((3, 2, 200), dtype=np.float32),
                        (200, 151, 150), tolerance)


def test_check_parity_runs_every_length_and_the_first_record_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch at each length, then the first record alone at the first length; a length's figure is the larger
    of its runs, and a difference equal to the tolerance passes."""
    runner = StandInExport({(3, 200): 0.125, (1, 200): 0.0625, (3, 151): 0.25})
    assert check_with(monkeypatch, runner) == {"200": 0.125, "151": 0.25, "150": 0.0}
    assert runner.shapes == [(3, 2, 200), (3, 2, 151), (3, 2, 150), (1, 2, 200)]
    runner = StandInExport({(3, 200): 0.0625, (1, 200): 0.125})
    assert check_with(monkeypatch, runner)["200"] == 0.125


@pytest.mark.parametrize(("runner", "message"), [
    (StandInExport({(3, 151): 0.5}), "onnx export differs from the eager model: max abs logit difference per length "
                                     "{'200': 0.0, '151': 0.5, '150': 0.0} exceeds 0.25"),
    (StandInExport({(1, 200): float("nan")}), "onnx export differs from the eager model: max abs logit difference "
                                              "per length {'200': inf, '151': 0.0, '150': 0.0} exceeds 0.25"),
    (StandInExport({}, raises=((1, 200),)), "onnx export fails on 1 x 200 inputs (figures so far: {'200': 0.0, "
                                           "'151': 0.0, '150': 0.0}): RuntimeError: shape guard failed")])
def test_check_parity_failures_word_for_word(monkeypatch: pytest.MonkeyPatch, runner: StandInExport,
                                             message: str) -> None:
    """Over the tolerance, NaN (counted as infinite, never as a pass) and a runner error are ParityErrors."""
    with pytest.raises(ParityError, match=f"^{re.escape(message)}$"):
        check_with(monkeypatch, runner)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> an ONNX + TorchScript bundle of the small preset (exported on first use)."""
    root = tmp_path_factory.mktemp("bundles")

    class Cache(dict):
        def __missing__(self, name: str) -> Path:
            self[name] = export_bundle(tiny_source(name), root / name, ["onnx"])  # TorchScript: on request, below
            return self[name]
    return Cache()


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_exports_onnx_within_tolerance(bundles: dict[str, Path], name: str) -> None:
    folder = bundles[name]
    meta = read_bundle_json(folder)
    assert set(meta["files"]) == {"onnx", *REFERENCE_FILES}
    for fmt, entry in meta["files"].items():
        assert sha256_file(folder / entry["path"]) == entry["sha256"]
    parity = meta["parity"]["onnx"]
    assert len(parity["lengths"]) == 3 and parity["batch"] == 3
    assert max(parity["max_abs_logit_diff"].values()) <= 1e-4, parity
    opset = {o.domain: o.version for o in onnx.load(folder / "model.onnx").opset_import}[""]
    assert opset >= 18
    assert sorted(p.name for p in folder.iterdir()) == sorted(["model.json", "model.onnx", *REFERENCE_FILES.values()])


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_exports_an_exported_program_within_tolerance(tmp_path: Path, name: str) -> None:
    source = tiny_source(name)
    spec = BundleSpec.from_json(bundle_json(source))
    inputs, _ = parity_inputs(spec)
    path = write_model(source.model, torch.from_numpy(inputs[:2]), "exported", tmp_path)
    diffs = check_parity(source.model, path, "exported", inputs, parity_lengths(spec))
    assert len(diffs) == 3 and max(diffs.values()) <= 1e-4, diffs


def test_model_json_describes_inputs_outputs_and_provenance(bundles: dict[str, Path]) -> None:
    meta = read_bundle_json(bundles["ecgformer_s"])
    assert meta["class_names"] == [f"class_{k}" for k in range(5)]
    assert meta["thresholds"]["values"] == [0.5] * 5 and meta["thresholds"]["split"] == "none"
    assert meta["sampling_rate"] == 250.0 and meta["lead_names"][:3] == ["I", "II", "III"]
    assert meta["input"] == {"units": "mV", "layout": "(leads, samples)", "model_layout": "(batch, leads, samples)",
                             "dtype": "float32", "length": 2000, "min_length": 500, "pad": "zero",
                             "window_stride": 1000, "aggregation": "mean"}
    assert meta["files"]["onnx"]["opset"] >= 18 and meta["ecgformer_version"] == ecgformer.__version__
    assert meta["model"]["kwargs"] == json.loads(json.dumps(small("ecgformer_s")))
    assert meta["parity"]["onnx"]["inputs"].startswith(("records ", "synthetic"))


def test_failed_export_leaves_no_half_bundle(tmp_path: Path) -> None:
    source = tiny_source("xresnet1d50")
    out = tmp_path / "bundle"
    with pytest.raises(ParityError, match="max abs logit difference"):
        export_bundle(source, out, ["onnx", "torchscript"], tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []
    export_bundle(source, out, ["torchscript"])
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ParityError):
        export_bundle(source, out, ["onnx"], tolerance=-1.0, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before and [p.name for p in tmp_path.iterdir()] == ["bundle"]
    with pytest.raises(FileExistsError):
        export_bundle(source, out, ["torchscript"])


def test_checkpoint_layout_is_read(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = ecgformer.create_model("xresnet1d50", 4, 6, **small("xresnet1d50"))
    thresholds = Thresholds(None, "argmax", "val", ("N", "A", "O", "~"))
    preprocess = Preprocess(fs=100, bandpass=(0.5, 40.0), normalize="zscore")
    ckpt = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"model_name": "xresnet1d50", "model_kwargs": small("xresnet1d50"), "num_classes": 4,
                                 "in_chans": 6, "class_names": ["N", "A", "O", "~"],
                                 "thresholds": thresholds.to_dict(), "preprocess": preprocess.to_dict(),
                                 "sampling_rate": 100, "lead_names": ["I", "II", "III", "aVR", "aVL", "aVF"],
                                 "input_length": 1000, "task_type": "singlelabel"},
            "data_config": {"data": {"eval_crop": "sliding", "eval_stride_s": 2.5}}}
    torch.save(ckpt, tmp_path / "best.ckpt")
    source = load_source(str(tmp_path / "best.ckpt"))
    for a, b in zip(source.model.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    meta = read_bundle_json(export_bundle(source, tmp_path / "bundle", ["onnx"]))
    assert meta["task_type"] == "singlelabel" and meta["class_names"] == ["N", "A", "O", "~"]
    assert meta["thresholds"] == thresholds.to_dict() and meta["preprocess"] == preprocess.to_dict()
    assert meta["sampling_rate"] == 100 and meta["input"]["length"] == 1000 and len(meta["lead_names"]) == 6
    assert meta["input"]["window_stride"] == 250  # long records: the windows it was evaluated with (2.5 s at 100 Hz)
    assert bundle_json(source, stride_fraction=1.0)["input"]["window_stride"] == 1000
    del ckpt["data_config"]
    torch.save(ckpt, tmp_path / "best.ckpt")
    assert bundle_json(load_source(str(tmp_path / "best.ckpt")))["input"]["window_stride"] == 500  # half a window


def test_a_trained_lightning_checkpoint_exports_with_its_metadata_and_predictor_parity(tmp_path: Path) -> None:
    from ecgformer.data.synthetic import SyntheticECG, write_wfdb
    from ecgformer.inference import Predictor
    from ecgformer.training import EcgClassifier, fit, load_config

    config = load_config(ROOT / "ecgformer" / "configs" / "quickstart_synthetic.yaml", [
        f"out_dir={tmp_path / 'run'}", "data.options.n_records=40", "trainer.max_epochs=1", "model.name=ecgformer_t",
        "model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}",
        "data.eval_crop=sliding", "data.eval_stride_s=2", "trainer.enable_progress_bar=false", "loggers=[csv]",
        "data.num_workers=0"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model on a shared CPU
    try:
        best = fit(config)
    finally:
        torch.set_num_threads(threads)
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    folder = export_bundle(load_source(str(best)), tmp_path / "bundle", ["onnx"])
    meta = read_bundle_json(folder)
    assert meta["model"]["name"] == "ecgformer_t" and meta["model"]["origin"] == f"checkpoint {best.name}"
    assert meta["class_names"] == ckpt["class_names"] == list(SyntheticECG(n_records=40).classes)
    assert meta["thresholds"] == ckpt["thresholds"] and meta["thresholds"]["split"] == "val"
    assert meta["sampling_rate"] == 100.0 and meta["lead_names"] == ckpt["data_config"]["leads"]
    assert meta["preprocess"] == ckpt["data_config"]["preprocess"] and meta["preprocess"]["normalize"] == "zscore"
    assert meta["input"]["length"] == 800 and meta["task_type"] == "multilabel"
    assert meta["input"]["window_stride"] == 200  # the run's evaluation windows: eval_stride_s=2 at 100 Hz

    records = write_wfdb(SyntheticECG(**config["data"]["options"]), tmp_path / "records", [0, 1, 2])
    predictor = Predictor(folder)
    model = EcgClassifier.load_from_checkpoint(best, map_location="cpu").eval_model().eval()
    for path in sorted(records.glob("*.hea")):
        got = predictor.predict_file(path)
        assert got.status == "ok", got
        record = load_wfdb_record(read_header(path))
        windows = predictor.spec.prepare(record.signal, record.fs, record.leads)
        assert windows.shape == (2, 12, 800)  # 10 s records, 8 s windows: sliding windows and aggregation
        with torch.no_grad():
            expected = predictor.spec.probabilities(model(torch.from_numpy(windows)).numpy())
        np.testing.assert_allclose([got.probabilities[c] for c in predictor.class_names], expected, atol=1e-4)


def test_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["export", "xresnet1d50", "--format", "onnx,torchscript", "--out", str(tmp_path / "b"), "--fs", "250",
            "--seconds", "8", "--classes", "NORM,MI,STTC", "--model-kwargs", json.dumps(small("xresnet1d50"))]
    assert main(args) == 0
    assert read_bundle_json(tmp_path / "b")["class_names"] == ["NORM", "MI", "STTC"]
    assert main(args) == 1 and "exists" in capsys.readouterr().err
    assert main(["export", "no_such_model", "--out", str(tmp_path / "c")]) == 1
    assert not (tmp_path / "c").exists()


def test_torchscript_is_written_only_on_request_and_says_it_is_deprecated(tmp_path: Path) -> None:
    """The CLI's default formats are ONNX and ExportedProgram; a TorchScript export warns (FutureWarning)."""
    from ecgformer.export.formats import DEFAULT_FORMATS

    assert DEFAULT_FORMATS == ("onnx", "exported")
    model = ecgformer.create_model("xresnet1d50", 2, in_chans=1, **small("xresnet1d50")).eval()
    with pytest.warns(FutureWarning, match="TorchScript .* is deprecated"):
        path = write_model(model, torch.randn(2, 1, 1000), "torchscript", tmp_path)
    assert path.name == "model.ts" and path.is_file()
