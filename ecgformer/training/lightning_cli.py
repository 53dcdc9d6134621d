"""The LightningCLI parser of ``ecgformer fit|validate|test|predict`` and :func:`load_config`, which reads run
configurations through it (this module imports Lightning; :mod:`.cli`, which ``ecgformer predict BUNDLE`` runs
through without torch, imports it only for the training stages)."""

from __future__ import annotations

import re
from argparse import (
    ArgumentError,  # what jsonargparse raises (its ArgumentError is argparse's)
)
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning import Trainer
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from .config import (
    DEFAULTS,
    CheckpointSection,
    ConfigError,
    DataSection,
    LossSection,
    ModelSection,
    ModuleSection,
    check_config,
    merged_config,
)

__all__ = ["EcgCLI", "load_config", "parse_config", "print_help"]


class EcgCLI(LightningCLI):
    """LightningCLI over the config sections: ``trainer`` from ``lightning.Trainer``'s signature (``logger`` and
    ``callbacks`` as ``class_path`` entries), ``data``/``model``/``loss``/``module``/``checkpoint`` from their
    dataclasses, ``early_stopping`` a mapping or null, and the top-level ``seed``, ``out_dir``, ``ckpt_path`` and
    ``report_dir``; the defaults are :data:`~.config.DEFAULTS`. It parses, types and prints ``--help``;
    :mod:`.run` builds the data module, classifier and trainer from the parsed config and runs the stage."""

    def add_default_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """The top-level keys (``seed`` takes the place of LightningCLI's ``seed_everything``)."""
        parser.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                            help="seed of seed_everything (data-loader workers included)")
        parser.add_argument("--out_dir", type=str, default=DEFAULTS["out_dir"],
                            help="run folder: checkpoints/, logs/, config.yaml, report/")
        parser.add_argument("--ckpt_path", type=str | None, default=None,
                            help="checkpoint to resume (fit) or evaluate (default out_dir/checkpoints/best.ckpt)")
        parser.add_argument("--report_dir", type=str | None, default=None,
                            help="report folder of test (default out_dir/report)")

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """The sections, with the package's defaults."""
        parser.add_lightning_class_args(Trainer, "trainer")
        for key, section in (("data", DataSection), ("model", ModelSection), ("loss", LossSection),
                             ("module", ModuleSection), ("checkpoint", CheckpointSection)):
            parser.add_class_arguments(section, key, instantiate=False)
        parser.add_argument("--early_stopping", type=dict[str, Any] | None, default=DEFAULTS["early_stopping"],
                            help="EarlyStopping arguments and min_val_records (below that many validation records "
                                 "it is off), or null: off")
        parser.set_defaults({f"trainer.{key}": value for key, value in DEFAULTS["trainer"].items() if key != "logger"})

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse ``args`` (a config mapping, or argument strings such as ``["--help"]``) and nothing else: the
        ``ecgformer`` command line has already read ``sys.argv``."""
        self.config = parser.parse_object(args) if isinstance(args, dict) else parser.parse_args(args)

    def instantiate_classes(self) -> None:
        """Nothing: :mod:`.run` builds the data module, the classifier and the trainer from the config."""

    def _set_seed(self) -> None:
        """Nothing: :mod:`.run` seeds with ``seed``; LightningCLI's ``seed_everything`` key is not used."""


def _cli(args: dict[str, Any] | list[str], prog: str = "ecgformer", description: str = "") -> EcgCLI:
    return EcgCLI(args=args, run=False, save_config_callback=None, auto_configure_optimizers=False,
                  parser_kwargs={"exit_on_error": False, "prog": prog, "description": description})


def _one_line(message: str) -> str:
    """The parser's message on one line, led by the key, in :func:`~.config.check_config`'s words where it has the
    common form (``data.batch_size: 'many' is not a int``)."""
    text = re.sub(r"<class '([\w.]+)'>", r"\1", " ".join(message.split()))
    text = re.sub(r"Expected a (.+?)\. Got value: (.*)$", lambda m: f"{m.group(2)!r} is not a {m.group(1)}", text)
    return re.sub(r'^Parser key "([^"]+)":\s*', r"\1: ", text)


def parse_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (the layout of :data:`~.config.DEFAULTS`) typed by :class:`EcgCLI`'s parser (every value has its
    annotated type; ``trainer.logger``/``trainer.callbacks`` entries name importable classes and fit their
    arguments; the trainer section gets every ``Trainer`` argument), then checked by :func:`~.config.check_config`.
    Returns plain data; :class:`~.config.ConfigError` carries the parser's message on one line."""
    try:
        cli = _cli(dict(config))
    except ArgumentError as exc:
        raise ConfigError(_one_line(str(exc))) from None
    parsed = cli.config.as_dict()
    parsed.pop("config", None)  # the parser's --config files: the merged values are what the run uses
    return check_config(parsed)


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """The run configuration: :func:`~.config.merged_config` (defaults, the YAML file ``path`` names with its
    ``base`` chain, ``"section.key=value"`` overrides) through :func:`parse_config`."""
    return parse_config(merged_config(path, overrides))


def print_help(stage: str, description: str) -> None:
    """Print the typed ``--help`` of ``ecgformer STAGE``: every config key with its type and default."""
    try:
        _cli(["--help"], f"ecgformer {stage}", description)
    except SystemExit:
        pass
