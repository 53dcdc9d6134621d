"""``ecgformer export CKPT_OR_PRESET [--format onnx,exported|torchscript] --out DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_export_parser"]


def _model_kwargs(text: str | None) -> dict[str, Any]:
    """``--model-kwargs``: a JSON object, or nothing."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--model-kwargs is not valid JSON ({exc}); e.g. '{{\"dims\": [24, 24, 48, 48]}}'") from None
    if not isinstance(value, dict):
        raise ValueError(f"--model-kwargs must be a JSON object of model arguments, got {type(value).__name__}")
    return value


def _run_export(args: argparse.Namespace) -> int:
    from .bundle import ParityError, export_bundle, run_provenance
    from .formats import DEFAULT_FORMATS
    from .source import load_source

    formats = [f for item in args.format for f in item.split(",") if f]
    try:
        overrides = _model_kwargs(args.model_kwargs)
        source = load_source(args.target, class_names=args.classes.split(",") if args.classes else None,
                             num_classes=args.num_classes, in_chans=args.in_chans, weights=args.weights,
                             task_type="singlelabel" if args.single_label else "multilabel",
                             sampling_rate=args.fs, seconds=args.seconds, **overrides)
        provenance = run_provenance(args.provenance) if args.provenance else None
        out = export_bundle(source, args.out, formats or list(DEFAULT_FORMATS), overwrite=args.overwrite,
                            aggregation=args.aggregation, stride_fraction=args.stride, provenance=provenance)
    except (ParityError, ValueError, FileExistsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"bundle: {out}")
    print(json.dumps(json.loads((out / "model.json").read_text())["parity"], indent=2))
    return 0


def add_export_parser(commands: Any) -> None:
    """Register ``export`` on the sub-command action ``commands``."""
    parser = commands.add_parser("export", help="export a checkpoint or preset to a parity-checked bundle folder")
    parser.add_argument("target", help="checkpoint file, or a preset name (see `ecgformer list`)")
    parser.add_argument("--format", action="append", default=[],
                        help="onnx, exported (.pt2), torchscript (deprecated: only on request); repeat or "
                             "comma-separate (default: onnx,exported)")
    parser.add_argument("--out", required=True, help="bundle folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle once the new one passes")
    parser.add_argument("--aggregation", choices=("mean", "max"), default="mean",
                        help="window probabilities -> record probabilities for long records")
    parser.add_argument("--provenance", default=None, metavar="RUN_JSON",
                        help="the run.json of the bench train run the checkpoint comes from: grid, seed, commit, "
                             "validation selection, declaration and test score go into model.json")
    parser.add_argument("--stride", type=float, default=None,
                        help="sliding-window stride as a fraction of the length (default: the checkpoint's "
                             "evaluation windows, eval_crop=sliding with eval_stride_s; else 0.5)")
    preset = parser.add_argument_group("preset exports (ignored for checkpoints)")
    preset.add_argument("--classes", default=None, help="comma-separated class names (default class_0..)")
    preset.add_argument("--num-classes", type=int, default=None, help="class count without --classes (default 5)")
    preset.add_argument("--in-chans", type=int, default=12)
    preset.add_argument("--weights", default=None, help="state_dict file for the preset (default: random, seed 0)")
    preset.add_argument("--single-label", action="store_true", help="arg-max decisions instead of thresholds")
    preset.add_argument("--fs", type=float, default=500.0, help="sampling rate of the model input")
    preset.add_argument("--seconds", type=float, default=10.0, help="input length in seconds")
    preset.add_argument("--model-kwargs", default=None, help='JSON overrides, e.g. \'{"dims": [24, 24, 48, 48]}\'')
    parser.set_defaults(run=_run_export)

