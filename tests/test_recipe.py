"""Recipe options of issue 20: dataset-level standardisation fitted on the training split (and carried by checkpoints
and bundles), the one-cycle schedule, soft-target distillation, early stopping off on small validation splits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training import one_thread  # noqa: F401  (autouse: one intra-op thread)

from ecgformer.data.preprocess import Preprocess, resample
from ecgformer.training import distillation_loss, load_config, one_cycle

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "ecgformer" / "configs" / "quickstart_synthetic.yaml"
TINY = ["data.options={n_records: 48, fs: 100, duration_s: 4}", "data.length_s=3", "data.batch_size=8",
        "model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "loggers=[csv]", "data.num_workers=0"]
LEADS = ("I", "II", "III")


def records(n: int = 6, seed: int = 0) -> list[tuple[np.ndarray, float, tuple[str, ...]]]:
    rng = np.random.default_rng(seed)
    scale, offset = np.array([[0.5], [2.0], [1.0]]), np.array([[0.1], [-0.3], [0.0]])
    return [((rng.standard_normal((3, int(rng.integers(200, 400)))) * scale + offset).astype(np.float32), 250.0, LEADS)
            for _ in range(n)]


@pytest.mark.parametrize("kind", ["global", "lead"])
def test_fitted_statistics_equal_numpy_over_the_chains_output(kind: str) -> None:
    data = records()
    chain = Preprocess(fs=100, bandpass=(0.5, 40.0))
    fitted = Preprocess(fs=100, bandpass=(0.5, 40.0), normalize=kind).fit(data)
    outputs = np.concatenate([chain(x, fs, leads)[0] for x, fs, leads in data], axis=1).astype(np.float64)
    mean = outputs.mean() if kind == "global" else outputs.mean(axis=1)
    std = outputs.std() if kind == "global" else outputs.std(axis=1)
    np.testing.assert_allclose(fitted.mean, np.atleast_1d(mean), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fitted.std, np.atleast_1d(std), rtol=1e-9)
    x, fs, leads = data[0]
    got, rate = fitted(x, fs, leads)
    expected = (chain(x, fs, leads)[0] - np.reshape(mean, (-1, 1))) / np.reshape(std, (-1, 1))
    assert rate == 100.0 and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert Preprocess.from_dict(fitted.to_dict()) == fitted  # travels through checkpoints and model.json


def test_dataset_normalisation_keeps_amplitude_differences_that_zscore_removes() -> None:
    x, fs, leads = records(1)[0]
    fitted = Preprocess(normalize="global").fit([(x, fs, leads), (2 * x, fs, leads)])
    small, large = fitted(x, fs, leads)[0], fitted(2 * x, fs, leads)[0]
    assert np.std(large) > 1.9 * np.std(small)
    zscore = Preprocess(normalize="zscore")
    np.testing.assert_allclose(zscore(x, fs, leads)[0], zscore(2 * x, fs, leads)[0], atol=1e-5)


@pytest.mark.parametrize(("fields", "words"), [
    ({"normalize": "lead"}, "needs statistics fitted"),
    ({"normalize": "lead", "mean": [0.0, 0.0]}, "give both or neither"),
    ({"normalize": "zscore", "mean": [0.0], "std": [1.0]}, "only the dataset normalisations"),
    ({"normalize": "global", "mean": [0.0, 1.0], "std": [1.0, 1.0]}, "needs one each"),
    ({"normalize": "lead", "mean": [0.0], "std": [0.0]}, "finite and above 0"),
])
def test_statistics_are_checked(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Preprocess(**fields)(np.zeros((3, 10), dtype=np.float32), 100.0)


def test_one_cycle_follows_pytorchs_one_cycle_lr() -> None:
    total, peak = 137, 3e-3
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=total, pct_start=0.3,
                                                    div_factor=25.0, final_div_factor=1e4, anneal_strategy="cos",
                                                    cycle_momentum=False)
    expected = []
    for _ in range(total):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    got = [peak * one_cycle(step, total, 0.3) for step in range(total)]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15)
    assert one_cycle(0, total) == pytest.approx(1 / 25) and one_cycle(29, 100) == pytest.approx(1.0)  # step 0.3 * 100 - 1


def test_distillation_loss_against_its_formulas() -> None:
    rng = np.random.default_rng(0)
    student, teacher = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    temperature = 2.0
    s, t = student / temperature, teacher / temperature
    target = 1 / (1 + np.exp(-t))
    bce = -(target * np.log(1 / (1 + np.exp(-s))) + (1 - target) * np.log(1 - 1 / (1 + np.exp(-s)))).mean()
    got = distillation_loss(torch.tensor(student), torch.tensor(teacher), single_label=False, temperature=temperature)
    assert float(got) == pytest.approx(bce * temperature ** 2, rel=1e-6)
    p = np.exp(t) / np.exp(t).sum(axis=1, keepdims=True)
    log_q = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    kl = (p * (np.log(p) - log_q)).sum(axis=1).mean()
    got = distillation_loss(torch.tensor(student), torch.tensor(teacher), single_label=True, temperature=temperature)
    assert float(got) == pytest.approx(kl * temperature ** 2, rel=1e-6)
    assert float(distillation_loss(torch.tensor(teacher), torch.tensor(teacher), True)) == pytest.approx(0, abs=1e-7)


def test_early_stopping_is_off_on_a_small_validation_split() -> None:
    from lightning.pytorch.callbacks import EarlyStopping

    from ecgformer.training import build_trainer

    config = load_config(CONFIG, ["trainer.enable_progress_bar=false", "loggers=[]"])
    small = build_trainer(config, "fit", val_records=234)
    large = build_trainer(config, "fit", val_records=2183)
    assert not any(isinstance(c, EarlyStopping) for c in small.callbacks)
    assert [c.patience for c in large.callbacks if isinstance(c, EarlyStopping)] == [5]
    config = load_config(CONFIG, ["early_stopping.min_val_records=0", "loggers=[]"])
    assert any(isinstance(c, EarlyStopping) for c in build_trainer(config, "fit", val_records=6).callbacks)


@pytest.mark.parametrize("cache", [False, True])
def test_the_data_module_fits_on_the_training_split_and_applies_it(tmp_path: Path, cache: bool) -> None:
    from ecgformer.training import build_datamodule

    config = load_config(CONFIG, [*TINY, f"data.cache={str(tmp_path) if cache else 'false'}",
                                  "data.preprocess={normalize: lead, bandpass: [0.5, 30.0]}", "data.augment=null"])
    datamodule = build_datamodule(config)
    source = datamodule.source
    train = source.split("train")
    chain = Preprocess(bandpass=(0.5, 30.0))
    raw = datamodule._source_arg() if cache else source
    outputs = np.concatenate([chain(raw.load(int(i)).signal, raw.load(int(i)).fs)[0]
                              for i in (raw.split("train") if cache else train)], axis=1).astype(np.float64)
    np.testing.assert_allclose(datamodule.preprocess.mean, outputs.mean(axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(datamodule.preprocess.std, outputs.std(axis=1), rtol=1e-5)
    item = datamodule.datasets["val"][0]
    record = raw.load(int(item["index"]))
    expected = (chain(record.signal, record.fs)[0] - outputs.mean(axis=1)[:, None]) / outputs.std(axis=1)[:, None]
    start = (expected.shape[-1] - item["x"].shape[-1]) // 2  # evaluation crops are centred
    np.testing.assert_allclose(item["x"].numpy(), expected[:, start:start + item["x"].shape[-1]], atol=1e-4)


def test_a_checkpoints_statistics_are_reused_at_test_time(tmp_path: Path) -> None:
    from ecgformer.training import build_datamodule, fit
    from ecgformer.training.checkpoint_io import read_checkpoint

    config = load_config(CONFIG, [*TINY, f"out_dir={tmp_path}", "data.cache=false",
                                  "data.preprocess={normalize: global}"])
    best = fit(config)
    stored = read_checkpoint(best)["data_config"]["preprocess"]
    assert stored["normalize"] == "global" and len(stored["mean"]) == len(stored["std"]) == 1
    planted = {**stored, "mean": [0.25], "std": [2.0]}  # not what the data would give: proves they are not refitted
    assert build_datamodule(config, planted).preprocess.mean == (0.25,)
    other = load_config(CONFIG, [*TINY, "data.cache=false", "data.preprocess={normalize: global, notch: 45}"])
    assert build_datamodule(other, planted).preprocess.mean != (0.25,)  # another chain: its own statistics


def test_a_bundle_applies_the_fitted_statistics(tmp_path: Path) -> None:
    from test_models import small

    from ecgformer.export import export_bundle, from_preset
    from ecgformer.inference import Predictor

    mean, std = tuple(np.linspace(-0.1, 0.1, 12)), tuple(np.linspace(0.5, 1.5, 12))
    source = from_preset("xresnet1d50", sampling_rate=100.0, seconds=5.0, **small("xresnet1d50"))
    source.preprocess = Preprocess(normalize="lead", mean=mean, std=std)
    predictor = Predictor(export_bundle(source, tmp_path / "b", ["onnx"]))
    signal = np.cumsum(np.random.default_rng(0).standard_normal((12, 700)), axis=1).astype(np.float32) * 0.05
    windows = predictor.spec.prepare(signal, 250.0, predictor.spec.lead_names)
    expected = (resample(signal, 250.0, 100.0) - np.array(mean)[:, None]) / np.array(std)[:, None]
    assert windows.shape == (1, 12, 500) and expected.shape == (12, 280)  # 2.8 s, zero-padded to 5 s
    np.testing.assert_allclose(windows[0, :, :280], expected, atol=1e-5)
    assert not windows[0, :, 280:].any()
    assert math.isclose(predictor.meta["preprocess"]["std"][11], 1.5)
