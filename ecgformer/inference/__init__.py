"""Torch-free clinical inference on export bundles (numpy, scipy, wfdb, onnxruntime only)."""

from .bundle import BundleError, BundleSpec, InputError, read_bundle_json
from .predictor import Prediction, Predictor

__all__ = ["BundleError", "BundleSpec", "InputError", "Prediction", "Predictor", "read_bundle_json"]
