"""Bundles and predictor inputs as an attacker or a careless user makes them (issue 19): a ``model.json`` that lies
about the model, a swapped model file, bad rates and paths that are not records, outputs that must not be lost.

Every tampered bundle must be refused when the :class:`Predictor` is built, with one line naming the key; every bad
input must end in its own status while the batch goes on; the output path is checked before any record is read.
The schema checks are compared with the reference validator (``jsonschema``) on every case.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from test_models import small

from ecgformer.cli import main
from ecgformer.export import export_bundle, from_preset
from ecgformer.inference import Predictor
from ecgformer.inference.bundle import BundleError
from ecgformer.training.thresholds import Thresholds

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
THRESHOLDS = (0.5, 0.45, 0.55, 0.5, 0.6)
FS, SECONDS = 100.0, 5.0


def export_small(folder: Path, classes: tuple[str, ...], seed: int = 0) -> Path:
    source = from_preset("xresnet1d50", class_names=classes, sampling_rate=FS, seconds=SECONDS,
                         **small("xresnet1d50"))
    source.thresholds = Thresholds(THRESHOLDS[:len(classes)], "f1", "val", classes)
    return export_bundle(source, folder, ["onnx"])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small 5-class, 12-lead multi-label bundle at 100 Hz (5 s windows)."""
    return export_small(tmp_path_factory.mktemp("bundle") / "bundle", CLASSES)


