"""Training module, runs, thresholds, checkpoints, reproducibility and reports on tiny synthetic data."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score
from torch.utils.data import DataLoader

from ecgformer import training
from ecgformer.data.datamodule import collate_ecg
from ecgformer.metrics import auroc
from ecgformer.training import (
    PER_CLASS_COLUMNS,
    REPORT_FILES,
    AtomicCheckpointIO,
    ConfigError,
    EcgClassifier,
    Thresholds,
    build_datamodule,
    build_trainer,
    ema_update_fn,
    evaluation_metrics,
    fit,
    load_config,
    predict,
    validate,
    warmup_cosine,
)
from ecgformer.training.checkpoint_io import (
    upgrade_data_config,
    upgrade_hyper_parameters,
)

TINY_OVERRIDES = {"dims": (16, 16, 32, 32), "depths": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2)}
TINY_MODEL = "model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}"


def tiny_config(out_dir: Path, *overrides: str) -> dict[str, Any]:
    """A few seconds per epoch: 200 synthetic records at 100 Hz, 4 s crops, a 40k-parameter ecgformer_t."""
    return load_config(None, [f"out_dir={out_dir}", "data.options={n_records: 200, fs: 100, duration_s: 5}",
                              "data.length_s=4", "data.batch_size=16", "data.preprocess={normalize: zscore}",
                              TINY_MODEL, "module.lr=5e-3", "trainer.max_epochs=8", "trainer.enable_progress_bar=false",
                              "loggers=[csv]", "data.num_workers=0", *overrides])


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: the CPU is shared, and oversubscribed threads make tiny models crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    config = tiny_config(tmp_path_factory.mktemp("run"))
    return config, fit(config)


def _metrics(out_dir: Path) -> pd.DataFrame:
    return pd.concat(pd.read_csv(f) for f in sorted(Path(out_dir, "logs").glob("version_*/metrics.csv")))


def test_fit_learns(trained: tuple[dict[str, Any], Path]) -> None:
    config, best = trained
    logs = _metrics(config["out_dir"])
    train_loss = logs.dropna(subset=["train/loss_epoch"]).groupby("epoch")["train/loss_epoch"].mean()
    assert len(train_loss) == 8 and train_loss.iloc[-1] < 0.85 * train_loss.iloc[0]
    module = EcgClassifier.load_from_checkpoint(best).eval()
    dataset = build_datamodule(config).datasets["train"]
    items = [dataset[i] for i in range(len(dataset))]
    with torch.no_grad():
        prob = module(torch.stack([item["x"] for item in items])).sigmoid().numpy()
    assert auroc(np.stack([item["y"].numpy() for item in items]), prob) > 0.6


def test_thresholds_chosen_on_validation_and_stored(trained: tuple[dict[str, Any], Path]) -> None:
    config, best = trained
    checkpoint = torch.load(best, weights_only=False)
    assert {"state_dict", "optimizer_states", "lr_schedulers", "loops", "hyper_parameters", "thresholds",
            "class_names", "data_config"} <= set(checkpoint)
    stored = Thresholds.from_dict(checkpoint["thresholds"])
    assert stored.split == "val" and stored.rule == "f1" and len(stored.values) == 10
    assert checkpoint["class_names"] == list(stored.class_names)
    assert checkpoint["data_config"]["preprocess"]["normalize"] == "zscore"
    assert checkpoint["data_config"]["fs"] == 100.0 and len(checkpoint["data_config"]["leads"]) == 12
    # validating the checkpoint again re-chooses the same thresholds from the validation outputs
    module = EcgClassifier.load_from_checkpoint(best)
    assert module.thresholds == stored
    metrics = validate(config, best)
    assert metrics["auroc_macro"] == pytest.approx(checkpoint["callbacks"][next(
        k for k in checkpoint["callbacks"] if k.startswith("ModelCheckpoint"))]["best_model_score"].item(), abs=1e-6)


def test_report_uses_validation_thresholds(trained: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    config, best = trained
    before = hashlib.sha256(best.read_bytes()).hexdigest()
    folder = training.test(dict(config, report_dir=str(tmp_path / "report")), best)
    assert hashlib.sha256(best.read_bytes()).hexdigest() == before  # testing never rewrites the checkpoint
    assert sorted(p.name for p in folder.iterdir()) == sorted(REPORT_FILES)
    summary = pd.read_json(folder / "metrics.json", typ="series")
    assert summary["thresholds_chosen_on"] == "val"
    stored = Thresholds.from_dict(torch.load(best, weights_only=False)["thresholds"])
    table = pd.read_csv(folder / "per_class.csv")
    assert tuple(table.columns) == PER_CLASS_COLUMNS and list(table["class"]) == list(stored.class_names)
    np.testing.assert_allclose(table["threshold"], stored.values)
    records = pd.read_csv(folder / "predictions.csv")
    assert records.columns[0] == "record_id" and {f"prob_{c}" for c in stored.class_names} <= set(records.columns)
    assert len(records) == summary["n_records"]
    decisions = records[[f"pred_{c}" for c in stored.class_names]].to_numpy().astype(bool)
    np.testing.assert_array_equal(decisions, stored.apply(records[[f"prob_{c}" for c in stored.class_names]]
                                                         .to_numpy()))
    out = predict(config, best, tmp_path / "pred.csv")  # the bundle predictor's layout: record, status, p_<c>, labels
    predicted = pd.read_csv(out, keep_default_na=False)
    assert list(predicted.columns) == ["record", "status", *(f"p_{c}" for c in stored.class_names), "labels"]
    assert list(predicted["record"]) == list(records["record_id"]) and set(predicted["status"]) == {"ok"}
    np.testing.assert_allclose(predicted[[f"p_{c}" for c in stored.class_names]], records[
        [f"prob_{c}" for c in stored.class_names]], atol=1e-6)
    chosen = [[c for c, d in zip(stored.class_names, row) if d] for row in decisions]
    assert [labels.split("|") if labels else [] for labels in predicted["labels"]] == chosen
    # the test metrics that depend on thresholds were computed with the validation ones: F1 recomputed by
    # scikit-learn from the true labels and the stored thresholds' decisions (thresholds re-chosen on the test
    # outputs would give a higher F1 here)
    truth = records[[f"true_{c}" for c in stored.class_names]].to_numpy()
    expected_f1 = f1_score(truth, decisions.astype(int), average=None, zero_division=np.nan)
    assert summary["metrics"]["f1_macro"] == pytest.approx(float(np.nanmean(expected_f1)), abs=1e-6)


def test_atomic_checkpoint_keeps_previous_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpt" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "weights": torch.arange(10)}, path)

    def crash(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"epoch": 2, "weights": torch.zeros(10)}, path)
    monkeypatch.undo()
    assert torch.load(path)["epoch"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_resume_continues_epochs_and_same_seed_same_weights(tmp_path: Path) -> None:
    recipe = ("data.options.n_records=60", "module.ema_decay=0.9", "trainer.deterministic=true")  # bit-reproducible
    fit(tiny_config(tmp_path / "a", "trainer.max_epochs=1", *recipe))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    again = fit(tiny_config(tmp_path / "b", "trainer.max_epochs=1", *recipe))
    assert torch.load(last, weights_only=False)["epoch"] == 0  # the last completed epoch
    weights_a = torch.load(last, weights_only=False)["state_dict"]
    weights_b = torch.load(again.parent / "last.ckpt", weights_only=False)["state_dict"]
    assert any(key.startswith("ema.") for key in weights_a)
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)

    fit(tiny_config(tmp_path / "a", "trainer.max_epochs=2", *recipe), ckpt_path=last)
    resumed = torch.load(last, weights_only=False)
    assert resumed["epoch"] >= 1
    assert resumed["global_step"] == 2 * torch.load(again.parent / "last.ckpt", weights_only=False)["global_step"]
    epochs = _metrics(tmp_path / "a").dropna(subset=["val/auroc_macro"])["epoch"]
    assert sorted(epochs) == [0, 1]


def test_schedule_and_single_label_metrics() -> None:
    factors = [warmup_cosine(step, 100, 10, 0.1) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    y = np.eye(4)[[0, 1, 2, 3, 0, 2]]
    prob = np.eye(4)[[0, 1, 2, 0, 0, 1]] * 0.7 + 0.075
    metrics = evaluation_metrics(y, prob, None, ("N", "A", "O", "~"), single_label=True,
                                 challenge={"scorer": "cinc2017"})  # the CinC 2017 reader's challenge_scoring()
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # F1: N = 2*2/(2+3), A = 2*1/(1+2), O = 2*1/(2+1)
    assert metrics["cinc2017_score"] == pytest.approx((4 / 5 + 2 / 3 + 2 / 3) / 3)
    assert "cinc2017_score" not in evaluation_metrics(y, prob, None, ("N", "A", "O", "~"), single_label=True)


def test_hyper_parameters_of_other_writers_are_read_under_the_module_keys() -> None:
    outside = {"model_name": "xresnet1d50", "model_kwargs": {"layers": [1]}, "task_type": "singlelabel", "lr": 1e-3}
    assert upgrade_hyper_parameters(outside) == {"model": "xresnet1d50", "model_overrides": {"layers": [1]},
                                                 "single_label": True, "lr": 1e-3}
    own = {"model": "ecgformer_t", "model_overrides": {}, "single_label": False}
    assert upgrade_hyper_parameters(own) == own
    with pytest.raises(ValueError, match="task_type must be 'multilabel' or 'singlelabel', got 'multiclass'"):
        upgrade_hyper_parameters({"task_type": "multiclass"})


def test_checkpoint_data_configs_of_older_versions_name_their_scorer() -> None:
    """Before readers named their scorer, CinC 2021 checkpoints held its spec bare and CinC 2017 ones none."""
    old_2021 = {"data": {"dataset": "cinc2021"}, "challenge": {"class_codes": ["1"], "weights_file": "w.csv"}}
    assert upgrade_data_config(old_2021)["challenge"] == {"scorer": "cinc2021", "class_codes": ["1"],
                                                          "weights_file": "w.csv"}
    assert upgrade_data_config({"data": {"dataset": "cinc2017"}})["challenge"] == {"scorer": "cinc2017"}
    assert "challenge" not in upgrade_data_config({"data": {"dataset": "ptbxl"}})
    current = {"data": {"dataset": "cinc2017"}, "challenge": {"scorer": "cinc2017"}}
    assert upgrade_data_config(current) == current and upgrade_data_config(None) == {}


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_matches_the_decay_rule_step_by_step(warmup: bool) -> None:
    """The EcgClassifier's EMA against a loop of the published rule (TensorFlow's num_updates warm-up), on a
    BatchNorm model: float running statistics are averaged too, the integer batch counter follows the model."""
    torch.manual_seed(0)
    module = EcgClassifier("xresnet1d50", num_classes=3, ema_decay=0.9, ema_warmup=warmup)
    states = []
    for _ in range(6):
        with torch.no_grad():
            for tensor in itertools.chain(module.model.parameters(), module.model.buffers()):
                tensor.copy_(torch.randn_like(tensor.float()).to(tensor.dtype) if tensor.is_floating_point()
                             else tensor + 1)
        states.append({k: v.clone() for k, v in module.model.state_dict().items()})
        module.on_train_batch_end(None, None, 0)
    expected = dict(states[0])
    for n, state in enumerate(states[1:], start=1):
        decay = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9
        expected = {k: decay * expected[k] + (1 - decay) * v if v.is_floating_point() else v
                    for k, v in state.items()}
    averaged = module.ema.module.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(averaged[key], value, msg=key)
    with pytest.raises(ValueError, match="decay"):
        ema_update_fn(1.0)
    with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\), got 0.0"):  # the module's own argument
        EcgClassifier("xresnet1d50", num_classes=3, ema_decay=0.0)


def test_bad_configs_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.batchsize"):
        load_config(None, ["data.batchsize=3"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["data.batch_size"])
    with pytest.raises(ConfigError, match="missing.yaml' is neither a file nor a packaged config"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="threshold_rule"):
        EcgClassifier(num_classes=4, threshold_rule="best", model_overrides={"dims": (16, 16, 32, 32),
                                                                             "depths": (1, 1, 1, 1)})


def test_single_label_task_uses_argmax_and_cinc2017_score(tmp_path: Path) -> None:
    """Four classes named as CinC 2017's, told apart by the frequency of a noisy sine: an easy task, scored by the
    CinC 2017 scorer the data config names."""
    rng = np.random.default_rng(0)

    def items(n: int, offset: int) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            k = i % 4
            t = np.arange(300) / 100.0
            x = np.sin(2 * np.pi * (k + 1) * t + rng.uniform(0, 6.3)) + 0.3 * rng.standard_normal(300)
            out.append({"x": torch.tensor(x[None], dtype=torch.float32), "y": torch.eye(4)[k], "index": offset + i})
        return out

    loader = partial(DataLoader, collate_fn=collate_ecg, batch_size=16)
    config = tiny_config(tmp_path, "checkpoint.monitor=val/cinc2017_score", "early_stopping=null",
                         "trainer.max_epochs=6")
    module = EcgClassifier(num_classes=4, in_chans=1, model_overrides={"dims": (16, 16, 32, 32),
                                                                       "depths": (1, 1, 1, 1),
                                                                       "num_heads": (1, 1, 2, 2)},
                           loss="cross_entropy", lr=5e-3, single_label=True, class_names=["N", "A", "O", "~"],
                           data_config={"challenge": {"scorer": "cinc2017"}})  # what the CinC 2017 reader declares
    trainer = build_trainer(config)
    trainer.fit(module, loader(items(96, 0), shuffle=True), loader(items(32, 1000)))
    stored = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=False)["thresholds"]
    assert stored["rule"] == "argmax" and stored["values"] is None and stored["split"] == "val"
    assert module.last_metrics["val"]["cinc2017_score"] > 0.8


def test_cinc2021_logs_the_official_challenge_score(dataset_dir: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Training on the CinC 2021 records logs ``challenge_score``: the scorer applied to the report's thresholded
    decisions with the classes mapped back from abbreviations to the ``weights.csv`` codes."""
    from ecgformer.data.cinc2021 import read_scored_classes
    from ecgformer.metrics import cinc2021_challenge_score

    root = dataset_dir("cinc2021", "weights.csv")
    monkeypatch.setenv("ECGFORMER_CACHE", str(tmp_path / "cache"))
    config = load_config("cinc2021", [
        f"out_dir={tmp_path}", f"data.root={root}", "data.cache=false", "data.length_s=5", "data.eval_crop=center",
        "data.augment=null", "data.preprocess={fs: 50, normalize: zscore}", "data.batch_size=32", TINY_MODEL,
        "module.ema_decay=null", "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "loggers=[csv]",
        "data.splits={train: [1, 2, 3, 4, 5, 6, 7, 8], val: [9, 10], test: [9, 10]}"])
    report = training.test(config, fit(config))
    summary = pd.read_json(report / "metrics.json", typ="series")
    predictions = pd.read_csv(report / "predictions.csv")
    codes, names, _ = read_scored_classes(root)
    truth = predictions[[f"true_{n}" for n in names]].to_numpy().astype(bool)
    decided = predictions[[f"pred_{n}" for n in names]].to_numpy().astype(bool)
    expected = cinc2021_challenge_score(truth, decided, codes, root / "weights.csv")
    assert summary["metrics"]["challenge_score"] == pytest.approx(expected, abs=1e-9)
    assert "val/challenge_score" in _metrics(tmp_path).columns


