#!/usr/bin/env python
"""Write synthetic multi-label 12-lead ECGs as WFDB records plus labels.csv (no download needed).

    python data_scripts/make_synthetic.py out/synthetic --records 500 --fs 500 --seed 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgformer.data.synthetic import SyntheticECG, write_wfdb


def main(argv: list[str] | None = None) -> int:
    """Generate and write the records."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--fs", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per record")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source = SyntheticECG(args.records, fs=args.fs, duration_s=args.duration, seed=args.seed)
    out = write_wfdb(source, args.out)
    print(f"{len(source)} records in {out}; label counts: {source.label_counts()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
