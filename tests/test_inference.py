"""The torch-free predictor: eager-model parity on real records, resampling, lead order, sliding windows,
per-record statuses for bad input, CSV/JSON output, the CLI, and an import where torch cannot be imported."""

from __future__ import annotations

import csv
import dataclasses
import errno
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_models import small

from ecgformer.cli import main
from ecgformer.data.leads import STANDARD_LEADS
from ecgformer.data.preprocess import Preprocess, resample
from ecgformer.export import export_bundle, from_preset
from ecgformer.inference import BundleSpec, Predictor
from ecgformer.inference.bundle import InputError
from ecgformer.inference.predictor import MAX_HEADER_BYTES, OutputError, Prediction, write_predictions
from ecgformer.training.thresholds import Thresholds

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


# The BundleSpec tests come first: they need no exported model, so (with pytest -x, as mutation testing runs them)
# a bug they catch fails before the module's bundle is exported.
SPEC = BundleSpec(class_names=("A", "B", "C"), task_type="multilabel", threshold_values=(0.5, 0.4, 0.6),
                  sampling_rate=100.0, lead_names=("I", "II"), length=200, min_length=150, window_stride=100,
                  aggregation="mean", preprocess=Preprocess())
WALK = (np.cumsum(np.random.default_rng(0).standard_normal((3, 450)), axis=1) * 0.05).astype(np.float32)


def _with_invalid(signal: np.ndarray) -> np.ndarray:
    signal = signal.copy()
    signal[1, [3, 40]] = np.nan
    signal[0, 7] = np.inf
    return signal


@pytest.mark.parametrize(("signal", "fs", "leads", "status"), [
    (WALK[:2], float("nan"), ["I", "II"], "bad sampling rate: nan Hz is not a finite rate above 0"),
    (WALK[:2], float("inf"), ["I", "II"], "bad sampling rate: inf Hz is not a finite rate above 0"),
    (WALK[:2], -250.0, ["I", "II"], "bad sampling rate: -250.0 Hz is not a finite rate above 0"),
    (WALK[:2], 0, ["I", "II"], "bad sampling rate: 0 Hz is not a finite rate above 0"),
    (WALK[:2], "100", ["I", "II"], "bad sampling rate: '100' Hz is not a finite rate above 0"),
    (WALK[:2], 0.001, ["I", "II"], "bad sampling rate: cannot resample 0.001 Hz to 100 Hz: the rate ratio is beyond "
                                   "1:1000 (or no fraction of terms up to 1000 is within 0.1% of it)"),
    (WALK[None, :2], 100.0, ["I", "II"], "expected a (leads, samples) array with 2 rows, got shape (1, 2, 450)"),
    (WALK, 100.0, ["I", "II"], "expected a (leads, samples) array with 2 rows, got shape (3, 450)"),
    (WALK[:2], 100.0, ["V1", "II"], "missing leads: lead I not in record (has V1, II)"),
    (WALK, 100.0, ["II", "I", "II"], "bad lead names: lead list has duplicates: ['II', 'I', 'II']"),
    (_with_invalid(WALK[:2]), 100.0, ["I", "II"], "NaN/invalid samples: 3"),
    (np.stack([WALK[0], np.full(450, 0.3)]), 100.0, ["I", "II"], "flat-line leads: II"),
    (np.stack([np.full(450, 0.3), WALK[0] * 1e-5]), 100.0, ["I", "II"], "flat-line leads: I, II"),
    (WALK[:2, :149], 100.0, ["I", "II"], "too short: 1.49 s, the model needs at least 1.50 s"),
    (WALK[:2, :298], 200.0, ["I", "II"], "too short: 1.49 s, the model needs at least 1.50 s")])
def test_bundle_spec_refuses_a_record_with_its_status(signal, fs, leads, status) -> None:
    with pytest.raises(InputError, match=f"^{re.escape(status)}$"):
        SPEC.prepare(signal, fs, leads)


