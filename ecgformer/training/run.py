"""Build the data module, the classifier and the trainer from a configuration and run a stage.

The same functions back the CLI (``ecgformer fit|validate|test|predict``) and notebooks::

    config = load_config("quickstart_synthetic", ["trainer.max_epochs=2"])
    best = fit(config)              # path of the best checkpoint
    report = test(config, best)     # report folder
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
)
from lightning.pytorch.utilities import rank_zero_info

from ..data.augment import Augment
from ..data.datamodule import EcgDataModule, local_rank
from ..data.errors import first_line
from ..data.preprocess import Preprocess
from ..data.registry import open_dataset
from ..tempfiles import atomic_write, remove_stale_temporaries
from .checkpoint_io import AtomicCheckpointIO
from .config import ConfigError, dump_config
from .module import EcgClassifier
from .report import write_report

__all__ = [
    "SaveConfig",
    "build_datamodule",
    "build_module",
    "build_trainer",
    "fit",
    "predict",
    "resolve_checkpoint",
    "test",
    "validate",
]

log = logging.getLogger(__name__)


def build_datamodule(config: dict[str, Any], fitted: dict[str, Any] | None = None) -> EcgDataModule:
    """The data module of ``config["data"]`` (set up, so classes and sampling rate are known).

    ``fitted`` is a checkpoint's preprocessing (``data_config["preprocess"]``): when it is the configured chain with
    a dataset normalisation's statistics, those statistics are used instead of fitting them again.
    """
    data = config["data"]
    try:
        preprocess = Preprocess(**data["preprocess"]) if data["preprocess"] else None
        augment = Augment.default(data["augment"]) if data["augment"] else None
        stored = Preprocess.from_dict(fitted) if fitted else None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data.preprocess / data.augment: {exc}") from None
    if stored is not None and preprocess is not None and stored.mean is not None \
            and stored.without_statistics() == preprocess.without_statistics():
        preprocess = stored
    dataset, root, task, options = data["dataset"], data["root"], data["task"], dict(data["options"] or {})

    def source() -> Any:
        return open_dataset(dataset, root, task, **options)

    splits = dict(data["splits"])
    wanted = data["predict_split"]  # a stage name of ``splits`` or a split of the source
    splits.setdefault("predict", splits.get(wanted, wanted) if isinstance(wanted, str) else wanted)
    module = EcgDataModule(source, preprocess=preprocess, cache=data["cache"], length_s=data["length_s"],
                           batch_size=data["batch_size"], num_workers=data["num_workers"], augment=augment,
                           eval_crop=data["eval_crop"], eval_stride_s=data["eval_stride_s"], splits=splits,
                           seed=int(config["seed"]), pin_memory=data["pin_memory"])
    if local_rank() == 0:  # the others of a distributed run wait in setup for the cache it builds
        module.prepare_data()
    module.setup()
    return module


def _data_config(config: dict[str, Any], datamodule: EcgDataModule) -> dict[str, Any]:
    """What a checkpoint needs to rebuild the inputs: the data section, preprocessing, rate, leads, classes."""
    source, preprocess = datamodule.source, datamodule.preprocess
    assert source is not None
    if preprocess is not None and preprocess.leads is not None:
        leads = preprocess.leads
    elif hasattr(source, "leads"):  # readers: None when the records' leads differ
        leads = source.leads
    else:  # generated sources: every record has the leads of the first
        leads = source.load(int(datamodule.datasets["train"].indices[0])).leads
    out = {"data": config["data"], "preprocess": None if preprocess is None else preprocess.to_dict(),
           "fs": datamodule.output_fs, "leads": None if leads is None else list(leads),
           "classes": datamodule.classes, "length_s": datamodule.length_s}
    challenge = source.challenge_scoring()
    if challenge is not None:
        out["challenge"] = challenge
    return out


def build_module(config: dict[str, Any], datamodule: EcgDataModule) -> EcgClassifier:
    """A fresh classifier for ``config``'s model, loss and module sections and the data's classes and leads."""
    loss = config["loss"]
    loss_kwargs = dict(loss["kwargs"] or {})
    if loss["pos_weight"]:
        if loss["name"] != "bce":
            raise ConfigError(f"loss.pos_weight applies to loss.name=bce, not {loss['name']!r}")
        loss_kwargs["pos_weight"] = datamodule.pos_weight().tolist()
    x = datamodule.datasets["train"][0]["x"]
    try:
        return EcgClassifier(model=config["model"]["name"], num_classes=len(datamodule.classes),
                             in_chans=int(x.shape[-2]), model_overrides=config["model"]["overrides"],
                             loss=loss["name"], loss_kwargs=loss_kwargs, class_names=datamodule.classes,
                             data_config=_data_config(config, datamodule), **config["module"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"model/loss/module sections: {exc}") from exc


def _instances(entries: Any, key: str) -> list[Any]:
    """The objects of ``trainer.logger`` / ``trainer.callbacks`` ``{class_path, init_args}`` entries (objects pass
    through); a TensorBoard logger is left out, with a warning, when tensorboard is not installed."""
    from lightning.pytorch.cli import instantiate_class

    objects = []
    for entry in entries if isinstance(entries, list) else [entries]:
        if not isinstance(entry, Mapping):
            objects.append(entry)
            continue
        if entry.get("class_path", "").endswith("TensorBoardLogger") and importlib.util.find_spec(
                "tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
            log.warning("tensorboard is not installed: TensorBoard logging is off")
            continue
        try:
            objects.append(instantiate_class((), dict(entry)))
        except (ImportError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{key}: {entry.get('class_path')!r}: {first_line(exc)}") from None
    return objects


def _without_default_save_dir(entry: Any, out_dir: str) -> Any:
    """A ``trainer.logger`` entry without its ``save_dir`` when that is ``out_dir`` (filled in again on reading)."""
    if not isinstance(entry, Mapping) or (entry.get("init_args") or {}).get("save_dir") != out_dir:
        return entry
    return {**entry, "init_args": {k: v for k, v in entry["init_args"].items() if k != "save_dir"}}


class SaveConfig(Callback):
    """Writes the run's configuration to ``out_dir/config.yaml`` when fitting starts (on the first process), so
    ``--config out_dir/config.yaml`` repeats the run's settings; ``ckpt_path`` (a resume of this invocation) is left
    out, and so are loggers' ``save_dir`` that are ``out_dir`` (with ``--out_dir`` the logs follow the new folder)."""

    def __init__(self, config: dict[str, Any]) -> None:
        trainer = dict(config["trainer"])
        if isinstance(trainer.get("logger"), list):  # a save_dir that is out_dir follows --out_dir when re-read
            out_dir = str(config["out_dir"])
            trainer["logger"] = [_without_default_save_dir(entry, out_dir) for entry in trainer["logger"]]
        self.config = {**config, "ckpt_path": None, "trainer": trainer}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Write ``config.yaml`` (atomically) on global rank 0."""
        if trainer.is_global_zero:
            folder = Path(self.config["out_dir"])
            folder.mkdir(parents=True, exist_ok=True)
            text = dump_config(self.config).encode()
            atomic_write(folder / "config.yaml", lambda handle: handle.write(text))


def build_trainer(config: dict[str, Any], stage: str = "fit", val_records: int | None = None) -> L.Trainer:
    """A trainer with ``config["trainer"]``'s arguments: for ``fit``, atomic checkpoints (``best.ckpt`` by
    ``checkpoint.monitor`` and ``last.ckpt`` under ``out_dir/checkpoints``), early stopping, the loggers of
    ``trainer.logger`` (with a learning-rate monitor) and ``out_dir/config.yaml``; the callbacks of
    ``trainer.callbacks`` in every stage.

    Early stopping is left off when the validation split has fewer than ``early_stopping.min_val_records`` records
    (``val_records``; default 1,000): on a small split the epoch-to-epoch noise of the monitored score outlasts any
    patience, so the run trains ``trainer.max_epochs`` and ``best.ckpt`` keeps its best validation epoch."""
    out_dir = Path(config["out_dir"])
    arguments = {key: value for key, value in config["trainer"].items() if value is not None}
    logger = arguments.pop("logger", False)
    callbacks: list[L.Callback] = _instances(arguments.pop("callbacks", []), "trainer.callbacks")
    plugins = [AtomicCheckpointIO(), *_instances(arguments.pop("plugins", []), "trainer.plugins")]
    arguments.pop("default_root_dir", None)
    loggers: list[Any] | bool = False  # True: Lightning's default logger
    if stage == "fit":
        loggers = logger if isinstance(logger, bool) else _instances(logger, "trainer.logger")
        ckpt = config["checkpoint"]
        callbacks.append(ModelCheckpoint(dirpath=out_dir / "checkpoints", filename="best", monitor=ckpt["monitor"],
                                         mode=ckpt["mode"], save_last=True, enable_version_counter=False,
                                         auto_insert_metric_name=False))
        stopping = dict(config["early_stopping"] or {})
        least = stopping.pop("min_val_records", 0)
        if stopping and val_records is not None and val_records < least:
            rank_zero_info(f"early stopping off: {val_records} validation records, fewer than "
                           f"early_stopping.min_val_records={least}; training {config['trainer'].get('max_epochs')} "
                           "epochs and keeping the best validation epoch")
        elif stopping:
            callbacks.append(EarlyStopping(**stopping))
        if loggers:
            callbacks.append(LearningRateMonitor(logging_interval="step"))
        callbacks.append(SaveConfig(config))
    try:
        return L.Trainer(default_root_dir=out_dir, callbacks=callbacks, logger=loggers or False, plugins=plugins,
                         **arguments)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"trainer section: {exc}") from exc


def resolve_checkpoint(config: dict[str, Any], ckpt_path: str | os.PathLike[str] | None = None) -> Path:
    """``ckpt_path``, else ``config["ckpt_path"]``, else ``out_dir/checkpoints/best.ckpt``; it must exist."""
    path = Path(ckpt_path or config["ckpt_path"] or Path(config["out_dir"]) / "checkpoints" / "best.ckpt")
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r} not found (give --ckpt or ckpt_path, or run fit first)")
    return path


def _claim_checkpoint_folder(config: dict[str, Any], resume: str | os.PathLike[str] | None, overwrite: bool) -> None:
    """Make ``out_dir/checkpoints`` ready for a run: temporaries of killed runs removed; checkpoints of an earlier run
    kept (:class:`ConfigError`) unless the run resumes (``resume``) or ``overwrite`` asks to delete them."""
    folder = Path(config["out_dir"]) / "checkpoints"
    remove_stale_temporaries(folder)
    if resume is not None:
        if not Path(resume).is_file():
            raise ConfigError(f"checkpoint {str(resume)!r} to resume from not found")
        return
    existing = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if existing and not overwrite:
        names = ", ".join(path.name for path in existing)
        raise ConfigError(f"out_dir {config['out_dir']} already holds checkpoints ({names}) of an earlier run: resume "
                          f"it with --ckpt {folder / 'last.ckpt'}, replace it with --overwrite, or choose another "
                          "out_dir")
    for path in existing:
        path.unlink()


def fit(config: dict[str, Any], ckpt_path: str | os.PathLike[str] | None = None, overwrite: bool = False) -> Path:
    """Train (resuming from ``ckpt_path`` / ``config["ckpt_path"]`` when given); returns the best checkpoint.

    An ``out_dir`` that already holds checkpoints is refused unless the run resumes or ``overwrite`` is set (then
    they are deleted first, so a later ``test`` cannot pick up the earlier run's ``best.ckpt``).
    """
    resume = ckpt_path or config["ckpt_path"]
    _claim_checkpoint_folder(config, resume, overwrite)
    L.seed_everything(int(config["seed"]), workers=True)
    datamodule = build_datamodule(config)
    module = build_module(config, datamodule)
    val = datamodule.datasets.get("val")
    trainer = build_trainer(config, "fit", val_records=None if val is None else len(val))
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    return Path(best or Path(config["out_dir"]) / "checkpoints" / "last.ckpt")


def _restore(config: dict[str, Any], ckpt_path: str | os.PathLike[str] | None) -> tuple[EcgDataModule, EcgClassifier]:
    L.seed_everything(int(config["seed"]), workers=True)
    path = resolve_checkpoint(config, ckpt_path)
    module = EcgClassifier.from_checkpoint(path)
    datamodule = build_datamodule(config, module.data_config.get("preprocess"))
    if list(module.class_names) != datamodule.classes:
        raise ConfigError(f"checkpoint {path} was trained on classes {list(module.class_names)}, "
                          f"the configured data has {datamodule.classes}")
    return datamodule, module


def validate(config: dict[str, Any], ckpt_path: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """Validation metrics of a checkpoint (thresholds re-chosen on the validation split)."""
    datamodule, module = _restore(config, ckpt_path)
    build_trainer(config, "validate").validate(module, datamodule=datamodule, verbose=True)
    return module.last_metrics["val"]


def test(config: dict[str, Any], ckpt_path: str | os.PathLike[str] | None = None) -> Path:
    """Evaluate a checkpoint on the test split with its validation thresholds and write the report folder
    (``report_dir``, default ``out_dir/report``); returns the folder."""
    datamodule, module = _restore(config, ckpt_path)
    thresholds = module.thresholds
    if thresholds is None:
        raise ConfigError("the checkpoint holds no validation thresholds (it was saved before any validation epoch)")
    build_trainer(config, "test").test(module, datamodule=datamodule, verbose=True)
    results = module.test_results
    assert datamodule.source is not None
    record_ids = [datamodule.source.record_ids[i] for i in results["index"]]
    folder = Path(config["report_dir"] or Path(config["out_dir"]) / "report")
    return write_report(folder, results["y_true"], results["y_prob"], record_ids, thresholds,
                        module.last_metrics["test"], extra={"checkpoint": str(resolve_checkpoint(config, ckpt_path)),
                                                            "split": str(datamodule.splits["test"])})


def predict(config: dict[str, Any], ckpt_path: str | os.PathLike[str] | None = None,
            output: str | os.PathLike[str] | None = None, overwrite: bool = False) -> Path:
    """Probabilities and decisions of a checkpoint for ``data.predict_split``, written to ``output`` (``.csv`` or
    ``.json``; default ``out_dir/predictions.csv``; an existing file is kept unless ``overwrite``) in the layout of
    bundle prediction (:func:`ecgformer.inference.predictor.write_predictions`: ``record, status, p_<class>...,
    labels``); returns the file."""
    from ..inference.predictor import (
        OutputError,
        Prediction,
        check_output,
        write_predictions,
    )

    path = Path(output or Path(config["out_dir"]) / "predictions.csv")
    if output is None:  # the run's own folder: created as fit creates it
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        check_output(path, overwrite)
    except OutputError as exc:
        raise ConfigError(str(exc)) from None
    datamodule, module = _restore(config, ckpt_path)
    batches = build_trainer(config, "predict").predict(module, datamodule=datamodule)
    index = torch.cat([b["index"] for b in batches]).numpy()
    prob = torch.cat([b["prob"] for b in batches]).numpy()
    decision = torch.cat([b["decision"] for b in batches]).numpy().astype(bool)
    assert datamodule.source is not None
    names = list(module.class_names)
    predictions = [Prediction(datamodule.source.record_ids[i], "ok", dict(zip(names, map(float, prob[row]))),
                              [name for name, chosen in zip(names, decision[row]) if chosen])
                   for row, i in enumerate(index)]
    try:
        return write_predictions(predictions, names, path, overwrite=overwrite)
    except OutputError as exc:
        raise ConfigError(str(exc)) from None
