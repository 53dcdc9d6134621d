"""Training: the LightningModule, configurations and runs, atomic checkpoints, reports, and decision thresholds
chosen on validation data."""

from .checkpoint_io import AtomicCheckpointIO, atomic_torch_save
from .config import DEFAULTS, ConfigError, apply_overrides, load_config
from .module import EcgClassifier, evaluation_metrics, warmup_cosine
from .report import PER_CLASS_COLUMNS, REPORT_FILES, write_report
from .run import (
           build_datamodule,
           build_module,
           build_trainer,
           fit,
           predict,
           resolve_checkpoint,
           test,
           validate,
)
from .thresholds import FIXED_THRESHOLD, RULES, Thresholds, select_thresholds

__all__ = [
           "DEFAULTS",
           "FIXED_THRESHOLD",
           "PER_CLASS_COLUMNS",
           "REPORT_FILES",
           "RULES",
           "AtomicCheckpointIO",
           "ConfigError",
           "EcgClassifier",
           "Thresholds",
           "apply_overrides",
           "atomic_torch_save",
           "build_datamodule",
           "build_module",
           "build_trainer",
           "evaluation_metrics",
           "fit",
           "load_config",
           "predict",
           "resolve_checkpoint",
           "select_thresholds",
           "test",
           "validate",
           "warmup_cosine",
           "write_report",
]
