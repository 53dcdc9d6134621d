"""PyTorch datasets and the LightningDataModule over any source (reader, cache, derived, synthetic)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .augment import Augment
from .base import LabelledSource
from .cache import RecordCache
from .errors import DataError, logger
from .preprocess import Preprocess, fixed_length, sliding_windows

__all__ = ["EcgDataset", "EcgDataModule", "collate_ecg", "default_num_workers", "local_rank", "seed_worker"]

_CACHE_POLL_S = 2.0
Crop = Literal["random", "center", "start", "sliding", "none"]


def default_num_workers() -> int:
    """Loader processes by default: one per core but one (for the training process), at most 8; 0 on one core."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def local_rank() -> int:
    """This process's rank on its node in a distributed run (torchrun, Lightning's launcher, SLURM); 0 otherwise."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")))


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and ``random`` from the worker's torch seed, which
    differs per worker and per epoch and derives from the loader's generator."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


class EcgDataset(Dataset):
    """Items ``{"x": (leads, T) float32, "y": (C,) float32, "index": int}`` from a source.

    ``length`` (samples, after ``preprocess``) crops/pads with ``crop``: ``random`` (training),
    ``center``/``start`` (evaluation), ``sliding`` (``x`` becomes ``(windows, leads, length)`` for
    test-time averaging, windows every ``stride`` samples) or ``none`` (native length; batches are
    padded by :func:`collate_ecg`). ``augment`` runs after preprocessing and cropping. Random draws
    come from a generator seeded by ``seed`` (main process) or by the worker seed.
    """

    def __init__(self, source: LabelledSource, indices: Sequence[int] | None = None, *, length: int | None = None,
                 crop: Crop = "center", stride: int | None = None, preprocess: Preprocess | None = None,
                 augment: Augment | None = None, seed: int = 0) -> None:
        if crop != "none" and length is None:
            raise ValueError(f"crop={crop!r} needs a length (or use crop='none')")
        self.source = source
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.length, self.crop, self.stride = length, crop, stride
        self.preprocess, self.augment, self.seed = preprocess, augment, seed
        self._rng: np.random.Generator | None = None
        self._rng_seed: int | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        seed = self.seed if info is None else int(info.seed % 2 ** 63)
        if self._rng is None or self._rng_seed != seed:
            self._rng, self._rng_seed = np.random.default_rng([self.seed, seed]), seed
        return self._rng

    def __getitem__(self, k: int) -> dict[str, Any]:
        i = int(self.indices[k])
        record = self.source.load(i)
        x, fs = record.signal, record.fs
        if self.preprocess is not None:
            x, fs = self.preprocess(x, fs, record.leads)
        rng = self._generator()
        if self.crop == "sliding":
            assert self.length is not None
            x = sliding_windows(x, self.length, self.stride)
            if self.augment is not None:
                x = np.stack([self.augment(w, fs, rng) for w in x])
        else:
            if self.crop != "none":
                assert self.length is not None
                x = fixed_length(x, self.length, self.crop, rng if self.crop == "random" else None)
            if self.augment is not None:
                x = self.augment(x, fs, rng)
        return {"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "y": torch.from_numpy(self.source.labels[i].astype(np.float32)), "index": i}


def collate_ecg(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack items; pad variable lengths at the end (``lengths`` and ``mask`` tell the real extent).

    Sliding-window items are flattened: ``x`` is ``(total_windows, leads, length)`` and ``owner``
    maps each window to its item in ``y``/``index`` (average predictions with ``index_add_``).
    """
    y = torch.stack([item["y"] for item in batch])
    index = torch.tensor([item["index"] for item in batch], dtype=torch.long)
    if batch[0]["x"].dim() == 3:
        owner = torch.cat([torch.full((item["x"].shape[0],), k, dtype=torch.long) for k, item in enumerate(batch)])
        return {"x": torch.cat([item["x"] for item in batch]), "y": y, "index": index, "owner": owner}
    lengths = torch.tensor([item["x"].shape[-1] for item in batch], dtype=torch.long)
    longest = int(lengths.max())
    x = torch.zeros(len(batch), batch[0]["x"].shape[0], longest)
    for k, item in enumerate(batch):
        x[k, :, : item["x"].shape[-1]] = item["x"]
    mask = torch.arange(longest)[None, :] < lengths[:, None]
    return {"x": x, "y": y, "index": index, "lengths": lengths, "mask": mask}


