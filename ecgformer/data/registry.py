"""Datasets by name: ``open_dataset("ptbxl", task="superdiag")``.

A dataset is one file: its reader class registers itself with :func:`register_dataset` and declares everything
the rest of the package asks about (``name``, ``tasks``, ``default_task``, ``dataset_leads``, ``file_rates``,
``download_source``, :meth:`~ecgformer.data.base.LabelledSource.check_layout`, ``open`` and, where the dataset has
one, ``challenge_scoring``). Importing ``ecgformer.data`` imports every reader module of the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from ..registry import Registry
from .base import LabelledSource

__all__ = ["DATASETS", "register_dataset", "open_dataset", "dataset_tasks", "default_task"]

DATASETS: Registry[type[LabelledSource]] = Registry("dataset")
Reader = TypeVar("Reader", bound=type[LabelledSource])


def register_dataset(cls: Reader) -> Reader:
    """Class decorator registering a reader under its ``name``; its ``default_task`` must be one of its ``tasks``."""
    if cls.default_task not in cls.tasks:
        raise ValueError(f"{cls.__qualname__}: default_task {cls.default_task!r} is not one of its tasks {cls.tasks}")
    DATASETS.register(cls.name, cls)
    return cls


def dataset_tasks(name: str) -> tuple[str, ...]:
    """The tasks ``open_dataset(name, task=...)`` accepts."""
    return tuple(DATASETS[name].tasks)


def default_task(name: str) -> str:
    """The task used when none is given."""
    return DATASETS[name].default_task


def open_dataset(name: str, root: str | Path | None = None, task: str | None = None, **kwargs: Any) -> LabelledSource:
    """Open dataset ``name`` (a folder under ``$ECGFORMER_DATA`` unless ``root`` is given) for ``task`` (default: the
    reader's ``default_task``); ``kwargs`` go to the reader's ``open`` (e.g. ``mitdb``'s window options,
    ``synthetic``'s ``n_records``)."""
    reader = DATASETS[name]
    task = task or reader.default_task
    if task not in reader.tasks:
        raise ValueError(f"{name}: unknown task {task!r}; tasks: {', '.join(reader.tasks)}")
    return reader.open(root, task, **kwargs)
