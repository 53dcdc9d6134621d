"""Training configurations: YAML files of sections merged over :data:`DEFAULTS`, with dotted overrides.

A configuration has the top-level keys of :data:`DEFAULTS` (``seed``, ``out_dir``, ``ckpt_path``, ``report_dir``)
and the sections ``data``, ``model``, ``loss``, ``module``, ``checkpoint`` (typed by the dataclasses
:class:`DataSection` ... :class:`CheckpointSection`, which accept only their fields), ``trainer`` (every
``lightning.Trainer`` argument; ``logger`` and ``callbacks`` take ``class_path``/``init_args`` entries) and
``early_stopping`` (``EarlyStopping`` arguments and ``min_val_records``, or ``null``: off).

A file may name another file under ``base`` (relative to itself), which is loaded first and updated by it.
``--config`` takes a path or the name of a config packaged with ``ecgformer`` (``ptbxl_superdiag``; list them
with ``ecgformer configs``): a path that exists wins, a bare name is looked up among the packaged configs.
Overrides ``"section.key=value"`` (values parsed as YAML, nested keys allowed: ``data.options.n_records=40``)
are applied after the file (:func:`merged_config`). :func:`~.lightning_cli.load_config` types the result with the
command line's LightningCLI parser and checks it (:func:`check_config`): every value must have its type and lie in
its range, else :class:`ConfigError` names the key, the value and what is accepted. The ``loggers: [csv,
tensorboard]`` key of earlier versions is read as the ``trainer.logger`` entries of those loggers.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"

__all__ = ["DEFAULTS", "LOGGER_NAMES", "PACKAGED_CONFIGS", "CheckpointSection", "ConfigError", "DataSection",
           "LossSection", "ModelSection", "ModuleSection", "apply_overrides", "check_config", "dump_config",
           "merge", "merged_config", "packaged_configs", "resolve_config"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file or override and the key."""


@dataclass
class DataSection:
    """The ``data`` section: which records, how they are prepared and batched.

    Args:
        dataset: a registered dataset (``ecgformer data summary`` lists them).
        root: the dataset's folder (default: under ``$ECGFORMER_DATA`` or the user data folder).
        task: the reader's label task (default: the reader's default task).
        options: keyword arguments of the reader.
        preprocess: ``Preprocess`` fields (``fs``, ``baseline``, ``bandpass``, ``notch``, ``normalize``...).
        cache: preprocessed records in a record cache: true (the default cache folder), false, or a folder.
        length_s: input length in seconds (random crops for training); null keeps native lengths.
        batch_size: records per batch (per process under DDP).
        num_workers: data-loader processes; null: the cores but one, at most 8.
        pin_memory: pinned host memory for the batches; null: on when training on a CUDA device.
        augment: augmentation names, applied to training crops.
        eval_crop: evaluation crop: center, start, or sliding windows averaged per record.
        eval_stride_s: stride of the sliding windows in seconds.
        splits: stage -> split name or list of folds (train, val, test).
        predict_split: the split ``predict`` reads: a stage of ``splits``, a split name or a list of folds.
    """

    dataset: str = "synthetic"
    root: str | None = None
    task: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] | None = None
    cache: bool | str = False
    length_s: float | None = 10.0
    batch_size: int = 32
    num_workers: int | None = None
    pin_memory: bool | None = None
    augment: list[str] | None = None
    eval_crop: str = "center"
    eval_stride_s: float | None = None
    splits: dict[str, str | list[int]] = field(default_factory=lambda: {"train": "train", "val": "val",
                                                                         "test": "test"})
    predict_split: str | list[int] = "test"


@dataclass
class ModelSection:
    """The ``model`` section: ``create_model(name, num_classes, in_chans, **overrides)``.

    Args:
        name: a registered model preset (``ecgformer list``).
        overrides: keyword arguments of the preset (``dims``, ``depths``, ``mixers``...).
    """

    name: str = "ecgformer_t"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossSection:
    """The ``loss`` section: ``create_loss(name, **kwargs)``.

    Args:
        name: bce, focal, asl or cross_entropy.
        pos_weight: BCE's per-class weight of positives, negatives / positives on the training split.
        kwargs: keyword arguments of the loss.
    """

    name: str = "bce"
    pos_weight: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModuleSection:
    """The ``module`` section: optimisation and evaluation settings of ``EcgClassifier``.

    Args:
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not on biases and norms).
        warmup_fraction: fraction of the steps of the warm-up (cosine) or rise (onecycle).
        min_lr_ratio: final learning rate / lr.
        ema_decay: decay of an exponential moving average of the weights used for evaluation; null: off.
        ema_warmup: warm the EMA decay up over the first updates.
        aux_weight: weight of the model's auxiliary loss.
        single_label: soft-max and arg-max decisions instead of per-class sigmoid thresholds.
        threshold_rule: how per-class thresholds are chosen on the validation split (default f1, argmax).
        schedule: cosine or onecycle.
        distill: ``{teacher: checkpoint, weight: 0.5, temperature: 1.0}`` soft-target distillation.
        compile: torch.compile the network when training starts: true, or torch.compile's keyword arguments.
    """

    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.01
    ema_decay: float | None = None
    ema_warmup: bool = True
    aux_weight: float = 0.01
    single_label: bool = False
    threshold_rule: str | None = None
    schedule: str = "cosine"
    distill: dict[str, Any] | None = None
    compile: bool | dict[str, Any] = False


