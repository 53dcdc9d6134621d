"""Checkpoints written atomically and read without running anything from the file.

Writing: a temporary file beside the target, flushed, then renamed over it (:func:`atomic_torch_save`).

Reading (:func:`read_checkpoint`): ``torch.load(..., weights_only=True)`` with no global beyond torch's weights-only
set (tensors, storages, ``OrderedDict``, plain containers and values). That is exactly what this package writes: the
Lightning checkpoint dict, ``state_dict`` tensors, hyper-parameters, thresholds and the data configuration as plain
JSON-like values. A pickle that asks to import anything else (``os.system``, ``pathlib.Path.touch``, a class) is
refused before any of it runs, and the error names the checkpoint and the globals it asked for.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..data.errors import first_line
from ..tempfiles import atomic_write

__all__ = ["AtomicCheckpointIO", "CheckpointError", "atomic_torch_save", "read_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, truncated, not a checkpoint, or asking to run code."""


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` such that ``path`` holds either its previous content or the complete new
    file, never a partial one (a crash or an error during the write leaves the old file in place)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda handle: torch.save(obj, handle))


def _refused_globals(path: Path) -> list[str]:
    """The globals the checkpoint's pickle would import beyond the weights-only set (read, not executed)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # noqa: BLE001 - only used to word the error; the load itself already refused the file
        return []


def read_checkpoint(path: str | os.PathLike[str], required: tuple[str, ...] = ("state_dict",)) -> dict[str, Any]:
    """The checkpoint dict at ``path``, loaded with ``weights_only=True`` (nothing in the file is executed).

    Raises :class:`CheckpointError` naming the file when it is missing, not a regular file, truncated or
    corrupted, asks to import code, is not a dict, or lacks one of the ``required`` keys.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: not a regular file")
    try:
        with torch.serialization.safe_globals([]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        wanted = ", ".join(_refused_globals(path)) or "objects outside tensors and plain values"
        raise CheckpointError(f"checkpoint {path}: refused to load: it asks to import {wanted}, which no ecgformer "
                              "checkpoint contains (loaded with weights_only=True; nothing was run)") from None
    except (OSError, EOFError, RuntimeError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: not a readable checkpoint (truncated or corrupted: "
                              f"{first_line(exc)})") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"checkpoint {path}: holds a {type(checkpoint).__name__}, not a checkpoint dict")
    missing = [key for key in required if key not in checkpoint]
    if missing:
        raise CheckpointError(f"checkpoint {path}: no {', '.join(map(repr, missing))} key (keys: "
                              f"{', '.join(map(str, checkpoint)) or 'none'}); is it a checkpoint of `ecgformer fit`?")
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO plugin: saves with :func:`atomic_torch_save`, loads with :func:`read_checkpoint`."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike[str],
                        storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically."""
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: str | os.PathLike[str], map_location: Any | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        """Read ``path`` with :func:`read_checkpoint` (weights only, whatever ``weights_only`` says); tensors stay on
        the CPU until Lightning moves the state into the model."""
        return read_checkpoint(path)
