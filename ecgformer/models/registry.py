"""Registry of named model presets (timm-style): ``create_model(name, num_classes, in_chans=12, **overrides)``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .base import EcgModel

__all__ = ["ModelInfo", "register_model", "list_models", "model_info", "create_model"]


@dataclass(frozen=True)
class ModelInfo:
    """A preset: the model class, its constructor config, and its stated size (12 leads, 5 classes)."""

    name: str
    cls: type[EcgModel]
    config: Mapping[str, object] = field(repr=False)
    params: int
    description: str


_MODELS: dict[str, ModelInfo] = {}


def register_model(name: str, cls: type[EcgModel], config: Mapping[str, object], params: int,
                   description: str) -> None:
    """Register the preset ``name``: ``cls(num_classes, in_chans, **config)`` of about ``params`` parameters."""
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = ModelInfo(name, cls, dict(config), params, description)


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_MODELS)


def model_info(name: str) -> ModelInfo:
    """Class, config, stated size and description of the preset ``name``."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, num_classes: int, in_chans: int = 12, **overrides: object) -> EcgModel:
    """Build the preset ``name`` for ``num_classes`` outputs and ``in_chans`` leads; ``overrides`` replace
    entries of its config (any constructor argument of the model class, e.g. ``mixers=[...]``, ``head="query"``,
    ``drop_path_rate=0.2``)."""
    info = model_info(name)
    return info.cls(num_classes=num_classes, in_chans=in_chans, **{**info.config, **overrides})