def test_bundle_spec_reorders_resamples_and_cuts_windows_by_hand() -> None:
    """Leads in the bundle's order (others dropped), the rate converted, exactly ``min_length`` accepted; windows
    every ``window_stride`` samples and the last one aligned to the end; labels at or above their threshold."""
    conformed = SPEC.conform(WALK, 100.0, ["II", "V1", "I"])
    assert conformed.dtype == np.float32
    np.testing.assert_array_equal(conformed, WALK[[2, 0]])
    np.testing.assert_array_equal(SPEC.conform(WALK[:2], np.float32(200.0), ["I", "II"]),
                                  resample(WALK[:2], 200.0, 100.0))
    assert SPEC.conform(WALK[:2, :150], 100, ["I", "II"]).shape == (2, 150)
    windows = SPEC.prepare(WALK, 100.0, ["II", "V1", "I"])
    np.testing.assert_array_equal(windows, np.stack([WALK[[2, 0], s:s + 200] for s in (0, 100, 200, 250)]))
    np.testing.assert_array_equal(SPEC.windows(WALK[:2, :400]), np.stack([WALK[:2, s:s + 200] for s in (0, 100, 200)]))
    np.testing.assert_array_equal(SPEC.windows(WALK[:2, :150]), np.pad(WALK[:2, :150], ((0, 0), (0, 50)))[None])
    assert SPEC.labels(np.array([0.5, 0.399, 0.61])) == ["A", "C"]
    assert SPEC.labels(np.array([0.2, 0.3, 0.1])) == []
    for spec in (dataclasses.replace(SPEC, task_type="singlelabel"), dataclasses.replace(SPEC, threshold_values=None)):
        assert spec.labels(np.array([0.2, 0.3, 0.5])) == ["C"]  # the thresholds would give no label
    reordering = dataclasses.replace(SPEC, preprocess=Preprocess(leads=("II", "I")))  # rows named by lead_names
    np.testing.assert_array_equal(reordering.windows(WALK[:2, :400]),
                                  np.stack([WALK[[1, 0], s:s + 200] for s in (0, 100, 200)]))


