#!/usr/bin/env python
"""Download PhysioNet datasets into $ECGFORMER_DATA/<dataset> (resumable, SHA-256 verified).

    python data_scripts/download.py ptbxl cinc2017          # into $ECGFORMER_DATA (default: the user data folder)
    python data_scripts/download.py mitdb --dest /data/ecg  # elsewhere
    python data_scripts/download.py ptbxl --include 'records500/*' --include ptbxl_database.csv ...

Needs network access to physionet.org (and raw.githubusercontent.com for the CinC 2021 scoring files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgformer.data.base import data_root
from ecgformer.data.download import download, download_sources


def main(argv: list[str] | None = None) -> int:
    """Download each named dataset; exit status 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", choices=sorted(download_sources()))
    parser.add_argument("--dest", type=Path, default=None, help="parent folder (default: $ECGFORMER_DATA, else the user data folder, e.g. ~/.local/share/ecgformer)")
    parser.add_argument("--include", action="append", default=None, help="glob of published files to fetch")
    parser.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.datasets:
        target = (args.dest or data_root()) / name
        try:
            files = download(name, target, include=args.include, verify=not args.no_verify)
        except Exception as exc:  # report and go on with the next dataset
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {len(files)} files in {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
