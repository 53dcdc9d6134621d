"""Models: the MetaFormer-shaped hybrid backbone, heads, CNN baselines, and the registry of named presets."""

from . import presets  # noqa: F401  (registers the presets)
from .base import EcgModel
from .heads import (
    HEADS,
    BenchmarkHead,
    ClassAttentionHead,
    PooledHead,
    QueryHead,
    create_head,
)
from .inception1d import Inception1d
from .metaformer import MetaFormer1d, resolve_mixers
from .registry import ModelInfo, create_model, list_models, model_info, register_model
from .xresnet1d import XResNet1d

__all__ = [
    "EcgModel", "HEADS", "BenchmarkHead", "ClassAttentionHead", "PooledHead", "QueryHead", "create_head",
    "Inception1d", "MetaFormer1d", "resolve_mixers", "ModelInfo", "create_model", "list_models", "model_info",
    "register_model", "XResNet1d",
]
