"""Training: decision thresholds chosen on validation data (the LightningModule and callbacks follow)."""

from .thresholds import FIXED_THRESHOLD, RULES, Thresholds, select_thresholds

__all__ = ["FIXED_THRESHOLD", "RULES", "Thresholds", "select_thresholds"]
