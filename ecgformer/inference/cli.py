"""``ecgformer predict BUNDLE INPUT... --out FILE.csv|.json [--overwrite]`` (torch-free).

Exit codes (:data:`EXIT_CODES`): 0 every record ``ok``; 1 some record not ``ok`` (all are in the output with their
status); 2 a usage or bundle error, found before any record is read (nothing written); 3 the inputs held no record at
all (the output lists them); 4 the predictions could not be written.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

__all__ = ["EXIT_CODES", "run_bundle_predict"]

EXIT_CODES: dict[int, str] = {
    0: "every record ok",
    1: "some records not ok (each has its status in the output)",
    2: "usage or bundle error, found before any record was read; nothing written",
    3: "the inputs held no record (empty folders); the output lists them",
    4: "the predictions could not be written",
}


def run_bundle_predict(args: argparse.Namespace) -> int:
    """Classify ``args.inputs[1:]`` with the bundle ``args.inputs[0]``; write ``args.out`` (.csv/.json).

    The output path is checked and the bundle validated before any record is read; see :data:`EXIT_CODES`.
    """
    from .bundle import BundleError
    from .predictor import OutputError, Predictor, check_output, write_predictions

    inputs = list(args.inputs)
    output = args.out
    overwrite = bool(getattr(args, "overwrite", False))
    if len(inputs) < 2 or output is None:
        print("error: usage: ecgformer predict BUNDLE INPUT... --out FILE.csv|.json", file=sys.stderr)
        return 2
    try:
        check_output(output, overwrite)
        predictor = Predictor(inputs[0])
    except (OutputError, BundleError) as exc:
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
