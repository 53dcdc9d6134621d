"""Progress bars for long loops, with ``tqdm`` imported only when a bar is shown (the torch-free predictor's
install, ``ecgformer[inference]``, has no ``tqdm``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress"]

Item = TypeVar("Item")


def progress(items: Iterable[Item], desc: str, enabled: bool, leave: bool = True) -> Iterator[Item]:
    """``items``, through a ``tqdm`` bar labelled ``desc`` when ``enabled`` (``leave``: keep the finished bar)."""
    if not enabled:
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, leave=leave)