@dataclass
class CheckpointSection:
    """The ``checkpoint`` section: which validation metric picks ``best.ckpt``.

    Args:
        monitor: a logged metric (``val/auroc_macro``, ``val/cinc2017_score``...).
        mode: max or min.
    """

    monitor: str = "val/auroc_macro"
    mode: str = "max"


#: ``loggers: [name, ...]`` of configs written before loggers became ``trainer.logger`` entries.
LOGGER_NAMES: dict[str, str] = {"csv": "lightning.pytorch.loggers.CSVLogger",
                                "tensorboard": "lightning.pytorch.loggers.TensorBoardLogger",
                                "wandb": "lightning.pytorch.loggers.WandbLogger",
                                "mlflow": "lightning.pytorch.loggers.MLFlowLogger"}
_LOGGER_FOLDERS = {"csv": "logs", "tensorboard": "tensorboard"}  # sub-folders of out_dir


def _logger_entries(names: Any, where: str) -> list[dict[str, Any]] | bool:
    """``trainer.logger`` entries of the legacy ``loggers`` list of names."""
    if names is None or names == []:
        return False
    if not isinstance(names, list) or any(name not in LOGGER_NAMES for name in names):
        raise ConfigError(f"{where}: loggers: {names!r} is not a list of {', '.join(LOGGER_NAMES)}; give "
                          "trainer.logger class_path entries for other loggers")
    return [{"class_path": LOGGER_NAMES[name], "init_args": {"name": _LOGGER_FOLDERS[name]}
             if name in _LOGGER_FOLDERS else {}} for name in names]


DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "out_dir": "runs/default",
    "ckpt_path": None,
    "report_dir": None,
    "data": asdict(DataSection()),
    "model": asdict(ModelSection()),
    "loss": asdict(LossSection()),
    "module": asdict(ModuleSection()),
    "trainer": {"max_epochs": 30, "accelerator": "auto", "devices": 1, "strategy": "auto", "precision": "32-true",
                "gradient_clip_val": 1.0, "deterministic": False, "log_every_n_steps": 10,
                "enable_progress_bar": True, "num_sanity_val_steps": 0,
                "logger": _logger_entries(["csv", "tensorboard"], "DEFAULTS"), "callbacks": None},
    "checkpoint": asdict(CheckpointSection()),
    "early_stopping": {"monitor": "val/auroc_macro", "mode": "max", "patience": 10, "min_val_records": 1000},
}
_OPEN_SECTIONS = {"trainer", "early_stopping"}          # keys passed through to Lightning
_OPEN_KEYS = {("data", "options"), ("data", "preprocess"), ("data", "splits"), ("model", "overrides"),
              ("loss", "kwargs"), ("module", "distill"), ("module", "compile")}  # free-form mappings


class _Loader(yaml.SafeLoader):
    """YAML loader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def merge(base: Mapping[str, Any], update: Mapping[str, Any], where: str, path: tuple[str, ...] = (),
          strict: bool = True) -> dict[str, Any]:
    """``base`` updated recursively by ``update``; with ``strict``, keys unknown to ``base`` in checked sections
    raise :class:`ConfigError` naming ``where``."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        here = (*path, str(key))
        free = not strict or bool(path) and (path[0] in _OPEN_SECTIONS or tuple(path[:2]) in _OPEN_KEYS)
        if key not in out and not free:
            known = ", ".join(sorted(out))
            raise ConfigError(f"{where}: unknown key {'.'.join(here)!r}; known keys here: {known}")
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = merge(current, value, where, here, strict)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _parse_override(item: str) -> dict[str, Any]:
    key, sep, raw = item.partition("=")
    key = key.strip().removeprefix("--")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} must look like section.key=value")
    value: Any = _yaml(raw) if raw.strip() else None
    for part in reversed(key.split(".")):
        value = {part: value}
    return _migrate(value, f"override {item!r}")


