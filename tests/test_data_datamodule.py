"""Datasets, collation and the LightningDataModule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecgformer.data import Augment, CinC2021, Preprocess, SyntheticECG
from ecgformer.data.datamodule import EcgDataModule, EcgDataset, collate_ecg


def test_fixed_length_batches_and_split_sizes() -> None:
    source = SyntheticECG(60, fs=250, duration_s=6)
    dm = EcgDataModule(source, length_s=4.0, batch_size=8, augment=Augment.default())
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (8, 12, 1000) and batch["y"].shape == (8, 10)
    assert batch["mask"].all()
    sizes = {name: len(ds) for name, ds in dm.datasets.items()}
    assert sizes == {name: len(source.split(name)) for name in ("train", "val", "test")}
    assert sum(sizes.values()) == 60
    labels = source.labels[dm.datasets["train"].indices]
    expected = (len(labels) - labels.sum(0)) / np.maximum(labels.sum(0), 1)
    np.testing.assert_allclose(dm.pos_weight().numpy(), expected, rtol=1e-6)


def test_training_stream_is_reproducible_and_epochs_differ() -> None:
    def epochs(seed: int, workers: int) -> list[torch.Tensor]:
        dm = EcgDataModule(SyntheticECG(24, fs=100, duration_s=6), length_s=3.0, batch_size=6,
                           augment=Augment.default(), seed=seed, num_workers=workers)
        dm.setup()
        loader = dm.train_dataloader()
        return [torch.cat([b["x"] for b in loader]) for _ in range(2)]

    a, b = epochs(0, 0), epochs(0, 0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], a[1])  # new crops/augmentations each epoch
    assert not torch.equal(a[0], epochs(1, 0)[0])
    w1, w2 = epochs(0, 2), epochs(0, 2)
    assert all(torch.equal(x, y) for x, y in zip(w1, w2))  # also with worker processes


def test_variable_length_padding_and_sliding_windows() -> None:
    items = [{"x": torch.ones(2, n), "y": torch.zeros(3), "index": k} for k, n in enumerate((5, 9, 7))]
    batch = collate_ecg(items)
    assert batch["x"].shape == (3, 2, 9) and batch["lengths"].tolist() == [5, 9, 7]
    assert batch["mask"].sum(1).tolist() == [5, 9, 7] and batch["x"][0, :, 5:].abs().sum() == 0
    source = SyntheticECG(3, fs=100, duration_s=10)
    dataset = EcgDataset(source, length=400, crop="sliding", stride=300)
    batch = collate_ecg([dataset[0], dataset[1]])
    assert batch["x"].shape == (6, 12, 400) and batch["owner"].tolist() == [0, 0, 0, 1, 1, 1]
    record = source.load(1).signal
    np.testing.assert_array_equal(batch["x"][3].numpy(), record[:, :400])
    np.testing.assert_array_equal(batch["x"][5].numpy(), record[:, 600:])


def test_real_records_with_cache_and_native_lengths(data_root: Path, tmp_path: Path) -> None:
    if not (data_root / "cinc2021" / "weights.csv").is_file():
        pytest.skip("CinC 2021 not present")
    dm = EcgDataModule(lambda: CinC2021(data_root / "cinc2021", sources=["ptb", "cpsc_2018"]),
                       preprocess=Preprocess(fs=250, bandpass=(0.5, 40)), cache=tmp_path, length_s=None,
                       batch_size=4, splits={"all": "all"})
    dm.setup()
    assert dm.output_fs == 250 and len(dm.datasets["all"]) == 24
    batch = next(iter(dm._loader("all", shuffle=False)))
    assert batch["x"].shape[:2] == (4, 12) and batch["y"].shape == (4, 26)
    assert batch["x"].shape[2] == int(batch["lengths"].max())
    mixed = EcgDataModule(lambda: CinC2021(data_root / "cinc2021", sources=["ptb", "cpsc_2018"]))
    mixed.source = mixed._resolve_source()
    with pytest.raises(ValueError, match="several sampling rates"):
        _ = mixed.output_fs


def test_the_cache_is_built_in_prepare_data_and_only_read_in_setup(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning runs prepare_data on local rank 0 only: it builds the cache; setup on another rank waits for it
    and opens it, never building one itself."""
    import threading

    from ecgformer.data import cache as cache_module
    from ecgformer.data import datamodule as datamodule_module

    def module() -> EcgDataModule:
        return EcgDataModule(lambda: SyntheticECG(12, fs=100, duration_s=4), preprocess=Preprocess(normalize="zscore"),
                             cache=tmp_path, length_s=3.0, batch_size=4)

    monkeypatch.setattr(datamodule_module, "local_rank", lambda: 1)
    monkeypatch.setattr(datamodule_module, "_CACHE_POLL_S", 0.05)
    other_rank = module()
    waiting = threading.Thread(target=other_rank.setup)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and not list(tmp_path.iterdir())  # rank 1 waits and builds nothing
    builds: list[str] = []
    build = cache_module.RecordCache.build
    monkeypatch.setattr(cache_module.RecordCache, "build",
                        classmethod(lambda cls, *a, **k: builds.append("built") or build(*a, **k)))
    module().prepare_data()
    waiting.join(10)
    assert not waiting.is_alive() and builds == ["built"]
    assert isinstance(other_rank.source, cache_module.RecordCache)
    assert [p.name for p in tmp_path.iterdir()] == [other_rank.source.path.name]
    monkeypatch.setattr(datamodule_module, "local_rank", lambda: 0)
    module().setup()  # rank 0 without prepare_data: the cache is current, so it is opened, not rebuilt
    assert builds == ["built"]


def test_loader_defaults_follow_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers default to the cores but one (at most 8, none on one core); pinned memory to a CUDA trainer."""
    from types import SimpleNamespace

    from ecgformer.data.datamodule import default_num_workers

    for cores, workers in ((1, 0), (2, 1), (16, 8), (None, 0)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert default_num_workers() == workers
    dm = EcgDataModule(SyntheticECG(12, fs=100, duration_s=4), length_s=3.0, batch_size=4, num_workers=None)
    assert dm.num_workers == 0  # one core (patched above)
    dm.setup()
    asked: list[bool] = []  # what the loader is asked for (torch turns pinning off where no GPU is)
    monkeypatch.setattr("ecgformer.data.datamodule.DataLoader", lambda *a, pin_memory, **k: asked.append(pin_memory))
    dm.train_dataloader()  # no trainer: nothing to pin for
    for device in ("cpu", "cuda"):
        trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
        dm.trainer = trainer  # type: ignore[assignment]
        dm.val_dataloader()
    dm.pin_memory = False
    dm.val_dataloader()  # an explicit setting wins
    assert asked == [False, False, True, False]
