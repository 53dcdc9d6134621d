"""Datasets by name: ``open_dataset("ptbxl", task="superdiag")``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..registry import Registry
from .base import LabelledSource
from .cinc2017 import CinC2017
from .cinc2021 import CinC2021
from .ludb import LUDB
from .mitdb import MITBIH
from .ptbxl import PTBXL
from .synthetic import SyntheticECG

__all__ = ["DATASETS", "open_dataset", "dataset_tasks", "default_task"]

DATASETS: Registry[type] = Registry("dataset", {"ptbxl": PTBXL, "cinc2021": CinC2021, "cinc2017": CinC2017,
                                                "mitdb": MITBIH, "ludb": LUDB, "synthetic": SyntheticECG})
_MITDB_TASKS = ("beats", "windows", "record")
_DEFAULT_TASK = {"ptbxl": "superdiag", "cinc2021": "scored", "cinc2017": "rhythm", "mitdb": "beats",
                 "ludb": "rhythm", "synthetic": "multilabel"}


def dataset_tasks(name: str) -> tuple[str, ...]:
    """The tasks ``open_dataset(name, task=...)`` accepts."""
    reader = DATASETS[name]  # an unknown name raises, listing the datasets
    if name == "mitdb":
        return _MITDB_TASKS
    if name == "synthetic":
        return ("multilabel",)
    return tuple(reader.tasks)


def default_task(name: str) -> str:
    """The task used when none is given."""
    dataset_tasks(name)
    return _DEFAULT_TASK[name]


def open_dataset(name: str, root: str | Path | None = None, task: str | None = None, **kwargs: Any) -> LabelledSource:
    """Open dataset ``name`` (a folder under ``$ECGFORMER_DATA`` unless ``root`` is given).

    ``mitdb`` tasks: ``beats`` (AAMI beat windows), ``windows`` (10 s multi-label windows),
    ``record`` (whole records); ``window_s``/``before_s``/``after_s`` are passed on. ``synthetic``
    ignores ``root`` and takes ``n_records``, ``fs``, ``duration_s``, ``seed``.
    """
    task = task or default_task(name)
    if task not in dataset_tasks(name):
        raise ValueError(f"{name}: unknown task {task!r}; tasks: {', '.join(dataset_tasks(name))}")
    if name == "synthetic":
        return SyntheticECG(**kwargs)
    if name == "mitdb":
        window = {k: kwargs.pop(k) for k in ("length_s", "stride_s", "before_s", "after_s") if k in kwargs}
        reader = MITBIH(root, **kwargs)
        if task == "beats":
            return reader.beats(**{k: v for k, v in window.items() if k in ("before_s", "after_s")})
        if task == "windows":
            return reader.windows(**{k: v for k, v in window.items() if k in ("length_s", "stride_s")})
        return reader
    return DATASETS[name](root, task=task, **kwargs)
