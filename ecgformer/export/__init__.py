"""Export to ONNX / TorchScript / ExportedProgram bundles with a parity check (``ecgformer export``).

The attributes are imported on first use, so registering the ``export`` command line imports no torch.
"""

from .._lazy import lazy_attributes

__all__ = [
           "FORMATS",
           "TOLERANCE",
           "ExportSource",
           "ParityError",
           "export_bundle",
           "from_preset",
           "load_checkpoint",
           "load_source",
]

__getattr__, __dir__ = lazy_attributes(__name__, globals(), {
    "TOLERANCE": "bundle", "ParityError": "bundle", "export_bundle": "bundle", "FORMATS": "formats",
    "ExportSource": "source", "from_preset": "source", "load_checkpoint": "source", "load_source": "source"})
