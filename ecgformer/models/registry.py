"""Registry of named model presets (timm-style): ``create_model(name, num_classes, in_chans=12, **overrides)``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..registry import Registry
from .base import EcgModel

__all__ = ["MODELS", "ModelInfo", "register_model", "list_models", "model_info", "create_model"]


@dataclass(frozen=True)
class ModelInfo:
    """A preset: the model class, its constructor config, and its stated size (12 leads, 5 classes)."""

    name: str
    cls: type[EcgModel]
    config: Mapping[str, object] = field(repr=False)
    params: int
    description: str


MODELS: Registry[ModelInfo] = Registry("model")


def register_model(name: str, cls: type[EcgModel], config: Mapping[str, object], params: int,
                   description: str) -> None:
    """Register the preset ``name``: ``cls(num_classes, in_chans, **config)`` of about ``params`` parameters."""
    MODELS.register(name, ModelInfo(name, cls, dict(config), params, description))


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return MODELS.names()


def model_info(name: str) -> ModelInfo:
    """Class, config, stated size and description of the preset ``name``."""
    return MODELS[name]


def create_model(name: str, num_classes: int, in_chans: int = 12, **overrides: object) -> EcgModel:
    """Build the preset ``name`` for ``num_classes`` outputs and ``in_chans`` leads; ``overrides`` replace
    entries of its config (any constructor argument of the model class, e.g. ``mixers=[...]``, ``head="query"``,
    ``drop_path_rate=0.2``)."""
    info = model_info(name)
    return info.cls(num_classes=num_classes, in_chans=in_chans, **{**info.config, **overrides})
