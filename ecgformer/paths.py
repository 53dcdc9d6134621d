"""Where the package looks for data: one definition shared by the readers and the challenge scorers."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root"]


def data_root() -> Path:
    """Root of the PhysioNet data: ``$ECGFORMER_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("ECGFORMER_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"
