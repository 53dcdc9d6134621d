"""``ecgformer fit|validate|test|predict --config FILE [--section.key=value ...]`` on a LightningCLI parser.

The arguments are read in two steps. First the run's flags (``--config``, ``--ckpt``, ``--overwrite``, ``--out``,
``--print_config``) are separated from the overrides, and the YAML file (with its ``base`` chain) and the
overrides are merged over the defaults (:func:`~.config.merged_config`: nested keys of free-form mappings such as
``--data.options.n_records=40`` work). Then the merged configuration is parsed by :class:`~.lightning_cli.EcgCLI`,
a ``LightningCLI`` whose argument groups are the config sections (typed by their dataclasses and by
``lightning.Trainer``'s signature): types, ``class_path`` loggers and callbacks and ``--help`` come from it. The
stage itself runs through :mod:`.run` (``fit`` saves the configuration as ``out_dir/config.yaml``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..data.errors import DataError, first_line
from .config import DEFAULTS, ConfigError

__all__ = [
    "STAGES",
    "OverrideParser",
    "add_training_parsers",
    "run_stage",
    "split_overrides",
    "stage_parser",
]

BundlePredict = Callable[[argparse.Namespace], int]
BundleArguments = Callable[[argparse.ArgumentParser], None]

#: The training sub-commands and their one-line help.
STAGES: dict[str, str] = {"fit": "train a model (resume with --ckpt)",
                          "validate": "validation metrics of a checkpoint",
                          "test": "test a checkpoint and write the report folder",
                          "predict": "predict with a checkpoint (--config/--ckpt) or an export bundle "
                                     "(BUNDLE INPUT...)"}
_LEGACY_TOP_LEVEL = {"loggers"}  # read by config._migrate


def split_overrides(extras: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split unparsed arguments into overrides (``--section.key=value``, ``--section.key value`` or a top-level
    ``--seed=1``) and the rest."""
    overrides: list[str] = []
    rest: list[str] = []
    items = list(extras)
    k = 0
    while k < len(items):
        item = items[k]
        name = item[2:].partition("=")[0] if item.startswith("--") else ""
        config_key = "." in name or name in DEFAULTS or name in _LEGACY_TOP_LEVEL
        if config_key and "=" in item:
            overrides.append(item[2:])
        elif config_key and k + 1 < len(items) and not items[k + 1].startswith("--"):
            overrides.append(f"{name}={items[k + 1]}")
            k += 1
        else:
            rest.append(item)
        k += 1
    return overrides, rest


class OverrideParser(argparse.ArgumentParser):
    """A sub-command parser that collects ``--section.key=value`` arguments into ``overrides``."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        overrides, rest = split_overrides(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(rest, namespace)
        parsed.overrides = [*getattr(parsed, "overrides", []), *overrides]
        return parsed, extras


def stage_parser(stage: str) -> argparse.ArgumentParser:
    """The flags of ``ecgformer STAGE`` that are not config keys (the config keys are split off first by
    :func:`split_overrides`)."""
    parser = argparse.ArgumentParser(prog=f"ecgformer {stage}", add_help=False)
    parser.add_argument("--config", default=None)
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--print_config", "--print-config", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    if stage in ("fit", "predict"):
        parser.add_argument("--overwrite", action="store_true")
    if stage == "predict":
        parser.add_argument("--out", "--output", dest="out", default=None)
        parser.add_argument("inputs", nargs="*")
    return parser


_FLAGS_HELP = """run flags:
  --config FILE|NAME  a YAML path, a packaged config's name (ecgformer configs) or a run's config.yaml
  --ckpt PATH         resume (fit) or evaluate (default: out_dir/checkpoints/best.ckpt)
  --overwrite         fit: delete the checkpoints an earlier run left in out_dir; predict: replace --out
  --out FILE          predict: .csv or .json (default: out_dir/predictions.csv)
  --print_config      print the merged config (what fit saves as out_dir/config.yaml) and exit
  --section.key=value override any key below (values are YAML; nested keys of mappings work)
"""


def run_stage(stage: str, argv: Sequence[str]) -> int:
    """Run ``ecgformer STAGE ARGV...`` (checkpoint stages); returns the exit code (2 with one ``error:`` line)."""
    from . import run
    from .checkpoint_io import CheckpointError
    from .config import dump_config
    from .lightning_cli import load_config, print_help

    overrides, rest = split_overrides(argv)
    try:
        args, unknown = stage_parser(stage).parse_known_args(rest)
        if unknown:
            raise ConfigError(f"unrecognized arguments: {' '.join(unknown)}")
        if args.help:
            print(_FLAGS_HELP)
            print_help(stage, STAGES[stage])
            return 0
        if getattr(args, "inputs", None):
            raise ConfigError("checkpoint prediction reads data.predict_split of the config, not INPUT paths")
        config = load_config(args.config, overrides)
        if args.print_config:
            print(dump_config(config), end="")
            return 0
        if stage == "fit":
            print(f"best checkpoint: {run.fit(config, args.ckpt, overwrite=args.overwrite)}")
        elif stage == "validate":
            print(json.dumps(run.validate(config, args.ckpt), indent=2))
        elif stage == "test":
            print(f"report: {run.test(config, args.ckpt)}")
        else:
            print(f"predictions: {run.predict(config, args.ckpt, args.out, overwrite=args.overwrite)}")
    except (ConfigError, DataError, CheckpointError) as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _is_checkpoint_predict(argv: Sequence[str]) -> bool:
    return any(item.split("=")[0] in ("--config", "--ckpt", "--ckpt_path") for item in argv)


def add_training_parsers(commands: Any, bundle_predict: BundlePredict | None = None,
                         bundle_arguments: BundleArguments | None = None) -> None:
    """Register ``fit``, ``validate``, ``test`` and ``predict`` on the sub-command action ``commands``.

    Each takes its arguments unparsed (``args.argv``) and hands them to :func:`run_stage`; ``predict`` without
    ``--config``/``--ckpt`` is bundle prediction: its arguments (a bundle folder and records, ``--out``) go to
    ``bundle_predict``, parsed with the bundle predictor's own options that ``bundle_arguments`` adds.
    """
    for stage, text in STAGES.items():
        parser = commands.add_parser(stage, help=text, add_help=False, prefix_chars="\0")
        parser.add_argument("argv", nargs=argparse.REMAINDER)
        parser.set_defaults(run=lambda args, stage=stage: _dispatch(stage, args.argv, bundle_predict,
                                                                            bundle_arguments))


def _bundle_parser(bundle_arguments: BundleArguments | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecgformer predict", description=STAGES["predict"])
    parser.add_argument("inputs", nargs="*", help="bundle folder and records (bundle prediction)")
    parser.add_argument("--out", "--output", dest="out", default=None, help="predictions file, .csv or .json")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing predictions file")
    if bundle_arguments is not None:
        bundle_arguments(parser)
    return parser


def _dispatch(stage: str, argv: Sequence[str], bundle_predict: BundlePredict | None,
              bundle_arguments: BundleArguments | None) -> int:
    if stage != "predict" or _is_checkpoint_predict(argv) or (argv and argv[0] in ("-h", "--help")):
        return run_stage(stage, argv)
    if bundle_predict is None:
        print("error: predict needs --config/--ckpt (checkpoint prediction); bundle prediction is not available",
              file=sys.stderr)
        return 2
    return bundle_predict(_bundle_parser(bundle_arguments).parse_args(list(argv)))
