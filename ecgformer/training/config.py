"""Training configurations: YAML files of sections merged over :data:`DEFAULTS`, with dotted overrides.

A configuration has the top-level keys of :data:`DEFAULTS`. Mapping sections (``data``, ``model``,
``loss``, ``module``, ``checkpoint``) accept only their known keys; ``trainer`` is passed to
``lightning.Trainer`` as keyword arguments; ``early_stopping`` is a mapping or ``null`` (off).
A file may name another file under ``base`` (relative to itself), which is loaded first and updated by it.
Overrides ``"section.key=value"`` (values parsed as YAML, nested keys allowed: ``data.options.n_records=40``)
are applied after the file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "ConfigError", "apply_overrides", "load_config", "merge"]

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
               "ema_warmup": True, "aux_weight": 0.01, "single_label": False, "threshold_rule": None},
    "trainer": {"max_epochs": 30, "accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": "32-true",
                "gradient_clip_val": 1.0, "deterministic": True, "log_every_n_steps": 10,
                "enable_progress_bar": True, "num_sanity_val_steps": 0},
    "checkpoint": {"monitor": "val/auroc_macro", "mode": "max"},
    "early_stopping": {"monitor": "val/auroc_macro", "mode": "max", "patience": 10},
}
_OPEN_SECTIONS = {"trainer", "early_stopping"}          # keys passed through to Lightning
_OPEN_KEYS = {("data", "options"), ("data", "preprocess"), ("data", "splits"), ("model", "overrides"),
              ("loss", "kwargs")}                       # free-form mappings inside checked sections


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


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """:data:`DEFAULTS`, updated by the YAML file at ``path`` (if any, with its ``base`` chain) and then by
    ``overrides``."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        file = Path(path)
        config = merge(config, _read(file, ()), str(file))
    return apply_overrides(config, overrides)
