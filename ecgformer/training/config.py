"""Training configurations: YAML files of sections merged over :data:`DEFAULTS`, with dotted overrides.

A configuration has the top-level keys of :data:`DEFAULTS`. Mapping sections (``data``, ``model``,
``loss``, ``module``, ``checkpoint``) accept only their known keys; ``trainer`` is passed to
``lightning.Trainer`` as keyword arguments; ``early_stopping`` is a mapping or ``null`` (off).
A file may name another file under ``base`` (relative to itself), which is loaded first and updated by it.
``--config`` takes a path or the name of a config packaged with ``ecgformer`` (``ptbxl_superdiag``; list them
with ``ecgformer configs``): a path that exists wins, a bare name is looked up among the packaged configs.
Overrides ``"section.key=value"`` (values parsed as YAML, nested keys allowed: ``data.options.n_records=40``)
are applied after the file. The merged configuration is checked (:func:`check_config`): every value of a known key
must have its type and lie in its range, else :class:`ConfigError` names the key, the value and what is accepted.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"

__all__ = ["DEFAULTS", "PACKAGED_CONFIGS", "ConfigError", "apply_overrides", "check_config", "load_config", "merge", "packaged_configs",
           "resolve_config"]

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "out_dir": "runs/default",
    "ckpt_path": None,
    "report_dir": None,
    "loggers": ["csv", "tensorboard"],
    "data": {
        "dataset": "synthetic", "root": None, "task": None, "options": {}, "preprocess": None, "cache": False,
        "length_s": 10.0, "batch_size": 32, "num_workers": 0, "augment": None, "eval_crop": "center",
        "eval_stride_s": None, "splits": {"train": "train", "val": "val", "test": "test"}, "predict_split": "test",
    },
    "model": {"name": "ecgformer_t", "overrides": {}},
    "loss": {"name": "bce", "pos_weight": False, "kwargs": {}},
    "module": {"lr": 1e-3, "weight_decay": 0.05, "warmup_fraction": 0.05, "min_lr_ratio": 0.01, "ema_decay": None,
               "ema_warmup": True, "aux_weight": 0.01, "single_label": False, "threshold_rule": None,
               "schedule": "cosine", "distill": None},
    "trainer": {"max_epochs": 30, "accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": "32-true",
                "gradient_clip_val": 1.0, "deterministic": True, "log_every_n_steps": 10,
                "enable_progress_bar": True, "num_sanity_val_steps": 0},
    "checkpoint": {"monitor": "val/auroc_macro", "mode": "max"},
    "early_stopping": {"monitor": "val/auroc_macro", "mode": "max", "patience": 10, "min_val_records": 1000},
}
_OPEN_SECTIONS = {"trainer", "early_stopping"}          # keys passed through to Lightning
_OPEN_KEYS = {("data", "options"), ("data", "preprocess"), ("data", "splits"), ("model", "overrides"),
              ("loss", "kwargs"), ("module", "distill")}                       # free-form mappings inside checked sections


class _Loader(yaml.SafeLoader):
    """YAML loader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file or override and the key."""


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
    return value


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
    loaded = dict(loaded)
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


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """:data:`DEFAULTS`, updated by the YAML file ``path`` names (a path or a packaged config's name, see
    :func:`resolve_config`; with its ``base`` chain) and then by ``overrides``, checked by :func:`check_config`."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        file = resolve_config(path)
        config = merge(config, _read(file, ()), str(file))
    return check_config(apply_overrides(config, overrides))


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


def _names(known: Iterable[str]) -> _Accepts:
    choices = tuple(known)
    return _Accepts("a list of " + ", ".join(choices) + " (or null)",
                    lambda value: value is None or isinstance(value, list) and all(v in choices for v in value))


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
        "report_dir": _text(optional=True), "loggers": _names(("csv", "tensorboard")),
        "data.dataset": _one_of(sorted(DATASETS)), "data.root": _text(optional=True),
        "data.task": _text(optional=True), "data.options": mapping, "data.preprocess": mapping,
        "data.cache": _kind((bool, str), "true, false or a cache folder"),
        "data.length_s": _number(0, low_open=True, optional=True), "data.batch_size": _number(1, integer=True),
        "data.num_workers": _number(0, integer=True),
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
        "module.distill": mapping,
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
