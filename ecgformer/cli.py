"""The ``ecgformer`` command line."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

__all__ = ["build_parser", "main"]


def _run_list(args: argparse.Namespace) -> int:
    """Print the registered model presets or token mixers, one per line."""
    if args.what == "models":
        from .models import list_models, model_info

        for name in list_models():
            info = model_info(name)
            print(f"{name:<34} {info.params / 1e6:6.2f}M  {info.description}")
    else:
        from .mixers import list_mixers, mixer_info

        for name in list_mixers():
            info = mixer_info(name)
            print(f"{name:<18} {info.family:<30} {info.paper}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Argument parser with one sub-command per job."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="ecgformer", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ecgformer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    from .bench.cli import add_bench_parser
    add_bench_parser(commands)
    from .data.cli import add_data_parser
    add_data_parser(commands)
    from .export.cli import add_export_parser
    add_export_parser(commands)
    from .quickstart import add_quickstart_parser
    add_quickstart_parser(commands)
    from .inference.cli import add_runtime_arguments, run_bundle_predict
    from .training.cli import add_training_parsers
    add_training_parsers(commands, bundle_predict=run_bundle_predict, bundle_arguments=add_runtime_arguments)
    listing = commands.add_parser("list", help="list the registered model presets (12 leads, 5 classes) or mixers")
    listing.add_argument("what", nargs="?", choices=("models", "mixers"), default="models")
    listing.set_defaults(run=_run_list)
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
