"""Adding a mixer is one file: a module outside the package registers a mixer, and the registry, the model presets
and the parametrised contract and export tests pick it up without any other file changing."""

from __future__ import annotations

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
