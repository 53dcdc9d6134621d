"""Where the package looks for data: one definition shared by the readers and the challenge scorers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["data_root", "data_root_origin", "user_data_dir"]


def user_data_dir() -> Path:
    """The per-user data folder of ``ecgformer``: ``$XDG_DATA_HOME/ecgformer`` (default ``~/.local/share``) on
    Linux, ``~/Library/Application Support/ecgformer`` on macOS, ``%LOCALAPPDATA%\\ecgformer`` on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ecgformer"


def data_root() -> Path:
    """Root of the PhysioNet data, one folder per dataset: ``$ECGFORMER_DATA``, else :func:`user_data_dir`."""
    env = os.environ.get("ECGFORMER_DATA")
    return Path(env).expanduser() if env else user_data_dir()


def data_root_origin() -> str:
    """Where :func:`data_root` comes from, for error messages: ``$ECGFORMER_DATA=...`` or the user data folder."""
    env = os.environ.get("ECGFORMER_DATA")
    if env:
        return f"data root $ECGFORMER_DATA={env}"
    return f"$ECGFORMER_DATA is unset, so the data root is the user data folder {user_data_dir()}"
