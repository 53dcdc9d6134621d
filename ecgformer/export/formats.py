"""Writers and runners of the three export formats: ONNX (dynamo), TorchScript (trace), ExportedProgram (.pt2).

Every format takes ``(batch, leads, length)`` float32 inputs with dynamic batch and length and returns logits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.export import Dim
from torch.fx.experimental import _config as shape_config

from ..inference.predictor import onnx_session
from ..registry import Registry

__all__ = ["DEFAULT_FORMATS", "ExportFormat", "FORMATS", "INPUT_NAME", "OPSET", "load_runner", "write_model"]

# opset 23 turns each SDPA into one ONNX Attention node (onnxruntime >= 1.23 runs it on CPU, ~1.5x faster than the
# MatMul/Softmax graph of opset 18); torch maps SDPA to Attention from 2.8 on, older torch exports opset 18
OPSET = 23 if tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 8) else 18
INPUT_NAME = "x"
Runner = Callable[[np.ndarray], np.ndarray]


def _dynamic_shapes() -> dict[str, dict[int, Dim]]:
    return {INPUT_NAME: {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}}


def _write_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    program = torch.onnx.export(model, (example,), dynamo=True, verbose=False, opset_version=OPSET,
                                input_names=[INPUT_NAME], output_names=["logits"], dynamic_shapes=_dynamic_shapes())
    program.save(str(path))


def _write_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    torch.jit.save(torch.jit.trace(model, (example,), check_trace=False), str(path))


def _write_exported(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    # size-oblivious reasoning for the traced sizes: without it torch.export guards every size derived from the
    # length (window and block counts ...) on being 1 or not, which holds only near the traced length
    with shape_config.patch(backed_size_oblivious=True):
        program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_shapes())
    torch.export.save(program, str(path))


def _load_onnx(path: Path, threads: int | None) -> Runner:
    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _torch_runner(module: Callable[[torch.Tensor], torch.Tensor]) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    return run


def _load_torchscript(path: Path, threads: int | None) -> Runner:
    return _torch_runner(torch.jit.load(str(path)))


def _load_exported(path: Path, threads: int | None) -> Runner:
    return _torch_runner(torch.export.load(str(path)).module())


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its file name inside a bundle, its writer, its runner loader and, for a format on its way
    out, the deprecation every export in it warns with."""

    file_name: str
    write: Callable[[torch.nn.Module, torch.Tensor, Path], None]
    load: Callable[[Path, int | None], Runner]
    deprecation: str | None = None


FORMATS: Registry[ExportFormat] = Registry("export format", {
    "onnx": ExportFormat("model.onnx", _write_onnx, _load_onnx),
    "torchscript": ExportFormat("model.ts", _write_torchscript, _load_torchscript,
                                deprecation="TorchScript (torch.jit.trace) is deprecated since torch 2.13 and is "
                                            "written only on request; prefer the onnx or exported formats"),
    "exported": ExportFormat("model.pt2", _write_exported, _load_exported)})
#: What ``ecgformer export`` writes without ``--format``.
DEFAULT_FORMATS = ("onnx", "exported")


def write_model(model: torch.nn.Module, example: torch.Tensor, fmt: str, folder: Path) -> Path:
    """Export eval-mode ``model`` traced at ``example`` (batch >= 2, several windows long) into ``folder`` in the
    format ``fmt`` of :data:`FORMATS`; returns the written file."""
    export_format = FORMATS[fmt]
    path = folder / export_format.file_name
    if export_format.deprecation:  # said, not silenced with the tracer's own warnings below
        warnings.warn(export_format.deprecation, FutureWarning, stacklevel=2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_format.write(model, example, path)
    return path


def load_runner(path: Path, fmt: str, threads: int | None = None) -> Runner:
    """A function running the exported file on a numpy batch (onnxruntime for ONNX, torch otherwise)."""
    return FORMATS[fmt].load(path, threads)