def test_bundle_spec_probabilities_in_float64_without_overflow() -> None:
    """Sigmoid and softmax in float64 (to 1e-12 of the math module on float32 logits), the softmax shifted per
    window: logits of 400 do not overflow, and a window far below another keeps its own probabilities."""
    logits = np.array([[0.1, -3.7, 2.2]], dtype=np.float32)
    expected = [1 / (1 + math.exp(-float(v))) for v in logits[0]]
    np.testing.assert_allclose(SPEC.probabilities(logits), expected, rtol=1e-12, atol=0)
    single = dataclasses.replace(SPEC, task_type="singlelabel")
    windows = np.array([[400.0, 399.0, 0.0], [-1000.0, -1001.0, -1000.0]])
    first = np.exp([0.0, -1.0, -400.0]) / np.exp([0.0, -1.0, -400.0]).sum()
    second = np.exp([0.0, -1.0, 0.0]) / np.exp([0.0, -1.0, 0.0]).sum()
    np.testing.assert_allclose(single.probabilities(windows), (first + second) / 2, rtol=1e-12)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A small ecgformer_s bundle (250 Hz, 8 s, z-scored, band-passed, per-class thresholds) and its eager model."""
    source = from_preset("ecgformer_s", class_names=CLASSES, sampling_rate=250.0, seconds=8.0, **small("ecgformer_s"))
    source.preprocess = Preprocess(bandpass=(0.5, 40.0), normalize="zscore")
    source.thresholds = Thresholds((0.5, 0.45, 0.55, 0.5, 0.6), "f1", "val", CLASSES)
    return export_bundle(source, tmp_path_factory.mktemp("b") / "bundle", ["onnx"]), source.model


def eager_probabilities(predictor: Predictor, model: torch.nn.Module, signal: np.ndarray, fs: float,
                        leads: list[str]) -> np.ndarray:
    windows = predictor.spec.prepare(signal, fs, leads)
    with torch.no_grad():
        logits = model(torch.from_numpy(windows)).numpy()
    return predictor.spec.probabilities(logits)


def real_records(dataset_dir) -> list[Path]:
    ptbxl = dataset_dir("ptbxl", "records500")
    records = sorted((ptbxl / "records500").rglob("*.hea"))[:2] + sorted((ptbxl / "records100").rglob("*.hea"))[:1]
    cinc = sorted((dataset_dir("cinc2021", "training") / "training").rglob("*.hea"))[:1]
    return records + cinc


def test_predictor_reproduces_eager_probabilities_on_real_records(bundle, dataset_dir) -> None:
    from ecgformer.data.wfdb_io import load_wfdb_record, read_header

    folder, model = bundle
    predictor = Predictor(folder)
    paths = real_records(dataset_dir)
    for path, prediction in zip(paths, predictor.predict(paths)):
        assert prediction.status == "ok", prediction
        record = load_wfdb_record(read_header(path))
        expected = eager_probabilities(predictor, model, record.signal, record.fs, list(record.leads))
        got = np.array([prediction.probabilities[c] for c in CLASSES])
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0, err_msg=str(path))
        thresholds = (0.5, 0.45, 0.55, 0.5, 0.6)
        assert prediction.labels == [c for c, p, t in zip(CLASSES, got, thresholds) if p >= t]


def test_lead_order_resampling_and_sliding_windows(bundle) -> None:
    folder, model = bundle
    predictor = Predictor(folder)
    rng = np.random.default_rng(1)
    signal = np.cumsum(rng.standard_normal((12, 25 * 500)), axis=1).astype(np.float32) * 0.01  # 25 s at 500 Hz
    base = predictor.predict_signal(signal, 500.0, STANDARD_LEADS)
    assert predictor.spec.prepare(signal, 500.0, STANDARD_LEADS).shape == (6, 12, 2000)  # 6250 samples
    expected = eager_probabilities(predictor, model, signal, 500.0, list(STANDARD_LEADS))
    np.testing.assert_allclose([base.probabilities[c] for c in CLASSES], expected, atol=1e-4, rtol=0)
    order = rng.permutation(12)
    shuffled = predictor.predict_signal(signal[order], 500.0, [STANDARD_LEADS[i].upper() for i in order])
    assert shuffled.probabilities == pytest.approx(base.probabilities, abs=1e-6)


def test_single_label_bundle_takes_the_arg_max(tmp_path: Path) -> None:
    source = from_preset("xresnet1d50", class_names=("N", "A", "O", "~"), task_type="singlelabel", in_chans=1,
                         sampling_rate=250.0, seconds=8.0, **small("xresnet1d50"))
    predictor = Predictor(export_bundle(source, tmp_path / "b", ["onnx"]))
    signal = np.sin(np.linspace(0, 60, 2500, dtype=np.float32))[None]
    prediction = predictor.predict_signal(signal, 300.0, ["ECG"])
    probs = np.array(list(prediction.probabilities.values()))
    assert prediction.status == "ok" and probs.sum() == pytest.approx(1.0)
    assert prediction.labels == [("N", "A", "O", "~")[int(np.argmax(probs))]]


def write_bad_inputs(folder: Path, good: Path) -> dict[str, str]:
    """Bad inputs -> the status prefix each must get."""
    import wfdb

    rng = np.random.default_rng(0)
    ecg = (np.cumsum(rng.standard_normal((12, 5000)), axis=1) * 0.01).astype(np.float32)
    cases = {}
    np.save(folder / "ok.npy", ecg[:, :2000])
    cases["ok"] = "ok"
    nan = ecg[:, :2000].copy()
    nan[3, 100:120] = np.nan
    np.save(folder / "nan.npy", nan)
    cases["nan"] = "NaN/invalid samples"
    flat = ecg[:, :2000].copy()
    flat[7] = 0.2
    np.save(folder / "flat.npy", flat)
    cases["flat"] = "flat-line leads: V2"
    np.save(folder / "short.npy", ecg[:, :300])
    cases["short"] = "too short"
    np.save(folder / "wrong_shape.npy", ecg[:6, :2000])
    cases["wrong_shape"] = "bad shape: expected a (leads, samples) array with 12 rows"
    wfdb.wrsamp("sixlead", fs=500, units=["mV"] * 6, sig_name=list(STANDARD_LEADS[:6]),
                p_signal=ecg[:6].T.astype(float), fmt=["16"] * 6, write_dir=str(folder))
    cases["sixlead"] = "missing leads: lead V1 not in record"
    header = good.with_suffix(".hea").read_text()
    for name in ("truncated", "nodata"):
        (folder / f"{name}.hea").write_text(header.replace(good.stem, name))
    (folder / "truncated.dat").write_bytes(good.with_suffix(".dat").read_bytes()[:1000])
    cases["truncated"] = "unreadable: truncated data file"
    cases["nodata"] = "unreadable: missing data file"
    (folder / "garbage.hea").write_text("this is not a header\n")
    cases["garbage"] = "unreadable:"
    return cases


def test_bad_inputs_get_their_status_and_the_batch_goes_on(bundle, dataset_dir, tmp_path: Path) -> None:
    folder, _ = bundle
    good = real_records(dataset_dir)[0]
    cases = write_bad_inputs(tmp_path, good)
    predictions = Predictor(folder).predict([tmp_path, tmp_path / "absent.hea", good])
    statuses = {Path(p.record).name: p.status for p in predictions}
    assert len(predictions) == len(cases) + 2
    for name, prefix in cases.items():
        assert statuses[name].startswith(prefix), (name, statuses[name])
    assert statuses["absent"] == "missing: no such file"
    assert statuses[good.stem] == "ok"
    for p in predictions:
        assert (p.status == "ok") == bool(p.probabilities)


@pytest.mark.parametrize(("outcome", "status"), [
    (RuntimeError("onnxruntime: out of memory\nat node 12"), "failed: RuntimeError: onnxruntime: out of memory"),
    (np.full((1, len(CLASSES)), np.nan), "failed: the model returned non-finite outputs")])
def test_a_failing_model_becomes_the_records_status(bundle, monkeypatch, outcome, status) -> None:
    """A model that raises or returns NaN gives the record a failed status (first line of the error), no
    probabilities and no labels; a signal without a name is called "array"."""
    predictor = Predictor(bundle[0])

    def logits(windows: np.ndarray) -> np.ndarray:
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(predictor, "logits", logits)
    signal = (np.cumsum(np.random.default_rng(1).standard_normal((12, 2000)), axis=1) * 0.01).astype(np.float32)
    got = predictor.predict_signal(signal, 250.0, STANDARD_LEADS, "r7")
    assert (got.record, got.status, got.probabilities, got.labels) == ("r7", status, {}, [])
    assert predictor.predict_signal(signal, 250.0, STANDARD_LEADS).record == "array"


def padded_header(header: str, size: int) -> str:
    """``header`` followed by ``#`` comment lines up to exactly ``size`` bytes."""
    missing = size - len(header.encode())
    lines = ["#" + "x" * 998 + "\n"] * (missing // 1000)
    rest = missing - 1000 * len(lines)
    return header + "".join(lines) + ("#" + "x" * (rest - 2) + "\n" if rest else "")


class Unpickled:
    """Pickles as a call that creates ``marker``: a loader that unpickles it leaves the file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return open, (str(self.marker), "w")


def test_path_statuses_word_for_word(bundle, dataset_dir, tmp_path: Path) -> None:
    """Statuses decided from the path alone: a data file is judged by its header, an empty folder, a path that
    cannot be stat'ed, and the header size limit (at most 1 MiB, inclusive; an .npy array has no such limit); a
    pickled .npy is refused without being unpickled."""
    folder, _ = bundle
    good = real_records(dataset_dir)[0]
    (tmp_path / "orphan.dat").write_bytes(bytes(16))
    (tmp_path / "empty").mkdir()
    (tmp_path / "loop.hea").symlink_to(tmp_path / "loop.hea")
    header = good.with_suffix(".hea").read_text()
    for name, size in (("padded", MAX_HEADER_BYTES), ("huge", MAX_HEADER_BYTES + 1)):
        (tmp_path / f"{name}.hea").write_text(padded_header(header.replace(good.stem, name), size))
        (tmp_path / f"{name}.dat").write_bytes(good.with_suffix(".dat").read_bytes())
    assert (tmp_path / "padded.hea").stat().st_size == MAX_HEADER_BYTES
    (tmp_path / "dirdata.hea").write_text(header.replace(good.stem, "dirdata"))
    (tmp_path / "dirdata.dat").mkdir()
    walk = np.cumsum(np.random.default_rng(0).standard_normal((12, 30_000)), axis=1) * 0.01
    np.save(tmp_path / "long.npy", walk.astype(np.float32))  # 1.4 MB
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "pickled.npy", np.array([Unpickled(marker)], dtype=object), allow_pickle=True)
    names = ("orphan.dat", "absent.dat", "pickled.npy", "empty", "loop.hea", "padded.hea", "huge.hea", "long.npy",
             "dirdata.hea")
    predictions = Predictor(folder).predict([*(tmp_path / n for n in names), good.with_suffix(".dat"),
                                             good.with_suffix("")])
    loop = OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(tmp_path / "loop.hea"))
    assert not marker.exists()  # nothing user-supplied is unpickled
    assert [p.record for p in predictions] == [str(tmp_path / Path(n).stem) for n in names] + [str(good.with_suffix(""))] * 2
    assert [p.status for p in predictions] == [
        "missing header: no orphan.hea describes this data file",
        "missing header: no absent.hea describes this data file",
        "unreadable: ValueError: Object arrays cannot be loaded when allow_pickle=False",
        "no records: the folder holds no .hea or .npy file",
        f"unreadable: {loop}",
        "ok",
        f"unreadable: a {MAX_HEADER_BYTES + 1} byte header (WFDB headers are a few KB)",
        "ok",
        "refused: data file dirdata.dat is not a regular file; not opened",
        "ok",
        "ok"]  # a data file of a good record, and a record named without its suffix


PREDICTIONS = [Prediction("a/r1", "ok", {"NORM": 0.25, "MI": 0.75}, ["MI"]), Prediction("r2", "too short")]
PREDICTIONS_CSV = "record,status,p_NORM,p_MI,labels\r\na/r1,ok,0.25,0.75,MI\r\nr2,too short,,,\r\n"
PREDICTIONS_JSON = """[
  {
    "record": "a/r1",
    "status": "ok",
    "p_NORM": 0.25,
    "p_MI": 0.75,
    "labels": "MI"
  },
  {
    "record": "r2",
    "status": "too short",
    "p_NORM": null,
    "p_MI": null,
    "labels": ""
  }
]"""


def test_predictions_files_byte_for_byte_and_kept_unless_overwrite(tmp_path: Path, monkeypatch) -> None:
    """CSV with RFC 4180 line ends and empty fields for records that are not ok, JSON indented by two; an existing
    file is replaced only with ``overwrite``, also when it appears while the predictions are being written."""
    csv_path, json_path = tmp_path / "p.csv", tmp_path / "p.json"
    assert write_predictions(PREDICTIONS, ("NORM", "MI"), csv_path) == csv_path
    assert csv_path.read_bytes() == PREDICTIONS_CSV.encode()
    write_predictions(PREDICTIONS, ("NORM", "MI"), json_path)
    assert json_path.read_bytes() == PREDICTIONS_JSON.encode()
    with pytest.raises(OutputError, match=rf"^--out {csv_path}: exists; pass --overwrite to replace it$"):
        write_predictions(PREDICTIONS[1:], ("NORM", "MI"), csv_path)
    assert csv_path.read_bytes() == PREDICTIONS_CSV.encode()
    write_predictions(PREDICTIONS[1:], ("NORM", "MI"), csv_path, overwrite=True)
    assert csv_path.read_bytes() == b"record,status,p_NORM,p_MI,labels\r\nr2,too short,,,\r\n"
    late = tmp_path / "late.csv"  # another process creates it after the check, before the write
    monkeypatch.setattr(sys.modules["ecgformer.inference.predictor"], "remove_stale_temporaries",
                        lambda folder: late.write_text("theirs"))
    with pytest.raises(OutputError, match=rf"^--out {late}: could not be written \({late} exists"):
        write_predictions(PREDICTIONS, ("NORM", "MI"), late)
    assert late.read_text() == "theirs"


def test_predict_cli_writes_csv_and_json(bundle, dataset_dir, tmp_path: Path) -> None:
    folder, _ = bundle
    records = [str(p) for p in real_records(dataset_dir)[:2]]
    np.save(tmp_path / "short.npy", np.ones((12, 10), dtype=np.float32))
    assert main(["predict", str(folder), *records, str(tmp_path / "short.npy"), "--out", str(tmp_path / "p.csv")]) == 1
    with open(tmp_path / "p.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["record", "status", *(f"p_{c}" for c in CLASSES), "labels"]
    assert [r["status"] for r in rows][:2] == ["ok", "ok"] and rows[2]["status"].startswith("flat-line")
    assert rows[2]["p_NORM"] == "" and 0.0 <= float(rows[0]["p_MI"]) <= 1.0
    assert main(["predict", str(folder), *records, "--out", str(tmp_path / "p.json")]) == 0
    items = json.loads((tmp_path / "p.json").read_text())
    assert [set(item) for item in items] == [set(rows[0])] * 2
    assert all(set(item["labels"].split("|")) <= set(CLASSES) | {""} for item in items)


def torch_blocked_env(tmp_path: Path) -> dict[str, str]:
    """An environment as the ``[inference]`` install leaves it: importing torch, Lightning or any other module of the
    training install fails as a missing package does (a module of that name first on the path raises)."""
    from ecgformer.cli import TRAINING_MODULES

    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    for name in TRAINING_MODULES:
        message = f"No module named {name!r}"
        (blocker / f"{name}.py").write_text(f"raise ModuleNotFoundError({message!r}, name={name!r})\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}


def test_predictor_runs_where_torch_cannot_be_imported(bundle, dataset_dir, tmp_path: Path) -> None:
    folder, _ = bundle
    record = real_records(dataset_dir)[0]
    script = (
        "import sys\n"
        "from ecgformer.inference import Predictor\n"
        f"p = Predictor({str(folder)!r}).predict([{str(record)!r}])[0]\n"
        "assert p.status == 'ok', p\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'onnx', 'onnxscript'))\n"
        "assert not heavy, heavy\n"
        "from ecgformer.inference.__main__ import main\n"
        f"sys.exit(main([{str(folder)!r}, {str(record)!r}, '--out', {str(tmp_path / 'p.json')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], check=False, env=torch_blocked_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "p.json").read_text())[0]["status"] == "ok"


def test_ecgformer_predict_command_runs_where_torch_cannot_be_imported(bundle, dataset_dir, tmp_path: Path) -> None:
    folder, _ = bundle
    record = real_records(dataset_dir)[0]
    command = [sys.executable, "-m", "ecgformer.cli", "predict", str(folder), str(record), "--out",
               str(tmp_path / "p.csv")]
    done = subprocess.run(command, check=False, env=torch_blocked_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "p.csv", newline="") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["ok"]
    for command, rc in ((["--version"], 0), (["fit", "--config", "quickstart_synthetic"], 2), (["list"], 2)):
        done = subprocess.run([sys.executable, "-m", "ecgformer.cli", *command], check=False,
                              env=torch_blocked_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert done.returncode == rc, (command, done.stderr)
        if rc == 2:
            assert done.stderr.count("\n") == 1 and f"ecgformer {command[0]} needs the training install" in done.stderr
            assert "pip install 'ecgformer[train]'" in done.stderr


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(("task_type", "aggregation", "logits", "expected"), [
    # two windows of a two-class multi-label record: probabilities averaged (0.5506), not the logits (sigmoid(1) = 0.731)
    ("multilabel", "mean", [[4.0, 0.0], [-2.0, 0.0]], [(_sigmoid(4) + _sigmoid(-2)) / 2, 0.5]),
    ("multilabel", "max", [[4.0, 0.0], [-2.0, 0.0]], [_sigmoid(4), 0.5]),
    # single-label: each window's soft-max first (e^2 / (e^2 + 2) = 0.787 on its own class, 0.1065 elsewhere)
    ("singlelabel", "mean", [[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]],
     [(math.e ** 2 / (math.e ** 2 + 2) + 1 / (math.e ** 2 + 2)) / 2, 1 / (math.e ** 2 + 2),
      (math.e ** 2 / (math.e ** 2 + 2) + 1 / (math.e ** 2 + 2)) / 2]),
    ("singlelabel", "max", [[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]],
     [math.e ** 2 / (math.e ** 2 + 2), 1 / (math.e ** 2 + 2), math.e ** 2 / (math.e ** 2 + 2)]),
])
def test_windows_are_aggregated_as_probabilities_worked_out_by_hand(task_type: str, aggregation: str,
                                                                   logits: list[list[float]],
                                                                   expected: list[float]) -> None:
    """Each window's logits go through the sigmoid (soft-max) first, then windows are averaged (or maxed): hand-made
    logits whose mean logit would give other numbers (sigmoid(mean) 0.731 vs 0.551; max vs mean)."""
    classes = tuple("ABC"[:len(expected)])
    spec = BundleSpec(class_names=classes, task_type=task_type, threshold_values=None, sampling_rate=100.0,
                      lead_names=("I",), length=100, min_length=50, window_stride=50, aggregation=aggregation,
                      preprocess=Preprocess())
    assert spec.probabilities(np.array(logits)) == pytest.approx(expected, abs=1e-12)