@pytest.fixture(scope="module")
def three_class_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model file of a 3-output bundle, to swap into the 5-class one."""
    return export_small(tmp_path_factory.mktemp("three") / "bundle", CLASSES[:3]) / "model.onnx"


def tampered(bundle: Path, folder: Path, change: Callable[[dict[str, Any], Path], None]) -> Path:
    """A copy of ``bundle`` in ``folder`` whose model.json (and files) ``change`` edited in place."""
    shutil.copytree(bundle, folder)
    meta = json.loads((folder / "model.json").read_text())
    change(meta, folder)
    (folder / "model.json").write_text(json.dumps(meta))  # json writes NaN as NaN, as a careless tool would
    return folder


def setter(path: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    """Set (or with ``value=DELETE`` remove) the key at the dotted ``path``."""
    def change(meta: dict[str, Any], folder: Path) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


DELETE = object()


def swap_model(model: Path) -> Callable[[dict[str, Any], Path], None]:
    """Replace model.onnx by ``model`` and update its sha256, as an attacker with write access would."""
    def change(meta: dict[str, Any], folder: Path) -> None:
        shutil.copyfile(model, folder / "model.onnx")
        meta["files"]["onnx"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    return change


def remove_model(meta: dict[str, Any], folder: Path) -> None:
    (folder / "model.onnx").unlink()


def outside_copy(meta: dict[str, Any], folder: Path) -> None:
    shutil.copyfile(folder / "model.onnx", folder.parent / f"{folder.name}-outside.onnx")
    meta["files"]["onnx"]["path"] = f"../{folder.name}-outside.onnx"


def link_outside(meta: dict[str, Any], folder: Path) -> None:
    target = folder.parent / f"{folder.name}-linked.onnx"
    shutil.move(folder / "model.onnx", target)
    (folder / "model.onnx").symlink_to(target)


# case -> (change, the key the error must name); the reproductions first
CASES: dict[str, tuple[Callable[[dict[str, Any], Path], None], str]] = {
    "4 class names": (setter("class_names", list(CLASSES[:4])), "class_names"),
    "6 class names": (setter("class_names", [*CLASSES, "AF"]), "class_names"),
    "duplicated class names": (setter("class_names", ["NORM", "MI", "MI", "CD", "HYP"]), "class_names"),
    "thresholds of the wrong length": (setter("thresholds.values", [0.5] * 4), "thresholds.values"),
    "NaN threshold": (setter("thresholds.values.2", float("nan")), "thresholds.values[2]"),
    "threshold above 1": (setter("thresholds.values.0", 1.5), "thresholds.values[0]"),
    "negative threshold": (setter("thresholds.values.4", -0.1), "thresholds.values[4]"),
    "scalar threshold": (setter("thresholds.values", 0.5), "thresholds.values"),
    "missing sha256": (setter("files.onnx.sha256", DELETE), "sha256"),
    "missing input": (setter("input", DELETE), "input"),
    "length 0": (setter("input.length", 0), "input.length"),
    "11 lead names": (setter("lead_names", list(LEADS[:11])), "lead_names"),
    "missing model file": (remove_model, "files.onnx.path"),
    "path with ../": (outside_copy, "files.onnx.path"),
    "absolute path": (setter("files.onnx.path", "/etc/passwd"), "files.onnx.path"),
    "path ..": (setter("files.onnx.path", ".."), "files.onnx.path"),
    "model file linked outside": (link_outside, "files.onnx.path"),
    "band-pass [40, 0.5]": (setter("preprocess.bandpass", [40, 0.5]), "preprocess.bandpass"),
    "notch above Nyquist": (setter("preprocess.notch", 60.0), "preprocess.notch"),
    "unknown task type": (setter("task_type", "multiclass"), "task_type"),
    "threshold classes reordered": (setter("thresholds.class_names", ["MI", "NORM", "STTC", "CD", "HYP"]),
                                    "thresholds.class_names"),
    "single-label with thresholds": (setter("task_type", "singlelabel"), "thresholds.rule"),
    "min_length above length": (setter("input.min_length", 501), "input.min_length"),
    "zero window stride": (setter("input.window_stride", 0), "input.window_stride"),
    "unknown aggregation": (setter("input.aggregation", "median"), "input.aggregation"),
    "negative sampling rate": (setter("sampling_rate", -100), "sampling_rate"),
    "unknown lead name": (setter("lead_names.3", "V7"), "lead_names"),
    "unknown preprocessing key": (setter("preprocess.gain", 2), "preprocess.gain"),
    "bad sha256": (setter("files.onnx.sha256", "0" * 64), "files.onnx.sha256"),
    # the deployment contract (format 2): units, layout, reference arrays, provenance
    "volts, not millivolts": (setter("input.units", "V"), "input.units"),
    "float64 model input": (setter("input.dtype", "float64"), "input.dtype"),
    "samples-first layout": (setter("input.layout", "(samples, leads)"), "input.layout"),
    "missing reference windows": (setter("files.reference_windows", DELETE), "files"),
    "reference array of shape 0": (setter("files.reference_probabilities.shape", [0]),
                                   "files.reference_probabilities.shape[0]"),
    "reference array of float64": (setter("files.reference_input.dtype", "float64"), "files.reference_input.dtype"),
    "reference path with ../": (setter("files.reference_input.path", "../x.npy"), "files.reference_input.path"),
    "negative reference tolerance": (setter("reference.tolerance.windows", -1e-4), "reference.tolerance.windows"),
    "missing provenance": (setter("provenance", DELETE), "provenance"),
    "provenance without thresholds": (setter("provenance.thresholds", DELETE), "provenance"),
    "provenance data without dataset": (setter("provenance.data", {"task": "x", "splits": None}), "provenance.data"),
    "model files only reference arrays": (setter("files.onnx", DELETE), "files"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_bundle_is_refused_at_load_naming_the_key(bundle: Path, tmp_path: Path, case: str) -> None:
    change, key = CASES[case]
    folder = tampered(bundle, tmp_path / "b", change)
    with pytest.raises(BundleError) as caught:
        Predictor(folder)
    message = str(caught.value)
    assert key in message and "\n" not in message, message


def test_a_three_output_model_swapped_in_with_its_sha256_is_refused(bundle: Path, three_class_model: Path,
                                                                    tmp_path: Path) -> None:
    folder = tampered(bundle, tmp_path / "b", swap_model(three_class_model))
    with pytest.raises(BundleError, match=r"class_names: 5 names, but model.onnx has 3 outputs"):
        Predictor(folder)


def test_the_schema_is_valid_and_agrees_with_the_reference_validator(bundle: Path, tmp_path: Path) -> None:
    from ecgformer.inference.schema import bundle_schema, schema_errors

    schema = bundle_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    reference = jsonschema.Draft202012Validator(schema)
    meta = json.loads((bundle / "model.json").read_text())
    assert schema_errors(meta) == [] and reference.is_valid(meta)
    for case, (change, _) in CASES.items():
        if change in (remove_model, outside_copy, link_outside):
            continue  # file changes: model.json itself stays valid
        edited = copy.deepcopy(meta)
        change(edited, tmp_path)
        try:
            json.dumps(edited, allow_nan=False)
        except ValueError:  # NaN is not JSON (RFC 8259): the reference compares it as a float and lets it pass
            assert schema_errors(edited), case
            continue
        assert bool(schema_errors(edited)) == (not reference.is_valid(edited)), case


def test_the_export_writes_what_the_schema_accepts(bundle: Path) -> None:
    from ecgformer.inference.schema import bundle_schema

    meta = json.loads((bundle / "model.json").read_text())
    jsonschema.validate(meta, bundle_schema())
    assert meta["thresholds"]["values"] == list(THRESHOLDS)


def write_record(folder: Path, name: str, rate: str, seconds: float = 6.0) -> Path:
    """A 12-lead format-16 WFDB record (random walk, 1 mV scale) with the record line's rate written as ``rate``."""
    rng = np.random.default_rng(len(name))
    n = int(seconds * 100)
    adu = (np.cumsum(rng.standard_normal((n, 12)), axis=0) * 10).astype("<i2")
    adu.tofile(folder / f"{name}.dat")
    lines = [f"{name} 12 {rate} {n}"] + [f"{name}.dat 16 1000/mV 16 0 0 0 0 {lead}" for lead in LEADS]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


