"""Training: the LightningModule, configurations and runs, atomic checkpoints, reports, and decision thresholds
chosen on validation data.

The attributes are imported on first use, so the command line registers ``fit`` ... ``predict`` without importing
torch or Lightning (``ecgformer predict BUNDLE ...`` runs where torch is not installed).
"""

from .._lazy import lazy_attributes

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
           "ema_update_fn",
           "evaluation_metrics",
           "fit",
           "load_config",
           "predict",
           "resolve_checkpoint",
           "select_thresholds",
           "test",
           "validate",
           "warmup_cosine",
           "one_cycle",
           "distillation_loss",
           "dump_config",
           "merged_config",
           "parse_config",
           "write_report",
]

__getattr__, __dir__ = lazy_attributes(__name__, globals(), {
    "AtomicCheckpointIO": "checkpoint_io", "atomic_torch_save": "checkpoint_io",
    "DEFAULTS": "config", "ConfigError": "config", "apply_overrides": "config", "dump_config": "config",
    "merged_config": "config", "load_config": "lightning_cli", "parse_config": "lightning_cli",
    **dict.fromkeys(("EcgClassifier", "ema_update_fn", "evaluation_metrics", "warmup_cosine", "one_cycle",
                     "distillation_loss"), "module"),
    "PER_CLASS_COLUMNS": "report", "REPORT_FILES": "report", "write_report": "report",
    **dict.fromkeys(("build_datamodule", "build_module", "build_trainer", "fit", "predict", "resolve_checkpoint",
                     "test", "validate"), "run"),
    **dict.fromkeys(("FIXED_THRESHOLD", "RULES", "Thresholds", "select_thresholds"), "thresholds")})
