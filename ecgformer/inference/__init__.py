"""Torch-free clinical inference on export bundles (numpy, scipy, wfdb, onnxruntime only)."""

from .bundle import BundleError, BundleSpec, InputError, read_bundle_json
from .predictor import STATUSES, OutputError, Prediction, Predictor

__all__ = ["STATUSES", "BundleError", "BundleSpec", "InputError", "OutputError", "Prediction", "Predictor",
           "read_bundle_json"]
