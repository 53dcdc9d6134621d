"""``ecgformer predict BUNDLE INPUT... --out FILE.csv|.json [--overwrite] [--providers P,...] [--threads N]`` and
``ecgformer predict --verify BUNDLE`` (torch-free).

Exit codes (:data:`EXIT_CODES`): 0 every record ``ok``; 1 some record not ``ok`` (all are in the output with their
status); 2 a usage or bundle error, found before any record is read (nothing written); 3 the inputs held no record at
all (the output lists them); 4 the predictions could not be written. ``--verify`` prints one ``PASS``/``FAIL`` line
per check of :func:`~.reference.verify_bundle` and exits 0 when all pass, else 1.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

__all__ = ["EXIT_CODES", "add_runtime_arguments", "run_bundle_predict"]

EXIT_CODES: dict[int, str] = {
    0: "every record ok",
    1: "some records not ok (each has its status in the output)",
    2: "usage or bundle error, found before any record was read; nothing written",
    3: "the inputs held no record (empty folders); the output lists them",
    4: "the predictions could not be written",
}


def _providers(text: str) -> list[str]:
    """``--providers``: comma-separated onnxruntime execution provider names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the bundle predictor's ``--verify``, ``--providers`` and ``--threads`` options to ``parser``."""
    parser.add_argument("--verify", action="store_true",
                        help="re-check the bundle folder (the only input): model.json, model sha256, ONNX "
                             "metadata and the reference vectors; one PASS/FAIL line per check, exit 0/1")
    parser.add_argument("--providers", type=_providers, default=None, metavar="P[,P...]",
                        help="onnxruntime execution providers in order of preference, e.g. "
                             "CUDAExecutionProvider,CPUExecutionProvider (default: CPUExecutionProvider)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="onnxruntime intra-op threads (default: onnxruntime's choice)")


def _verify(args: argparse.Namespace) -> int:
    """``--verify BUNDLE``: print each check of :func:`~.reference.verify_bundle`; 0 when all pass, else 1."""
    from .reference import verify_bundle

    if len(args.inputs) != 1 or args.out is not None:
        print("error: usage: ecgformer predict --verify BUNDLE (the bundle folder only, no --out)", file=sys.stderr)
        return 2
    checks = verify_bundle(args.inputs[0], providers=args.providers, threads=args.threads)
    for check in checks:
        print(check.line())
    return 0 if all(check.passed for check in checks) else 1


def run_bundle_predict(args: argparse.Namespace) -> int:
    """Classify ``args.inputs[1:]`` with the bundle ``args.inputs[0]``; write ``args.out`` (.csv/.json); with
    ``args.verify``, re-check the bundle instead.

    The output path is checked and the bundle validated before any record is read; see :data:`EXIT_CODES`.
    """
    from .bundle import BundleError
    from .predictor import OutputError, Predictor, RuntimeOptionError, check_output, write_predictions

    if getattr(args, "verify", False):
        return _verify(args)
    inputs = list(args.inputs)
    output = args.out
    overwrite = bool(getattr(args, "overwrite", False))
    if len(inputs) < 2 or output is None:
        print("error: usage: ecgformer predict BUNDLE INPUT... --out FILE.csv|.json", file=sys.stderr)
        return 2
    try:
        check_output(output, overwrite)
        predictor = Predictor(inputs[0], threads=getattr(args, "threads", None),
                              providers=getattr(args, "providers", None))
    except (OutputError, BundleError, RuntimeOptionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    predictions = predictor.predict(inputs[1:])
    try:
        path = write_predictions(predictions, predictor.class_names, output, overwrite)
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    kinds = Counter(p.status.split(":")[0] for p in predictions)
    records = len(predictions) - kinds["no records"]
    print(f"{records} records -> {path} ({kinds['ok']} ok, {records - kinds['ok']} with errors"
          + (f"; {kinds['no records']} inputs without records)" if kinds["no records"] else ")"))
    if records == 0:
        return 3
    return 0 if kinds["ok"] == len(predictions) else 1
