"""What an export starts from: a registered preset (random or given weights) or a training checkpoint.

Checkpoint layout read by :func:`load_checkpoint` (read with weights only: nothing in the file runs)::

    {"state_dict": {...},                     # keys may carry a "model." or "ema.module." prefix (EMA preferred)
     "hyper_parameters": {"model", "model_overrides", "num_classes", "in_chans", "single_label": bool,
                          "class_names", "thresholds", "preprocess", "sampling_rate", "lead_names",
                          "input_length"},  # older/outside spellings (model_name, model_kwargs, task_type) are
                                            # renamed first: training.checkpoint_io.upgrade_hyper_parameters
     # the training module's top-level keys are read too:
     "thresholds": Thresholds.to_dict(), "class_names": [...],
     "data_config": {"preprocess": {...}, "fs": 500, "leads": [...], "length_s": 10.0,
                     "data": {"eval_crop": "sliding", "eval_stride_s": 5.0, ...}}}  # the config's data section
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.errors import first_line
from ..data.leads import STANDARD_LEADS
from ..data.preprocess import Preprocess
from ..models import create_model, list_models
from ..training.checkpoint_io import (
    CheckpointError,
    best_selection,
    read_checkpoint,
    upgrade_data_config,
    upgrade_hyper_parameters,
)
from ..training.thresholds import FIXED_THRESHOLD, Thresholds

__all__ = ["ExportSource", "from_preset", "load_checkpoint", "load_source", "selection_metrics"]

DEFAULT_FS = 500.0
DEFAULT_SECONDS = 10.0


@dataclass
class ExportSource:
    """An eval-mode model and everything the bundle must say about its inputs and outputs."""

    model: torch.nn.Module
    model_name: str
    model_kwargs: dict[str, Any]
    class_names: tuple[str, ...]
    thresholds: Thresholds
    sampling_rate: float
    lead_names: tuple[str, ...]
    input_length: int
    preprocess: Preprocess = field(default_factory=Preprocess)
    task_type: str = "multilabel"
    origin: str = "preset"
    window_stride: int | None = None  # samples between the sliding windows the model was evaluated with, if any
    data: dict[str, Any] | None = None  # the training data: dataset, task, splits, options (provenance.data)
    metrics: dict[str, Any] | None = None  # the validation score that selected the checkpoint (provenance.metrics)


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing or not finite (JSON has no NaN)."""
    return float(value) if value is not None and math.isfinite(float(value)) else None


def selection_metrics(monitor: str, value: float | None, epoch: int | None, selection: str,
                      values: Mapping[str, float | None] | None = None) -> dict[str, Any]:
    """``provenance.metrics`` of ``model.json``: the validation scores of the selected checkpoint by metric name
    (default: the monitored one alone) and how it was selected (``monitor``, its ``value`` and ``epoch``, the
    ``selection`` rule); non-finite scores become null."""
    values = values or {monitor.removeprefix("val/"): value}
    return {"split": "val", "selection": selection, "monitor": monitor, "value": _finite(value), "epoch": epoch,
            "values": {name: _finite(score) for name, score in values.items()}}


def default_thresholds(class_names: Sequence[str], task_type: str) -> Thresholds:
    """0.5 per class (multi-label) or arg-max (single-label) when no validation thresholds exist."""
    if task_type == "singlelabel":
        return Thresholds(None, "argmax", "none", tuple(class_names))
    return Thresholds((FIXED_THRESHOLD,) * len(class_names), "fixed", "none", tuple(class_names))


def _lead_names(in_chans: int, leads: Sequence[str] | None) -> tuple[str, ...]:
    if leads is not None:
        names = tuple(leads)
    elif in_chans == len(STANDARD_LEADS):
        names = STANDARD_LEADS
    elif in_chans == 1:
        names = ("ECG",)
    else:
        names = STANDARD_LEADS[:in_chans]
    if len(names) != in_chans:
        raise ValueError(f"{len(names)} lead names for a model with in_chans={in_chans}")
    return names


