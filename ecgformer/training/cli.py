"""``ecgformer fit|validate|test|predict --config FILE [--section.key=value ...]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..data.errors import DataError
from .config import DEFAULTS, ConfigError, load_config

__all__ = ["OverrideParser", "add_training_parsers", "split_overrides"]

BundlePredict = Callable[[argparse.Namespace], int]
BundleArguments = Callable[[argparse.ArgumentParser], None]


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
        config_key = "." in name or name in DEFAULTS
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


def _run(stage: str, args: argparse.Namespace) -> int:
    from . import run
    from .checkpoint_io import CheckpointError

    try:
        config = load_config(args.config, args.overrides)
        if args.print_config:
            print(json.dumps(config, indent=2))
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
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _predict(bundle_predict: BundlePredict | None) -> Callable[[argparse.Namespace], int]:
    def dispatch(args: argparse.Namespace) -> int:
        if args.config or args.ckpt:
            if args.inputs:
                print("error: checkpoint prediction reads data.predict_split of the config, not INPUT paths",
                      file=sys.stderr)
                return 2
            return _run("predict", args)
        if bundle_predict is None:
            print("error: predict needs --config/--ckpt (checkpoint prediction); bundle prediction is not available",
                  file=sys.stderr)
            return 2
        return bundle_predict(args)
    return dispatch


def add_training_parsers(commands: Any, bundle_predict: BundlePredict | None = None,
                         bundle_arguments: BundleArguments | None = None) -> None:
    """Register ``fit``, ``validate``, ``test`` and ``predict`` on the sub-command action ``commands``.

    ``predict`` runs checkpoint prediction when ``--config`` or ``--ckpt`` is given and otherwise hands
    the parsed arguments (positional ``inputs``: a bundle folder and records) to ``bundle_predict``;
    ``bundle_arguments`` adds the bundle predictor's own options to the ``predict`` parser.
    """
    helps = {"fit": "train a model (resume with --ckpt)", "validate": "validation metrics of a checkpoint",
             "test": "test a checkpoint and write the report folder",
             "predict": "predict with a checkpoint (--config/--ckpt) or an export bundle (BUNDLE INPUT...)"}
    for stage, text in helps.items():
        parser = commands.add_parser(stage, help=text, description=text + ". Any --section.key=value argument "
                                     "overrides the config (values are YAML).")
        parser.__class__ = OverrideParser
        parser.add_argument("--config", default=None, help="a YAML path or a packaged config's name (ecgformer configs lists them)")
        parser.add_argument("--ckpt", default=None, help="checkpoint: resume (fit) or evaluate (default: "
                            "out_dir/checkpoints/best.ckpt)")
        parser.add_argument("--print-config", action="store_true", help="print the merged config and exit")
        if stage == "fit":
            parser.add_argument("--overwrite", action="store_true",
                                help="delete the checkpoints an earlier run left in out_dir (without it, fit refuses "
                                     "such an out_dir unless --ckpt resumes it)")
        parser.set_defaults(overrides=[])
        if stage == "predict":
            parser.add_argument("inputs", nargs="*", help="bundle folder and records (bundle prediction)")
            parser.add_argument("--out", default=None,
                                help="predictions file, .csv or .json (checkpoint prediction: default "
                                     "out_dir/predictions.csv)")
            parser.add_argument("--output", dest="out", help=argparse.SUPPRESS)  # the name before 0.x, kept working
            parser.add_argument("--overwrite", action="store_true", help="replace an existing predictions file")
            if bundle_arguments is not None:
                bundle_arguments(parser)
            parser.set_defaults(run=_predict(bundle_predict))
        else:
            parser.set_defaults(run=lambda args, stage=stage: _run(stage, args))
