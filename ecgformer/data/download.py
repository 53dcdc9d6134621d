"""Download PhysioNet datasets into the layout the readers expect, verify checksums, check layouts.

Online: :func:`download` fetches the project's ``SHA256SUMS.txt`` with ``wfdb.dl_files``, picks the
files the reader needs, downloads them with ``wfdb.dl_files`` (resumable: a partial file is
completed, a complete one is skipped), and verifies every file against the published SHA-256.
Offline (testable here): :func:`parse_sha256sums`, :func:`verify_checksums`,
:func:`write_sha256sums`, :func:`check_layout`, :func:`select_files`.
"""

from __future__ import annotations

import fnmatch
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..checksums import sha256_file
from ..progress import progress as progress_bar
from .registry import DATASETS

__all__ = ["DatasetSource", "download_sources", "missing_files", "missing_record_files", "parse_sha256sums",
           "sha256_file", "verify_checksums", "write_sha256sums", "select_files", "check_layout", "download"]


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset lives on PhysioNet and which of its files the reader needs."""

    physionet: str
    include: tuple[str, ...]
    extra_urls: dict[str, str] = field(default_factory=dict)


def parse_sha256sums(text: str) -> dict[str, str]:
    """``{relative path: hex digest}`` from ``sha256sum`` output (``<digest>  <path>`` or ``<digest> *<path>``)."""
    sums = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name:
            raise ValueError(f"not a sha256sum line: {line!r}")
        sums[name] = digest.lower()
    return sums


def verify_checksums(root: str | Path, sums: dict[str, str] | str | Path, files: Iterable[str] | None = None,
                     progress: bool = False) -> list[str]:
    """Problems (missing file, checksum mismatch) of ``files`` (default: all listed) under ``root``;
    an empty list means every file matches. ``sums`` is a dict or a ``SHA256SUMS.txt`` path."""
    root = Path(root)
    if not isinstance(sums, dict):
        sums = parse_sha256sums(Path(sums).read_text())
    names = list(files) if files is not None else list(sums)
    problems = []
    for name in progress_bar(names, "verifying", progress, leave=False):
        path = root / name
        if name not in sums:
            problems.append(f"{name}: not listed in SHA256SUMS")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != sums[name]:
            problems.append(f"{name}: checksum mismatch")
    return problems


def write_sha256sums(root: str | Path, files: Iterable[str], out: str | Path | None = None) -> Path:
    """Write ``SHA256SUMS.txt`` (``<digest>  <path>``) for ``files`` relative to ``root``."""
    root = Path(root)
    target = Path(out) if out is not None else root / "SHA256SUMS.txt"
    target.write_text("".join(f"{sha256_file(root / name)}  {name}\n" for name in sorted(files)))
    return target


def select_files(names: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The names matching any glob pattern (``*`` crosses folders), sorted."""
    return sorted(n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns))


def missing_files(root: Path, *names: str) -> list[str]:
    """``"missing <name>"`` for each of ``names`` that does not exist under ``root``."""
    return [f"missing {name}" for name in names if not (root / name).exists()]


def missing_record_files(root: Path, folder: Path, data_suffixes: tuple[str, ...],
                         listing: Path | None = None) -> list[str]:
    """Problems of the WFDB records under ``folder``: every record (each ``.hea``, or each line of ``listing`` when
    that file exists, relative to ``root``) needs its header and one file per suffix of ``data_suffixes``."""
    if listing is not None and listing.is_file():
        stems = [root / line.strip() for line in listing.read_text().split() if line.strip()]
    else:
        stems = [p.with_suffix("") for p in folder.rglob("*.hea")]
    if not stems:
        return [f"no WFDB records under {folder}"]
    return [f"missing {stem.relative_to(root)}{suffix}" for stem in stems for suffix in (".hea", *data_suffixes)
            if not stem.with_name(stem.name + suffix).is_file()]


def download_sources() -> dict[str, DatasetSource]:
    """``{dataset: source}`` of every registered reader PhysioNet publishes."""
    return {name: reader.download_source for name, reader in DATASETS.items() if reader.download_source is not None}


def check_layout(dataset: str, root: str | Path) -> list[str]:
    """Problems with the folder layout the reader of ``dataset`` expects (empty list: fine)."""
    reader = DATASETS[dataset]
    root = Path(root)
    if not root.is_dir():
        return [f"{root} does not exist"]
    return reader.check_layout(root)


def download(dataset: str, dest: str | Path, include: Sequence[str] | None = None, verify: bool = True,
             progress: bool = True) -> list[str]:
    """Download ``dataset`` from PhysioNet into ``dest`` (resumable) and verify it.

    Returns the downloaded relative paths. Raises ``RuntimeError`` when a checksum fails or the
    resulting layout is not what the reader expects. Needs network access to physionet.org.
    """
    import wfdb

    source = DATASETS[dataset].download_source
    if source is None:
        raise ValueError(f"{dataset} has no download source (datasets PhysioNet publishes: "
                         f"{', '.join(download_sources())})")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wfdb.dl_files(source.physionet, str(dest), ["SHA256SUMS.txt"], keep_subdirs=True, overwrite=True)
    sums = parse_sha256sums((dest / "SHA256SUMS.txt").read_text())
    files = select_files(sums, include or source.include)
    if not files:
        raise RuntimeError(f"{dataset}: no published file matches {list(include or source.include)}")
    todo = [name for name in files if not ((dest / name).is_file() and sha256_file(dest / name) == sums[name])]
    if todo:
        wfdb.dl_files(source.physionet, str(dest), todo, keep_subdirs=True, overwrite=False)
    for name, url in source.extra_urls.items():  # not on PhysioNet, no published checksum
        if not (dest / name).is_file():
            urllib.request.urlretrieve(url, dest / name)
    if verify:
        problems = verify_checksums(dest, sums, files, progress=progress)
        if problems:
            raise RuntimeError(f"{dataset}: {len(problems)} files failed verification: {problems[:5]}")
    problems = check_layout(dataset, dest)
    if problems:
        raise RuntimeError(f"{dataset}: layout problems after download: {problems[:5]}")
    return files
