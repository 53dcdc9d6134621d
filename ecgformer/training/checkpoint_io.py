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

__all__ = ["HYPER_PARAMETER_ALIASES", "AtomicCheckpointIO", "CheckpointError", "atomic_torch_save", "best_selection",
           "read_checkpoint", "upgrade_data_config", "upgrade_hyper_parameters"]


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


#: Spellings of ``hyper_parameters`` keys in checkpoints written outside the training module, and its name for each.
HYPER_PARAMETER_ALIASES = {"model_name": "model", "model_kwargs": "model_overrides"}


def upgrade_hyper_parameters(hyper_parameters: dict[str, Any]) -> dict[str, Any]:
    """``hyper_parameters`` in the training module's keys (``model``, ``model_overrides``, ``single_label``): the
    aliases of :data:`HYPER_PARAMETER_ALIASES` renamed and ``task_type`` (``"multilabel"`` | ``"singlelabel"``)
    turned into ``single_label``; ``ValueError`` naming ``task_type`` for another value."""
    out = dict(hyper_parameters)
    for alias, key in HYPER_PARAMETER_ALIASES.items():
        if alias in out:
            out.setdefault(key, out.pop(alias))
    if "task_type" in out:
        task_type = out.pop("task_type")
        if task_type not in ("multilabel", "singlelabel"):
            raise ValueError(f"task_type must be 'multilabel' or 'singlelabel', got {task_type!r}")
        out.setdefault("single_label", task_type == "singlelabel")
    return out


def upgrade_data_config(data_config: dict[str, Any] | None) -> dict[str, Any]:
    """A checkpoint's ``data_config`` in today's keys: checkpoints written before a challenge spec named its scorer
    hold CinC 2021's spec without ``"scorer"``, and CinC 2017 ones no spec at all (the classes told it then)."""
    config = dict(data_config or {})
    challenge = config.get("challenge")
    if challenge and "scorer" not in challenge:
        config["challenge"] = {"scorer": "cinc2021", **challenge}
    elif not challenge and (config.get("data") or {}).get("dataset") == "cinc2017":
        config["challenge"] = {"scorer": "cinc2017"}
    return config


def best_selection(checkpoint: dict[str, Any]) -> tuple[str, float, int] | None:
    """What selected a Lightning checkpoint: its ``ModelCheckpoint`` monitor, best score and the epoch (counted from
    1) it was saved at; None when the checkpoint records no monitored score (validation never ran)."""
    state = next((value for key, value in checkpoint.get("callbacks", {}).items() if key.startswith("ModelCheckpoint")),
                 None)
    if state is None or state.get("best_model_score") is None or state.get("monitor") is None:
        return None
    return str(state["monitor"]), float(state["best_model_score"]), int(checkpoint["epoch"]) + 1


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
