"""Package attributes imported from their submodules on first use (PEP 562 ``__getattr__``).

Importing any submodule runs its package's ``__init__``; a package whose ``__init__`` imported its torch-based
submodules eagerly would pull torch (and Lightning) into torch-free code paths such as ``ecgformer predict`` and
``ecgformer.inference``. Such packages map their public names to the defining submodules instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, namespace: dict[str, Any],
                    sources: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package`` whose module globals are ``namespace``.

    ``sources`` maps each lazy name to the submodule defining it (relative to ``package``); a name equal to its
    submodule's name stands for the submodule itself. A resolved attribute is cached in ``namespace``.
    """
    def getattr_(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f".{sources[name]}", package)
        value = module if name == sources[name] else getattr(module, name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *sources})

    return getattr_, dir_
