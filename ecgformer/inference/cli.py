"""``ecgformer predict BUNDLE INPUT... --out FILE.csv|.json`` (torch-free)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

__all__ = ["run_bundle_predict"]


def run_bundle_predict(args: argparse.Namespace) -> int:
    """Classify ``args.inputs[1:]`` with the bundle ``args.inputs[0]``; write ``args.output`` (.csv/.json).

    Exit code 0 when every record is ``ok``, 1 when some are not (they are still in the output), 2 on usage errors.
    """
    from .bundle import BundleError
    from .predictor import Predictor, write_predictions

    inputs = list(args.inputs)
    output = getattr(args, "output", None) or getattr(args, "out", None)
    if len(inputs) < 2 or output is None:
        print("error: usage: ecgformer predict BUNDLE INPUT... --out FILE.csv|.json", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(inputs[0])
        predictions = predictor.predict(inputs[1:])
        path = write_predictions(predictions, predictor.class_names, output)
    except (BundleError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = Counter("ok" if p.status == "ok" else "error" for p in predictions)
    print(f"{len(predictions)} records -> {path} ({counts['ok']} ok, {counts['error']} with errors)")
    return 0 if counts["error"] == 0 else 1
