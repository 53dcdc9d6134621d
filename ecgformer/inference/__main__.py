"""``python -m ecgformer.inference BUNDLE INPUT... --out FILE.csv|.json`` or ``--verify BUNDLE``: bundle prediction
and verification without torch installed."""

from __future__ import annotations

import argparse
import sys

from .cli import add_runtime_arguments, run_bundle_predict


def main(argv: list[str] | None = None, prog: str = "python -m ecgformer.inference") -> int:
    """Parse the arguments and run :func:`ecgformer.inference.cli.run_bundle_predict` (``prog`` names the command
    in usage and help: ``ecgformer predict`` when the console script runs it without the training install)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("inputs", nargs="+", help="bundle folder, then WFDB records (.hea), folders or .npy files")
    parser.add_argument("--out", default=None, help="predictions file (.csv or .json); not with --verify")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing predictions file")
    add_runtime_arguments(parser)
    return run_bundle_predict(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