class EcgDataModule(L.LightningDataModule):
    """Train/val/test loaders over any source.

    ``source`` is a source or a zero-argument factory (built in :meth:`setup`). With ``cache``
    (``True`` for the default folder, or a folder) the preprocessed records come from a
    :class:`RecordCache`; otherwise ``preprocess`` runs per item. A dataset normalisation
    (``Preprocess(normalize="global" | "lead")``) is fitted on the ``train`` split in :meth:`setup` unless the
    preprocess already carries statistics; :attr:`preprocess` then holds them (checkpoints and bundles store it).
    ``length_s`` fixes the input length (random crops for training, ``eval_crop`` for evaluation); ``None`` keeps
    native lengths and pads per batch. ``splits`` maps stage -> split (a name or fold list) of the source.

    ``num_workers`` loader processes (``None``: :func:`default_num_workers`); ``pin_memory`` (``None``: on when the
    trainer runs on a CUDA device). A cache is built by :meth:`prepare_data`, which Lightning runs on one process per
    node before the others call :meth:`setup`; :meth:`setup` only opens it (on the first process of a node it builds
    a cache that :meth:`prepare_data` has not, so that a module set up by hand works; the other processes of a
    distributed run wait for it).
    """

    def __init__(self, source: LabelledSource | Callable[[], LabelledSource], *, preprocess: Preprocess | None = None,
                 cache: bool | str | Path = False, length_s: float | None = 10.0, batch_size: int = 32,
                 num_workers: int | None = 0, augment: Augment | None = None,
                 eval_crop: Literal["center", "start", "sliding"] = "center", eval_stride_s: float | None = None,
                 splits: dict[str, str | Sequence[int]] | None = None, seed: int = 0, pin_memory: bool | None = None,
                 drop_last: bool = False) -> None:
        super().__init__()
        self._source_arg = source
        self.preprocess, self.cache, self.length_s = preprocess, cache, length_s
        self.batch_size, self.augment = batch_size, augment
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.eval_crop, self.eval_stride_s = eval_crop, eval_stride_s
        self.splits = dict(splits) if splits is not None else {"train": "train", "val": "val", "test": "test"}
        self.seed, self.pin_memory, self.drop_last = seed, pin_memory, drop_last
        self.source: LabelledSource | None = None
        self.datasets: dict[str, EcgDataset] = {}

    def _new_source(self) -> LabelledSource:
        """The source: the one given, or a new one from the factory given."""
        factory = callable(self._source_arg) and not isinstance(self._source_arg, LabelledSource)
        return self._source_arg() if factory else self._source_arg  # type: ignore[operator,return-value]

    def _resolve_source(self) -> LabelledSource:
        source = self._new_source()
        if self.preprocess is not None:  # a filter the records' rate cannot carry is an error, not a silent no-op
            for rate in source.sampling_rates():
                try:
                    self.preprocess.check_rate(rate)
                except ValueError as exc:
                    raise DataError(f"{source.name}: {exc}") from None
        if self.cache:
            return self._cache(source, build=local_rank() == 0)
        return source

    def _cache(self, source: LabelledSource, build: bool) -> RecordCache:
        """The record cache of ``source``: opened, or built when missing and ``build``, else waited for (another
        process of this node builds it)."""
        folder = None if self.cache is True else Path(self.cache)
        chain = self.preprocess
        if chain is not None and chain.fitted_on_data:  # the cache holds the chain's output before scaling
            chain = chain.without_statistics(normalize="none")
        if build:
            return RecordCache.open_or_build(source, chain, folder)
        cache, reason = RecordCache.open_current(source, chain, folder)
        if cache is None:
            logger.info("waiting for local rank 0 to build the record cache of %s (%s)", source.name, reason)
        while cache is None:
            time.sleep(_CACHE_POLL_S)
            cache, _ = RecordCache.open_current(source, chain, folder)
        return cache

    def prepare_data(self) -> None:
        """Build the record cache when ``cache`` is set (Lightning calls this on local rank 0 only; setup reads it)."""
        if self.cache:
            self._cache(self._new_source(), build=True)

    def _fit_statistics(self, source: LabelledSource) -> None:
        """Fit a dataset normalisation's statistics on the training split (once; kept when already set)."""
        pre = self.preprocess
        if pre is None or not pre.fitted_on_data or pre.mean is not None:
            return
        if "train" not in self.splits:
            raise DataError(f"preprocess.normalize={pre.normalize!r} needs statistics: give a training split or a "
                            "Preprocess with mean and std (the checkpoint's)")
        fitter = Preprocess(normalize=pre.normalize) if self.cache else pre  # a cache holds the chain's output
        records = (source.load(int(i)) for i in source.split(self.splits["train"]))
        fitted = fitter.fit((record.signal, record.fs, record.leads) for record in records)
        self.preprocess = replace(pre, mean=fitted.mean, std=fitted.std)

    def setup(self, stage: str | None = None) -> None:
        """Build the source (and cache) once, then one dataset per configured split."""
        if self.source is None:
            self.source = self._resolve_source()
        source = self.source
        self._fit_statistics(source)
        per_item = self.preprocess
        if self.cache and per_item is not None:  # cached records are preprocessed but for a dataset scaling
            per_item = (Preprocess(normalize=per_item.normalize, mean=per_item.mean, std=per_item.std)
                        if per_item.fitted_on_data else None)
        fs = self.output_fs
        length = None if self.length_s is None else int(round(self.length_s * fs))
        stride = None if self.eval_stride_s is None else int(round(self.eval_stride_s * fs))
        for name, split in self.splits.items():
            if name in self.datasets:
                continue
            train = name == "train"
            crop: Crop = "none" if length is None else ("random" if train else self.eval_crop)
            self.datasets[name] = EcgDataset(source, source.split(split), length=length, crop=crop, stride=stride,
                                             preprocess=per_item, augment=self.augment if train else None,
                                             seed=self.seed)

    @property
    def output_fs(self) -> float:
        """Sampling rate of the batches."""
        if self.preprocess is not None and self.preprocess.fs is not None:
            return float(self.preprocess.fs)
        assert self.source is not None, "call setup() first"
        fs = self.source.fs
        if fs is None:
            raise ValueError(f"{self.source.name}: records have several sampling rates "
                             f"{sorted(self.source.sampling_rates())}; pass Preprocess(fs=...)")
        return fs

    @property
    def classes(self) -> list[str]:
        """Class names (label columns)."""
        assert self.source is not None, "call setup() first"
        return list(self.source.classes)

    def pos_weight(self) -> torch.Tensor:
        """``negatives / positives`` per class on the training split (for BCE ``pos_weight``)."""
        labels = self.source.labels[self.datasets["train"].indices] if self.source is not None else None
        assert labels is not None, "call setup() first"
        positives = labels.sum(axis=0).astype(np.float64)
        return torch.tensor((len(labels) - positives) / np.maximum(positives, 1.0), dtype=torch.float32)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        if name not in self.datasets:
            self.setup()
        generator = torch.Generator().manual_seed(self.seed)
        pin = self.pin_memory
        if pin is None:
            pin = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return DataLoader(self.datasets[name], batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, collate_fn=collate_ecg, worker_init_fn=seed_worker,
                          generator=generator, pin_memory=pin, drop_last=self.drop_last and shuffle,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches, in order."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches, in order."""
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of the ``predict`` split, in order."""
        return self._loader("predict", shuffle=False)
