"""local_attention exports to ONNX with dynamic batch and length; the ops benchmark runs and is honest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from ecgformer.bench.ops import unfold_local_attention
from ecgformer.cli import main
from ecgformer.ops import local_attention


class LocalAttentionBlock(nn.Module):
    """qkv projection -> dilated neighborhood attention with rpb (torch backend) -> projection."""

    def __init__(self, dim: int = 16, heads: int = 2, kernel_size: int = 7, dilation: int = 2) -> None:
        super().__init__()
        self.heads, self.kernel_size, self.dilation = heads, kernel_size, dilation
        self.qkv = nn.Linear(dim, 3 * dim)
        self.rpb = nn.Parameter(torch.randn(heads, 2 * kernel_size - 1))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = local_attention(q, k, v, self.kernel_size, self.dilation, rpb=self.rpb, backend="torch")
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


@pytest.mark.parametrize("causal", [False, True])
def test_onnx_export_dynamic_batch_and_length_matches_eager(tmp_path, causal):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    block = LocalAttentionBlock().eval()
    if causal:
        block.forward = _causal_forward(block)
    path = tmp_path / "local_attention.onnx"
    batch, length = torch.export.Dim("batch", max=64), torch.export.Dim("length", max=100000)
    torch.onnx.export(block, (torch.randn(2, 40, 16),), str(path), dynamo=True,
                      dynamic_shapes={"x": {0: batch, 1: length}}, input_names=["x"], output_names=["y"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch_size, length_size in [(1, 1), (3, 13), (2, 500)]:
        x = torch.randn(batch_size, length_size, 16)
        with torch.no_grad():
            expected = block(x).numpy()
        got = session.run(None, {"x": x.numpy()})[0]
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def _causal_forward(block: LocalAttentionBlock):
    def forward(x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = block.qkv(x).view(batch, length, 3, block.heads, dim // block.heads).permute(2, 0, 3, 1, 4)
        out = local_attention(q, k, v, block.kernel_size, block.dilation, causal=True, backend="torch")
        return block.proj(out.transpose(1, 2).reshape(batch, length, dim))
    return forward


@pytest.mark.parametrize("length,kernel_size,dilation", [(1, 5, 1), (50, 65, 1), (203, 9, 4), (64, 7, 8)])
def test_unfold_baseline_matches_reference(length, kernel_size, dilation):
    """The benchmark's unfold baseline computes the same attention (so its timings compare like with like)."""
    q, k, v = (torch.randn(2, 2, length, 8) for _ in range(3))
    expected = local_attention(q, k, v, kernel_size, dilation, backend="reference")
    torch.testing.assert_close(unfold_local_attention(q, k, v, kernel_size, dilation), expected,
                               atol=1e-5, rtol=1e-5)


def test_bench_ops_cli_prints_json_with_every_implementation(capsys, tmp_path):
    out = tmp_path / "ops.json"
    assert main(["bench", "ops", "--lengths", "64", "--dilations", "1", "2", "--repeats", "1", "--json",
                 "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text())["rows"] == result["rows"]
    impls = {(row["impl"], row["dilation"]) for row in result["rows"]}
    for impl in ("torch", "auto", "dense_sdpa", "unfold", "flex_bs32", "flex_bs64"):
        assert {(impl, 1), (impl, 2)} <= impls
    for row in result["rows"]:
        assert row["fwd_ms"] > 0
        assert ("fwd_bwd_ms" in row) == (row["impl"] in ("torch", "dense_sdpa", "unfold"))
    assert result["machine"]["torch"] == torch.__version__