def _migrate(mapping: dict[str, Any], where: str) -> dict[str, Any]:
    """``mapping`` with the keys of earlier versions moved to their place: ``loggers: [csv, tensorboard]`` becomes
    ``trainer.logger`` entries (``wandb`` and ``mlflow`` too)."""
    if "loggers" not in mapping:
        return mapping
    out = dict(mapping)
    trainer = dict(out.get("trainer") or {})
    trainer["logger"] = _logger_entries(out.pop("loggers"), where)
    out["trainer"] = trainer
    return out


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``config`` with each ``"section.key=value"`` applied in order (``--`` prefixes are accepted)."""
    out = dict(config)
    for item in overrides:
        out = merge(out, _parse_override(item), f"override {item!r}")
    return out


def _read(file: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The mapping of ``file`` over the chain of its ``base`` files (without :data:`DEFAULTS`)."""
    if not file.is_file():
        raise ConfigError(f"config file {str(file)!r} not found")
    if file.resolve() in seen:
        raise ConfigError(f"{file}: circular base chain {' -> '.join(map(str, seen))}")
    try:
        loaded = _yaml(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{file}: the top level must be a mapping of sections")
    loaded = _migrate(dict(loaded), str(file))
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    parent = _read(file.parent / str(base), (*seen, file.resolve()))
    return merge(parent, loaded, str(file), strict=False)


def packaged_configs() -> dict[str, str]:
    """The configs shipped inside the package, ``{name: first comment line}`` in name order (files starting with
    ``_`` are bases of others and are left out)."""
    described = {}
    for file in sorted(PACKAGED_CONFIGS.glob("[!_]*.yaml")):
        first = file.read_text().splitlines()[:1]
        described[file.stem] = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
    return described


def resolve_config(spec: str | Path) -> Path:
    """The YAML file ``spec`` names: an existing path, else a packaged config by name (``ptbxl_superdiag`` or
    ``ptbxl_superdiag.yaml``); :class:`ConfigError` lists the packaged names when it is neither."""
    file = Path(spec).expanduser()
    if file.is_file():
        return file
    name = str(spec).removesuffix(".yaml")
    if file.parent == Path(".") and name in packaged_configs():
        return PACKAGED_CONFIGS / f"{name}.yaml"
    raise ConfigError(f"config {str(spec)!r} is neither a file nor a packaged config; packaged configs: "
                      f"{', '.join(packaged_configs())} (ecgformer configs)")


def merged_config(path: str | Path | None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """:data:`DEFAULTS`, updated by the YAML file ``path`` names (a path or a packaged config's name, see
    :func:`resolve_config`; with its ``base`` chain) and then by ``overrides``; not yet checked.

    Loggers that need a folder (CSV, TensorBoard) and name none get ``out_dir``."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        file = resolve_config(path)
        config = merge(config, _read(file, ()), str(file))
    config = apply_overrides(config, overrides)
    config["trainer"] = {**config["trainer"], "logger": _with_save_dir(config["trainer"].get("logger"),
                                                                       str(config["out_dir"]))}
    return config


def _with_save_dir(logger: Any, out_dir: str) -> Any:
    """``trainer.logger`` as a list of ``{class_path, init_args}`` entries, ``save_dir`` filled with ``out_dir`` where
    the logger class requires one (an entry of a class that cannot be imported is left for the parser to report)."""
    if logger is None or isinstance(logger, bool):
        return logger
    entries = []
    for entry in logger if isinstance(logger, list) else [logger]:
        if isinstance(entry, str):
            entry = {"class_path": entry}
        if isinstance(entry, Mapping) and isinstance(entry.get("class_path"), str):
            entry = {**entry, "init_args": dict(entry.get("init_args") or {})}
            module, _, name = entry["class_path"].rpartition(".")
            try:
                parameter = inspect.signature(getattr(importlib.import_module(module), name)).parameters.get("save_dir")
            except (ImportError, AttributeError, ValueError, TypeError):
                parameter = None
            if parameter is not None and parameter.default is inspect.Parameter.empty:
                entry["init_args"].setdefault("save_dir", out_dir)
        entries.append(entry)
    return entries


def dump_config(config: Mapping[str, Any]) -> str:
    """``config`` as YAML, in the order of its sections: what ``--print_config`` prints and ``fit`` saves as
    ``out_dir/config.yaml`` (``--config`` reads it back; objects a program put in the config are written as text)."""
    return yaml.safe_dump(json.loads(json.dumps(config, default=str)), sort_keys=False, width=120)


@dataclass(frozen=True)
class _Accepts:
    """What one key accepts: ``test`` says whether a value passes, ``text`` says it in words for the error."""

    text: str
    test: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bound(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else f"{value:g}"


def _number(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False,
            integer: bool = False, optional: bool = False, extra: tuple[Any, ...] = ()) -> _Accepts:
    """A finite (integer) number in the interval; ``optional`` also accepts null, ``extra`` lists other values."""
    interval = (f"{'(' if low_open else '['}{_bound(low)}, {_bound(high)}"
                f"{')' if high_open or not math.isfinite(high) else ']'}")
    text = (f"{'an integer' if integer else 'a number'} in {interval}"
            + "".join(f" or {value!r}" for value in extra) + (" or null" if optional else ""))

    def test(value: Any) -> bool:
        if (optional and value is None) or any(value == v and type(value) is type(v) for v in extra):
            return True
        if not _is_number(value) or (integer and not isinstance(value, int)):
            return False
        return (value > low if low_open else value >= low) and (value < high if high_open else value <= high)

    return _Accepts(text, test)


def _one_of(values: Iterable[Any], optional: bool = False) -> _Accepts:
    choices = tuple(values)
    text = "one of " + ", ".join(map(str, choices)) + (" or null" if optional else "")
    return _Accepts(text, lambda value: (optional and value is None) or (isinstance(value, str) and value in choices))


def _kind(types: tuple[type, ...], text: str, optional: bool = False) -> _Accepts:
    def test(value: Any) -> bool:
        if value is None:
            return optional
        if isinstance(value, bool):  # YAML's true/false are not numbers or strings here
            return bool in types
        return isinstance(value, types)

    return _Accepts(text + (" or null" if optional else ""), test)


def _text(optional: bool = False) -> _Accepts:
    return _Accepts("a non-empty string" + (" or null" if optional else ""),
                    lambda value: (optional and value is None) or isinstance(value, str) and bool(value.strip()))


def _accepted() -> dict[str, _Accepts]:
    """The accepted values of every checked key (registries imported here: they pull in torch and the readers)."""
    from ..data.registry import DATASETS
    from ..losses import LOSSES
    from ..models import list_models
    from .module import SCHEDULES
    from .thresholds import RULES

    mapping = _kind((Mapping,), "a mapping", optional=True)
    flag = _kind((bool,), "true or false")
    return {
        "seed": _number(0, 2 ** 32 - 1, integer=True), "out_dir": _text(), "ckpt_path": _text(optional=True),
        "report_dir": _text(optional=True),
        "data.dataset": _one_of(sorted(DATASETS)), "data.root": _text(optional=True),
        "data.task": _text(optional=True), "data.options": mapping, "data.preprocess": mapping,
        "data.cache": _kind((bool, str), "true, false or a cache folder"),
        "data.length_s": _number(0, low_open=True, optional=True), "data.batch_size": _number(1, integer=True),
        "data.num_workers": _number(0, integer=True, optional=True),
        "data.pin_memory": _kind((bool,), "true or false", optional=True),
        "data.augment": _kind((list,), "a list of augmentation names", optional=True),
        "data.eval_crop": _one_of(("center", "start", "sliding")),
        "data.eval_stride_s": _number(0, low_open=True, optional=True), "data.splits": mapping,
        "data.predict_split": _kind((str, list), "a split name or a list of folds"),
        "model.name": _one_of(list_models()), "model.overrides": mapping,
        "loss.name": _one_of(LOSSES), "loss.pos_weight": flag, "loss.kwargs": mapping,
        "module.lr": _number(0, low_open=True), "module.weight_decay": _number(0),
        "module.warmup_fraction": _number(0, 1, high_open=True), "module.min_lr_ratio": _number(0, 1),
        "module.ema_decay": _number(0, 1, low_open=True, high_open=True, optional=True),
        "module.ema_warmup": flag, "module.aux_weight": _number(0), "module.single_label": flag,
        "module.threshold_rule": _one_of(RULES, optional=True), "module.schedule": _one_of(SCHEDULES),
        "module.distill": mapping, "module.compile": _kind((bool, Mapping), "true, false or torch.compile's options"),
        "trainer.max_epochs": _number(1, integer=True, extra=(-1,)),
        "trainer.gradient_clip_val": _number(0, optional=True),
        "trainer.log_every_n_steps": _number(1, integer=True),
        "checkpoint.monitor": _text(), "checkpoint.mode": _one_of(("min", "max")),
        "early_stopping": mapping, "early_stopping.patience": _number(0, integer=True),
        "early_stopping.min_val_records": _number(0, integer=True),
        "early_stopping.mode": _one_of(("min", "max")), "early_stopping.monitor": _text(),
    }


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` itself when every checked key holds an accepted value; else :class:`ConfigError` naming the first
    key that does not, its value and what it accepts (e.g. ``module.lr: -1 is not a number in (0, inf)``)."""
    for key, accepts in _accepted().items():
        value: Any = config
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                break
            value = value[part]
        else:
            if not accepts.test(value):
                raise ConfigError(f"{key}: {value!r} is not {accepts.text}")
    return config
