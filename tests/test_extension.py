"""Adding a mixer is one file: a module outside the package registers a mixer, and the registry, the model presets
and the parametrised contract and export tests pick it up without any other file changing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

TOY_MIXER = '''
"""A toy mixer living outside the package."""

import torch
from torch import Tensor, nn

from ecgformer.checks import check_int, check_tokens
from ecgformer.mixers import register_mixer


@register_mixer("toy_gate", family="gating", paper="none: a toy of the extension test",
                origin_2d="a per-token gated linear unit", preset_params=4_900_000)
class ToyGate(nn.Module):
    """Per-token gated linear unit followed by a mean over time mixed back into every token: enough structure
    for the mixer contract (any length, batch independence, gradients, ONNX export) and nothing more.

    1D port: nothing to port; the toy is defined on time steps and has no 2D original.
    """

    def __init__(self, dim: int, num_heads: int = 4) -> None:
        super().__init__()
        check_int("dim", dim)
        self.dim = dim
        self.gate = nn.Linear(dim, 2 * dim)
        self.context = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        check_tokens(x, self.dim)
        value, gate = self.gate(x).chunk(2, dim=-1)
        return value * torch.sigmoid(gate) + self.context(x.mean(dim=1, keepdim=True))
'''

CHECK = '''
import sys
sys.path[:0] = [{tmp!r}, {tests!r}]
import ecgformer
import toy_mixer  # registered after the models: the preset still appears
import test_mixers, test_models
from ecgformer.export.formats import FORMATS

assert "toy_gate" in ecgformer.list_mixers(), ecgformer.list_mixers()
assert "ecgformer_s_toy_gate" in ecgformer.list_models()
test_mixers.test_metadata_of_every_mixer()
for test in (test_mixers.test_shape_and_dtype, test_mixers.test_rejects_wrong_input_shape,
             test_mixers.test_batch_independence_and_eval_determinism, test_mixers.test_gradients_reach_every_parameter,
             test_mixers.test_no_nan_for_zero_and_large_inputs, test_mixers.test_torchscript_trace_matches_eager):
    test("toy_gate", {{}})
test_mixers.test_onnx_export_matches_eager_at_several_lengths({{}}, "toy_gate", {{}})
for test in (test_models.test_parameter_count_matches_stated_size, test_models.test_forward_shapes_at_ecg_lengths,
             test_models.test_backward_reaches_every_parameter):
    test("ecgformer_s_toy_gate")
test_models.test_onnx_export_matches_onnxruntime({{}}, "ecgformer_s_toy_gate")
print("toy mixer passed", len(ecgformer.list_mixers()), "mixers")
'''


def test_a_mixer_in_its_own_module_gets_a_preset_and_passes_the_parametrised_tests(tmp_path: Path) -> None:
    (tmp_path / "toy_mixer.py").write_text(textwrap.dedent(TOY_MIXER))
    script = CHECK.format(tmp=str(tmp_path), tests=str(TESTS))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "toy mixer passed" in done.stdout


TOY_DATASET = '''
"""A toy dataset living outside the package: one lead of noisy sines, slow or fast."""

import numpy as np
import pandas as pd

from ecgformer.data.base import LabelledSource
from ecgformer.data.registry import register_dataset
from ecgformer.data.wfdb_io import EcgRecord
from ecgformer.metrics import CHALLENGE_SCORERS, ChallengeScorer


def balanced_accuracy(spec, y_true, y_prob, decisions):
    truth, answer = y_true.argmax(axis=1), y_prob.argmax(axis=1)
    return {"toy_score": float(np.mean([(answer[truth == k] == k).mean() for k in np.unique(truth)]))}


CHALLENGE_SCORERS.register("toy_balanced_accuracy", ChallengeScorer(balanced_accuracy, headline="toy_score"))


@register_dataset
class ToyRhythm(LabelledSource):
    name = "toy_rhythm"
    tasks = ("rate",)
    default_task = "rate"
    reads_files = False

    def __init__(self, n_records: int = 40, fs: float = 100.0, duration_s: float = 4.0, seed: int = 0) -> None:
        self.task, self.fs_out, self.n, self.seed = "rate", float(fs), int(round(fs * duration_s)), seed
        self.classes = ["slow", "fast"]
        self.record_ids = [f"toy{i:03d}" for i in range(n_records)]
        self.labels = np.eye(2, dtype=bool)[np.arange(n_records) % 2]
        self.folds = 1 + np.arange(n_records) % 10
        self.skipped = []
        self.metadata = pd.DataFrame({"fs": self.fs_out, "n_samples": self.n, "n_leads": 1},
                                     index=pd.Index(self.record_ids, name="record_id"))

    @classmethod
    def open(cls, root, task, **kwargs):
        return cls(**kwargs)

    def load(self, i, start=None, stop=None):
        t = np.arange(self.n) / self.fs_out
        noise = np.random.default_rng([self.seed, i]).normal(0.0, 0.1, self.n)
        signal = np.sin(2 * np.pi * (1.0 + 2.0 * (i % 2)) * t) + noise
        return EcgRecord(self.record_ids[i], signal[None, start:stop].astype(np.float32), self.fs_out, ("II",))

    def challenge_scoring(self):
        return {"scorer": "toy_balanced_accuracy"}
'''

FIT_PREDICT = '''
import json, sys
sys.path.insert(0, {tmp!r})
import toy_dataset  # registers the reader and its scorer
import pandas as pd
from ecgformer.cli import main

assert main(["data", "summary", "--dataset", "toy_rhythm", "--json"]) == 0
common = ["--config", {config!r}, "--out_dir={out}", "--data.dataset=toy_rhythm",
          "--data.options={{n_records: 40, duration_s: 4}}", "--data.cache=false", "--data.length_s=3", "--data.batch_size=8", "--data.augment=[]",
          "--module.single_label=true", "--loss.pos_weight=false", "--trainer.max_epochs=1",
          "--trainer.enable_progress_bar=false", "--loggers=[csv]", "--data.num_workers=0",
          "--model.overrides={{dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}}"]
assert main(["fit", *common]) == 0
metrics = pd.concat(pd.read_csv(p) for p in __import__("pathlib").Path({out!r}).glob("logs/**/metrics.csv"))
assert "val/toy_score" in metrics.columns, list(metrics.columns)
assert main(["predict", *common, "--output", "{out}/predictions.csv"]) == 0
predicted = pd.read_csv("{out}/predictions.csv")
assert len(predicted) > 0 and set(predicted.iloc[:, 0]) <= {{f"toy{{i:03d}}" for i in range(40)}}, predicted.head()
print("toy dataset passed")
'''


def test_a_dataset_in_its_own_module_works_with_data_summary_fit_and_predict(tmp_path: Path) -> None:
    (tmp_path / "toy_dataset.py").write_text(textwrap.dedent(TOY_DATASET))
    config = TESTS.parent / "ecgformer" / "configs" / "quickstart_synthetic.yaml"
    script = FIT_PREDICT.format(tmp=str(tmp_path), config=str(config), out=str(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "toy dataset passed" in done.stdout and '"dataset": "toy_rhythm"' in done.stdout