@pytest.mark.parametrize("rate", ["nan", "inf", "1e-300", "1e8", "0", "-100"])
def test_a_bad_header_rate_is_that_records_status_and_the_batch_goes_on(bundle: Path, tmp_path: Path,
                                                                         rate: str) -> None:
    good = write_record(tmp_path, "good", "100")
    bad = write_record(tmp_path, "bad", rate)
    good2 = write_record(tmp_path, "good2", "250")  # resampled to 100 Hz
    out = tmp_path / "x.csv"
    assert main(["predict", str(bundle), str(good), str(bad), str(good2), "--out", str(out)]) == 1
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["record"]).name for r in rows] == ["good", "bad", "good2"]
    assert rows[0]["status"] == rows[2]["status"] == "ok"
    assert rows[1]["status"].startswith("unreadable:") and "rate" in rows[1]["status"], rows[1]
    assert all(rows[1][f"p_{c}"] == "" for c in CLASSES)


@pytest.mark.parametrize("fs", [float("nan"), float("inf"), 0.0, -1.0, 1e-300, 1e8, 999983.0])
def test_a_rate_that_cannot_be_resampled_is_a_status_not_an_exception(bundle: Path, fs: float) -> None:
    signal = np.cumsum(np.random.default_rng(0).standard_normal((12, 800)), axis=1).astype(np.float32) * 0.05
    prediction = Predictor(bundle).predict_signal(signal, fs, LEADS)
    assert prediction.status.startswith("bad sampling rate:") and not prediction.probabilities, prediction


