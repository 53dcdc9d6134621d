"""The ``ecgformer`` command line."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="ecgformer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    from .bench.cli import add_bench_parser
    add_bench_parser(commands)
    from .data.cli import add_data_parser
    add_data_parser(commands)
    from .export.cli import add_export_parser
    add_export_parser(commands)
    from .quickstart import add_quickstart_parser
    add_quickstart_parser(commands)
    from .inference.cli import run_bundle_predict
    from .training.cli import add_training_parsers
    add_training_parsers(commands, bundle_predict=run_bundle_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script.

    The parsed arguments carry ``command_line`` (``ecgformer`` and the arguments) and ``started`` (a
    ``time.perf_counter()`` taken just before the sub-command runs), which the benchmarks record.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "ecgformer " + shlex.join(argv)
    args.started = time.perf_counter()
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
