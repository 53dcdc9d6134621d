"""``ecgformer bench <target>`` sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def _add_targets(bench: argparse.ArgumentParser) -> None:
    """The benchmark targets (each module imports torch)."""
    targets = bench.add_subparsers(dest="target", required=True, parser_class=argparse.ArgumentParser)
    from .ops import add_ops_parser
    add_ops_parser(targets)
    from .mixers import add_mixers_parser
    add_mixers_parser(targets)
    from .data import add_data_bench_parser
    add_data_bench_parser(targets)
    from .models import add_models_parser
    add_models_parser(targets)
    from .inference import add_inference_parser
    add_inference_parser(targets)
    from .training import add_compare_parser, add_declare_parser, add_train_parser
    add_train_parser(targets)
    add_declare_parser(targets)
    add_compare_parser(targets)
    from .report import add_report_parser
    add_report_parser(targets)


class _BenchParser(argparse.ArgumentParser):
    """The ``bench`` parser: its targets are added when ``bench`` itself is parsed, so registering the command
    line imports no torch (``ecgformer predict BUNDLE ...`` runs where torch is not installed)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        if self._subparsers is None:
            _add_targets(self)
        return super().parse_known_args(args, namespace)


def add_bench_parser(commands: Any) -> None:
    """Register ``bench`` on the sub-command action ``commands``; its targets load on use."""
    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    bench.__class__ = _BenchParser
