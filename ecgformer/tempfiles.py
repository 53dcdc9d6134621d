"""Temporary files and folders of this package, atomic writes, and the removal of what a killed run left behind.

Everything the package writes in place (checkpoints, caches, export bundles, prediction files) is first written
under a name from :func:`temporary_path`, ``.<target name>.ecgformer-tmp.<host>.<pid>.<token>``, beside its
target, then renamed over it. A process killed mid-write leaves that temporary behind; the owner's host and
pid are in its name, so a later run on the same host removes it (:func:`remove_stale_temporaries`) once that
process is gone, and never touches the temporaries of a process still running or of another host.
Torch-free (the predictor uses it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMP_MARK", "atomic_write", "remove_stale_temporaries", "temporary_path"]

TEMP_MARK = "ecgformer-tmp"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_TEMPORARY = re.compile(rf"^\..+\.{TEMP_MARK}\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+$")


def temporary_path(target: str | os.PathLike[str]) -> Path:
    """A fresh temporary name beside ``target`` that names this host and process (nothing is created)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{TEMP_MARK}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex[:12]}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries in ``folder`` left by dead processes of this host; returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if match is None or match["host"] != _HOST or _process_alive(int(match["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _publish_new(tmp: Path, target: Path) -> None:
    """Give the complete file ``tmp`` the name ``target`` unless ``target`` exists by then."""
    try:
        os.link(tmp, target)  # atomic, and fails instead of replacing a file that appeared meanwhile
    except FileExistsError:
        raise FileExistsError(f"{target} appeared while it was being written; kept it") from None
    except OSError:  # a filesystem without hard links: check, then rename
        if target.exists():
            raise FileExistsError(f"{target} appeared while it was being written; kept it") from None
        os.replace(tmp, target)


def atomic_write(target: str | os.PathLike[str], write: Callable[[BinaryIO], None], overwrite: bool = True) -> Path:
    """Call ``write`` on a temporary file beside ``target``, flush it to disk and rename it to ``target``.

    ``target`` holds either its previous content or the complete new file, never a partial one. With
    ``overwrite=False`` an existing ``target`` is kept and :class:`FileExistsError` raised (also when the file
    appeared while writing).
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} exists (pass overwrite to replace it)")
    tmp = temporary_path(target)
    try:
        with open(tmp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            _publish_new(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
