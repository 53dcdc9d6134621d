"""The ``ecgformer`` command line."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

__all__ = ["TRAINING_MODULES", "build_parser", "main"]

#: Import names that only the training install (``pip install "ecgformer[train]"``) brings; without them the torch-free
#: commands still run: ``ecgformer predict BUNDLE INPUT...``, ``ecgformer predict --verify BUNDLE``, ``--version``.
TRAINING_MODULES = frozenset({"torch", "lightning", "sklearn", "einops", "onnx", "onnxscript", "matplotlib", "yaml",
                              "tqdm", "jsonargparse"})


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


def _run_configs(args: argparse.Namespace) -> int:
    """List the packaged configs (name and description), or print the YAML of the one named."""
    from .training.config import ConfigError, packaged_configs, resolve_config

    if args.name is None:
        for name, description in packaged_configs().items():
            print(f"{name:<22} {description}")
        return 0
    try:
        print(resolve_config(args.name).read_text(), end="")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    configs = commands.add_parser("configs", help="list the packaged training configs, or print one (copy it to edit)")
    configs.add_argument("name", nargs="?", default=None, help="a packaged config to print")
    configs.set_defaults(run=_run_configs)
    return parser


def _missing_training_module(exc: ModuleNotFoundError) -> str | None:
    """The training-install module whose absence ``exc`` reports, else ``None``."""
    top = (exc.name or "").split(".")[0]
    return top if top in TRAINING_MODULES else None


def _without_training(argv: list[str], missing: str) -> int:
    """Run what works without the training install: bundle prediction and ``--version``; else say what to install."""
    if argv[:1] == ["predict"] and not {"--config", "--ckpt"} & {arg.partition("=")[0] for arg in argv}:
        from .inference.__main__ import main as predict_bundle

        return predict_bundle(argv[1:], prog="ecgformer predict")
    if argv[:1] == ["--version"]:
        from . import __version__

        print(f"ecgformer {__version__}")
        return 0
    command = f"ecgformer {argv[0]}" if argv and not argv[0].startswith("-") else "this command"
    print(f"error: {command} needs the training install ({missing} is not installed): pip install "
          "'ecgformer[train]'; without it, `ecgformer predict BUNDLE INPUT... --out FILE` and `ecgformer predict "
          "--verify BUNDLE` run", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script.

    The parsed arguments carry ``command_line`` (``ecgformer`` and the arguments) and ``started`` (a
    ``time.perf_counter()`` taken just before the sub-command runs), which the benchmarks record. Without the
    training install (see :data:`TRAINING_MODULES`), bundle prediction runs and any other command stops with one line
    naming the extra to install.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        args.command_line = "ecgformer " + shlex.join(argv)
        args.started = time.perf_counter()
        return int(args.run(args) or 0)
    except ModuleNotFoundError as exc:
        missing = _missing_training_module(exc)
        if missing is None:
            raise
        return _without_training(argv, missing)


if __name__ == "__main__":
    sys.exit(main())
