"""Torch-free clinical inference on export bundles (numpy, scipy, wfdb, onnxruntime only)."""

from .bundle import BundleError, BundleSpec, InputError, read_bundle_json
from .predictor import STATUSES, OutputError, Prediction, Predictor, RuntimeOptionError
from .reference import verify_bundle

__all__ = ["STATUSES", "BundleError", "BundleSpec", "InputError", "OutputError", "Prediction", "Predictor",
           "RuntimeOptionError", "read_bundle_json", "verify_bundle"]