def test_gpu_ready_defaults(tmp_path: Path) -> None:
    """The accelerator is Lightning's choice (the CPU here), determinism is asked for, not imposed."""
    from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

    config = tiny_config(tmp_path)
    assert config["trainer"]["accelerator"] == "auto" and config["data"]["pin_memory"] is None
    expected = CUDAAccelerator if torch.cuda.is_available() else CPUAccelerator
    assert isinstance(build_trainer(config).accelerator, expected)
    before = torch.are_deterministic_algorithms_enabled()
    try:
        build_trainer(config)
        assert not torch.are_deterministic_algorithms_enabled()
        build_trainer(tiny_config(tmp_path, "trainer.deterministic=true"))
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)


def test_the_step_loss_is_logged_without_cross_rank_sync() -> None:
    module = EcgClassifier(num_classes=3, in_chans=2, model_overrides=TINY_OVERRIDES)
    logged: dict[str, dict[str, Any]] = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, kwargs)  # type: ignore[method-assign]
    module.training_step({"x": torch.randn(4, 2, 300), "y": torch.ones(4, 3)}, 0)
    step, epoch = logged["train/loss_step"], logged["train/loss_epoch"]
    assert step["on_step"] and not step["on_epoch"] and not step.get("sync_dist", False)
    assert epoch["on_epoch"] and not epoch["on_step"] and epoch["sync_dist"]


def test_compile_trains_a_tiny_epoch_and_keeps_plain_checkpoint_names(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``module.compile`` compiles the network in place when fit starts; the checkpoint's parameter names are those
    of an uncompiled classifier. (The aot_eager backend traces the model as inductor does, without its C++ build.)"""
    asked: list[dict[str, Any]] = []
    compile_module = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: asked.append(kw) or compile_module(self, **kw))
    config = tiny_config(tmp_path, "trainer.max_epochs=1", "data.options.n_records=60", "data.eval_crop=start",
                         "module.compile={backend: aot_eager}")
    best = fit(config)
    assert asked == [{"backend": "aot_eager"}]
    plain = EcgClassifier(**torch.load(best, weights_only=False)["hyper_parameters"])
    assert list(torch.load(best, weights_only=False)["state_dict"]) == list(plain.state_dict())
    assert _metrics(tmp_path)["train/loss_epoch"].notna().any()
    asked.clear()
    EcgClassifier(num_classes=3, compile=True, model_overrides=TINY_OVERRIDES).on_fit_start()
    assert asked == [{}]  # true: torch.compile's defaults
