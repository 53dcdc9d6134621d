#!/usr/bin/env python
"""Build (or reuse) the memory-mapped record cache of a dataset; same options as ``ecgformer data cache``.

    python data_scripts/build_cache.py --dataset ptbxl --task superdiag --target-fs 100 --normalize zscore
"""

from __future__ import annotations

import argparse
import sys

from ecgformer.data.cli import add_data_parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``data cache`` options and run it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", "cache", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
