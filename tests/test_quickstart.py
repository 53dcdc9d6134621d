"""``ecgformer quickstart`` (the README's main command) end to end, shrunk to seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from ecgformer.cli import main
from ecgformer.export import load_checkpoint
from ecgformer.inference.bundle import read_bundle_json

TINY = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "data.options.n_records=60", "loggers=[csv]",
        "data.num_workers=0",
        "model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}"]


def test_quickstart_trains_tests_exports_and_predicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)  # the config is found from the checkout
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["quickstart", "--out", str(tmp_path / "qs"), "--set", *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "qs" / "report" / "metrics.json").read_text())
    assert f"test macro AUROC: {metrics['metrics']['auroc_macro']:.4f}" in out
    table = pd.read_csv(tmp_path / "qs" / "predictions.csv")
    records = sorted(p.stem for p in (tmp_path / "qs" / "records").glob("*.hea"))
    assert sorted(Path(r).name for r in table["record"]) == records and (table["status"] == "ok").all()
    bundle = read_bundle_json(tmp_path / "qs" / "bundle")
    source = load_checkpoint(tmp_path / "qs" / "checkpoints" / "best.ckpt")
    assert list(bundle["class_names"]) == list(source.class_names)
    assert [f"p_{c}" for c in source.class_names] == [c for c in table.columns if c.startswith("p_")]


def test_quickstart_refuses_a_real_dataset_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).resolve().parent.parent / "ecgformer" / "configs" / "cinc2017.yaml"
    assert main(["quickstart", "--out", str(tmp_path), "--config", str(config)]) == 2
    assert "synthetic" in capsys.readouterr().out