def test_an_error_in_one_records_model_run_is_its_status(bundle: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor(bundle)
    records = [write_record(tmp_path, name, "100") for name in ("a", "b", "c")]
    original = predictor.logits
    calls = []

    def flaky(windows: np.ndarray) -> np.ndarray:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("onnxruntime: out of memory\nsecond line")
        return original(windows)

    monkeypatch.setattr(predictor, "logits", flaky)
    statuses = [p.status for p in predictor.predict(records)]
    assert statuses == ["ok", "failed: RuntimeError: onnxruntime: out of memory", "ok"]


def test_a_bundle_with_invalid_preprocessing_fails_before_any_record(bundle: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tampered(bundle, tmp_path / "b", setter("preprocess.bandpass", [40, 0.5]))
    record = write_record(tmp_path, "r", "100")
    out = tmp_path / "x.csv"
    assert main(["predict", str(folder), str(record), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "preprocess.bandpass" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_every_input_path_gets_a_row(bundle: Path, tmp_path: Path) -> None:
    from ecgformer.inference import STATUSES

    inputs = tmp_path / "in"
    inputs.mkdir()
    good = write_record(inputs, "good", "100")
    shutil.copyfile(good.with_suffix(".dat"), inputs / "headerless.dat")
    (inputs / "empty").mkdir()
    only_data = tmp_path / "only_data"
    only_data.mkdir()
    shutil.copyfile(good.with_suffix(".dat"), only_data / "x.dat")
    shutil.copyfile(good.with_suffix(".dat"), only_data / "y.dat")
    predictions = Predictor(bundle).predict([inputs, only_data, tmp_path / "empty_folder_absent.hea",
                                             inputs / "empty"])
    statuses = {Path(p.record).name: p.status for p in predictions}
    assert statuses["good"] == "ok"
    for name in ("headerless", "x", "y"):
        assert statuses[name] == f"missing header: no {name}.hea describes this data file"
    assert statuses["empty_folder_absent"] == "missing: no such file"
    assert statuses["empty"].startswith("no records:")
    assert len(predictions) == 6 and all(p.status.split(":")[0] in STATUSES for p in predictions)


def test_a_folder_without_records_has_its_own_exit_code(bundle: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(bundle), str(tmp_path / "empty"), "--out", str(tmp_path / "x.json")]) == 3
    rows = json.loads((tmp_path / "x.json").read_text())
    assert [r["status"].split(":")[0] for r in rows] == ["no records"]


def test_a_fifo_is_refused_without_being_opened(bundle: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.hea")
    good = write_record(tmp_path, "good", "100")
    out = tmp_path / "p.csv"
    done = subprocess.run([sys.executable, "-m", "ecgformer.inference", str(bundle), str(tmp_path / "x.hea"),
                           str(tmp_path), str(good), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    with open(out, newline="") as handle:
        statuses = [(Path(r["record"]).name, r["status"].split(":")[0]) for r in csv.DictReader(handle)]
    assert statuses == [("x", "refused"), ("good", "ok"), ("x", "refused"), ("good", "ok")]


@pytest.mark.parametrize("where", ["missing folder", "a folder", "no suffix"])
def test_a_bad_output_path_fails_before_any_prediction(bundle: Path, tmp_path: Path, where: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = {"missing folder": tmp_path / "nope" / "x.csv", "a folder": tmp_path, "no suffix": tmp_path / "x.txt"}[where]
    record = write_record(tmp_path, "r", "100")

    def forbidden(self: Predictor, inputs: object) -> None:
        raise AssertionError("records were predicted before the output path was checked")

    monkeypatch.setattr(Predictor, "predict", forbidden)
    assert main(["predict", str(bundle), str(record), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {out}") and len(err.splitlines()) == 1


def test_an_existing_output_is_kept_unless_overwrite(bundle: Path, tmp_path: Path) -> None:
    record = write_record(tmp_path, "r", "100")
    out = tmp_path / "x.csv"
    out.write_text("the user's own file\n")
    assert main(["predict", str(bundle), str(record), "--out", str(out)]) == 2
    assert out.read_text() == "the user's own file\n"
    assert main(["predict", str(bundle), str(record), "--out", str(out), "--overwrite"]) == 0
    with open(out, newline="") as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["ok"]


def test_a_failed_write_has_its_own_exit_code_and_leaves_the_old_file(bundle: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import ecgformer.inference.predictor as predictor_module

    record = write_record(tmp_path, "r", "100")
    out = tmp_path / "x.json"
    out.write_text("[]")
    real = predictor_module.atomic_write

    def disk_full_half_way(target: Path, write: Callable[[Any], None], overwrite: bool = True) -> Path:
        def half(handle: Any) -> None:
            handle.write(b'[{"record": ')
            raise OSError(28, "No space left on device")
        return real(target, half, overwrite)

    monkeypatch.setattr(predictor_module, "atomic_write", disk_full_half_way)
    assert main(["predict", str(bundle), str(record), "--out", str(out), "--overwrite"]) == 4
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text() == "[]" and sorted(p.name for p in tmp_path.iterdir()) == ["r.dat", "r.hea", "x.json"]


def key_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON document (dict keys and list indices), parents before children."""
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.extend(key_paths(child, (*prefix, key)))
    return out


def mutate(meta: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> None:
    """Apply one mutation in place (a path that earlier mutations removed is left alone)."""
    node: Any = meta
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
        return
    if isinstance(node, dict) and last not in node or not isinstance(node, (dict, list)):
        return
    if action == "delete":
        del node[last]
    elif action == "replace":
        node[last] = value
    elif isinstance(node[last], list):  # "shorten" / "repeat" a list
        node[last] = node[last][:-1] if action == "shorten" else node[last] + node[last][-1:]


def independent_probabilities(meta: dict[str, Any], session: Any, windows: np.ndarray) -> np.ndarray:
    """Record probabilities computed from model.json by this test: softmax or sigmoid of every window, then the
    mean or max over windows."""
    logits = session.run(None, {session.get_inputs()[0].name: windows})[0].astype(np.float64)
    if meta["task_type"] == "singlelabel":
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = exp / exp.sum(axis=1, keepdims=True)
    else:
        probs = 1 / (1 + np.exp(-logits))
    return probs.max(axis=0) if meta["input"]["aggregation"] == "max" else probs.mean(axis=0)


def test_fuzzed_model_json_ends_in_an_error_or_in_rows_that_agree_with_the_model(bundle: Path,
                                                                                 tmp_path: Path) -> None:
    """Mutated model.json files (keys removed, replaced by other values or types, lists shortened or repeated):
    the predictor refuses each with a one-line error, or its ok rows agree with the model run independently.
    The schema verdict agrees with the reference validator on every mutation that is still JSON."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ecgformer.inference import STATUSES
    from ecgformer.inference.schema import bundle_schema, schema_errors

    original = json.loads((bundle / "model.json").read_text())
    # the keys the decisions rest on come up three times as often as the rest
    decisive = ("class_names", "thresholds", "lead_names", "input", "files", "model", "task_type", "sampling_rate")
    paths = [path for path in key_paths(original) for _ in range(3 if path[0] in decisive else 1)]
    values = st.one_of(
        st.sampled_from([None, True, False, 0, 1, -1, 0.5, 2, 500, 1e300, -1e-300, float("nan"), float("inf"), "",
                         "x", "..", "../model.onnx", "/etc/passwd", "model.onnx", "mean", "max", "argmax",
                         "singlelabel", [], {}, [0.5] * 5, [1.0] * 5, list(CLASSES), list(LEADS), [40, 0.5],
                         [0.5, None], {"onnx": {}}]),
        st.integers(-10, 10 ** 6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
    mutation = st.tuples(st.sampled_from(paths), st.sampled_from(["delete", "replace", "shorten", "repeat"]), values)
    reference = jsonschema.Draft202012Validator(bundle_schema())
    record = write_record(tmp_path, "fuzz", "250", seconds=12.0)
    array = tmp_path / "array.npy"
    np.save(array, (np.cumsum(np.random.default_rng(3).standard_normal((12, 900)), axis=1) * 0.05).astype("f4"))
    outcomes = {"refused": 0, "accepted": 0}

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(mutation, min_size=1, max_size=3))
    def check(mutations: list[tuple[tuple[Any, ...], str, Any]]) -> None:
        meta = copy.deepcopy(original)
        for path, action, value in mutations:
            mutate(meta, path, action, copy.deepcopy(value))
        folder = tmp_path / "b"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(bundle, folder)
        (folder / "model.json").write_text(json.dumps(meta))
        try:
            json.dumps(meta, allow_nan=False)
        except ValueError:
            assert schema_errors(meta), "a non-finite number passed the schema"
        else:
            assert bool(schema_errors(meta)) == (not reference.is_valid(meta)), mutations
        try:
            predictor = Predictor(folder)
        except BundleError as exc:
            assert "\n" not in str(exc) and str(exc), mutations
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        assert meta["class_names"] == list(predictor.class_names)
        for prediction in predictor.predict([record, array]):
            assert prediction.status.split(":")[0] in STATUSES, prediction.status
            assert list(prediction.row(predictor.class_names))[2:-1] == [f"p_{c}" for c in meta["class_names"]]
            if prediction.status != "ok":
                assert not prediction.probabilities
                continue
            source = record if prediction.record.endswith("fuzz") else array
            if source == array:
                windows = predictor.spec.prepare(np.load(array), meta["sampling_rate"], meta["lead_names"])
            else:
                from ecgformer.data.wfdb_io import load_wfdb_record, read_header

                loaded = load_wfdb_record(read_header(record))
                windows = predictor.spec.prepare(loaded.signal, loaded.fs, loaded.leads)
            expected = independent_probabilities(meta, predictor.session, windows)
            got = np.array([prediction.probabilities[c] for c in meta["class_names"]])
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
            values = meta["thresholds"]["values"]  # indexed per class: a list of the wrong length fails here
            wanted = ([meta["class_names"][int(np.argmax(expected))]] if meta["task_type"] == "singlelabel"
                      else [c for k, c in enumerate(meta["class_names"]) if expected[k] >= values[k]])
            assert prediction.labels == wanted

    check()
    assert outcomes["refused"] > 50 and outcomes["accepted"] > 5, outcomes
