"""Export to ONNX / TorchScript / ExportedProgram bundles with a parity check (``ecgformer export``)."""

from .bundle import TOLERANCE, ParityError, export_bundle
from .formats import FORMATS
from .source import ExportSource, from_preset, load_checkpoint, load_source

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