def from_preset(name: str, class_names: Sequence[str] | None = None, num_classes: int | None = None,
                in_chans: int = 12, weights: str | Path | None = None, task_type: str = "multilabel",
                sampling_rate: float = DEFAULT_FS, seconds: float = DEFAULT_SECONDS,
                leads: Sequence[str] | None = None, **model_kwargs: Any) -> ExportSource:
    """A registered preset with random (seed 0) or given weights (a ``state_dict`` file)."""
    if name not in list_models():
        raise ValueError(f"unknown preset {name!r}; registered: {', '.join(list_models())}")
    if class_names is None:
        class_names = tuple(f"class_{k}" for k in range(num_classes or 5))
    torch.manual_seed(0)
    model = create_model(name, len(class_names), in_chans, **model_kwargs)
    if weights is not None:
        try:
            model.load_state_dict(read_checkpoint(weights, required=()))
        except RuntimeError as exc:
            raise CheckpointError(f"weights {weights} do not fit preset {name!r}: {first_line(exc)}") from None
    return ExportSource(model=model.eval(), model_name=name, model_kwargs=dict(model_kwargs),
                        class_names=tuple(class_names), thresholds=default_thresholds(class_names, task_type),
                        sampling_rate=float(sampling_rate), lead_names=_lead_names(in_chans, leads),
                        input_length=round(sampling_rate * seconds), task_type=task_type)


def _model_state(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in ("ema.module.", "model."):
        picked = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if picked:
            return picked
    return state_dict


def load_checkpoint(path: str | Path) -> ExportSource:
    """An :class:`ExportSource` from a checkpoint in the layout of the module docstring.

    The file is read by :func:`~ecgformer.training.checkpoint_io.read_checkpoint` (weights only); every problem is a
    :class:`~ecgformer.training.checkpoint_io.CheckpointError` naming the file.
    """
    ckpt = read_checkpoint(path, required=("state_dict", "hyper_parameters"))
    try:
        return _source_from(ckpt, path)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path}: {type(exc).__name__}: {first_line(exc)}") from None


def _source_from(ckpt: dict[str, Any], path: str | Path) -> ExportSource:
    hp = upgrade_hyper_parameters(ckpt["hyper_parameters"])
    data = upgrade_data_config(ckpt.get("data_config") or hp.get("data_config"))
    name = hp.get("model")
    if name not in list_models():
        raise CheckpointError(f"checkpoint {path}: hyper_parameters name model {name!r}, which is not a registered "
                              "model (`ecgformer list`)")
    kwargs = dict(hp.get("model_overrides") or {})
    num_classes = int(hp["num_classes"])
    in_chans = int(hp.get("in_chans", 12))
    class_names = tuple(hp.get("class_names") or ckpt.get("class_names") or
                        [f"class_{k}" for k in range(num_classes)])
    task_type = "singlelabel" if hp.get("single_label") else "multilabel"
    stored = hp.get("thresholds", ckpt.get("thresholds"))
    thresholds = (Thresholds.from_dict(stored) if stored is not None
                  else default_thresholds(class_names, task_type))
    preprocess_dict = hp.get("preprocess", data.get("preprocess"))
    preprocess = Preprocess.from_dict(preprocess_dict) if preprocess_dict else Preprocess()
    fs = float(hp.get("sampling_rate") or data.get("fs") or preprocess.fs or DEFAULT_FS)
    leads = hp.get("lead_names") or data.get("leads") or preprocess.leads
    length = hp.get("input_length") or round(fs * float(data.get("length_s") or DEFAULT_SECONDS))
    evaluation = data.get("data") or {}  # the training config's data section: how long records were evaluated
    window_stride = None  # the evaluation's windows (non-overlapping unless eval_stride_s) for long records
    if evaluation.get("eval_crop") == "sliding":
        window_stride = (round(fs * float(evaluation["eval_stride_s"])) if evaluation.get("eval_stride_s")
                         else int(length))
    training_data = ({key: evaluation.get(key) for key in ("dataset", "task", "splits", "options")}
                     if evaluation.get("dataset") else None)
    selection = best_selection(ckpt)
    metrics = None if selection is None else selection_metrics(
        selection[0], selection[1], selection[2],
        f"checkpoint of the epoch with the best {selection[0]} on the validation split")
    model = create_model(name, num_classes, in_chans, **kwargs)
    model.load_state_dict(_model_state(ckpt["state_dict"]))
    return ExportSource(model=model.eval(), model_name=name, model_kwargs=kwargs, class_names=class_names,
                        thresholds=thresholds, sampling_rate=fs, lead_names=_lead_names(in_chans, leads),
                        input_length=int(length), preprocess=preprocess, task_type=task_type,
                        origin=f"checkpoint {Path(path).name}", window_stride=window_stride, data=training_data,
                        metrics=metrics)


def load_source(target: str, **preset_kwargs: Any) -> ExportSource:
    """A checkpoint file when ``target`` is an existing file, else a preset name (``preset_kwargs`` apply)."""
    if Path(target).is_file():
        return load_checkpoint(target)
    return from_preset(target, **preset_kwargs)
