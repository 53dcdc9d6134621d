"""``ecgformer bench <target>`` sub-commands."""

from __future__ import annotations

import argparse


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``bench`` and its targets on the top-level parser."""
    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    targets = bench.add_subparsers(dest="target", required=True)
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
    from .training import add_train_parser
    add_train_parser(targets)
    from .report import add_report_parser
    add_report_parser(targets)
