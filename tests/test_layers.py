"""Backbone layers: output lengths for any T, receptive fields, pooling, FFNs, DropPath, LayerScale, norms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ecgformer.layers import (
    ConvPosEnc,
    ConvStem,
    Downsample,
    DropPath,
    LayerScale,
    MaxPool1d,
    PatchStem,
    create_ffn,
    create_norm,
    receptive_field,
)


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_conv_stem_length_and_receptive_field(stride: int) -> None:
    stem = ConvStem(3, 16, stride=stride, kernel_size=7).eval()
    for length in (1, 2, 7, 1001):
        assert stem(torch.randn(2, 3, length)).shape == (2, -(-length // stride), 16)
    # the input samples one output token depends on, measured by its gradient, span the stated receptive field
    x = torch.randn(1, 3, 400, requires_grad=True)
    stem(x)[0, 100 // stride].sum().backward()
    touched = x.grad.abs().sum(1)[0].nonzero().flatten()
    assert int(touched[-1] - touched[0]) + 1 == stem.receptive_field


def test_receptive_field_formula() -> None:
    assert receptive_field([7, 3], [2, 2]) == 11
    assert receptive_field([5, 5, 5, 3], [2, 1, 1, 2]) == 25
    with pytest.raises(ValueError, match="stem_stride"):
        ConvStem(12, 16, stride=3)


def test_patch_stem_pads_the_last_patch() -> None:
    stem = PatchStem(2, 8, patch_size=8)
    x = torch.randn(1, 2, 20)
    out = stem(x)
    assert out.shape == (1, 3, 8)
    padded = F.pad(x, (0, 4))
    torch.testing.assert_close(out[0, 2], stem.proj(padded)[0, :, 2])


def test_downsample_and_max_pool_lengths() -> None:
    down = Downsample(8, 16, stride=2)
    pool = MaxPool1d(3, stride=2)
    for length in (1, 2, 3, 250, 251):
        assert down(torch.randn(2, length, 8)).shape == (2, -(-length // 2), 16)
        x = torch.randn(2, 4, length)
        torch.testing.assert_close(pool(x), F.max_pool1d(x, 3, 2, 1))
    with pytest.raises(ValueError, match="kernel_size"):
        Downsample(8, 16, stride=4, kernel_size=3)


@pytest.mark.parametrize("name", ["mlp", "conv", "glu"])
def test_ffns(name: str) -> None:
    ffn = create_ffn(name, 16, 32)
    x = torch.randn(2, 11, 16)
    assert ffn(x).shape == x.shape
    if name == "conv":  # the depthwise conv mixes neighbouring tokens; the others are per-token
        assert not torch.allclose(ffn(x)[:, :5], ffn(x[:, :5]))
    else:
        torch.testing.assert_close(ffn(x)[:, :5], ffn(x[:, :5]))
    with pytest.raises(ValueError, match="ffn"):
        create_ffn("moe", 16, 32)


def test_drop_path_and_layer_scale() -> None:
    x = torch.ones(1000, 3, 4)
    drop = DropPath(0.25)
    assert torch.equal(drop.eval()(x), x)
    out = drop.train()(x)
    kept = out[:, 0, 0] != 0
    assert torch.all(out[kept] == 1 / 0.75) and 0.6 < kept.float().mean() < 0.9
    assert torch.equal(LayerScale(4, None)(x), x) and not list(LayerScale(4, None).parameters())
    torch.testing.assert_close(LayerScale(4, 0.1)(x), x * 0.1)
    with pytest.raises(ValueError):
        DropPath(1.0)


@pytest.mark.parametrize("name", ["layernorm", "rmsnorm", "batchnorm"])
def test_norms_on_tokens(name: str) -> None:
    norm = create_norm(name, 8).eval()
    assert norm(torch.randn(2, 5, 8)).shape == (2, 5, 8)
    with pytest.raises(ValueError, match="norm"):
        create_norm("groupnorm", 8)


def test_conv_pos_enc_is_residual_and_length_free() -> None:
    cpe = ConvPosEnc(8, kernel_size=3)
    torch.nn.init.zeros_(cpe.proj.weight)
    torch.nn.init.zeros_(cpe.proj.bias)
    for length in (1, 9):
        x = torch.randn(2, length, 8)
        torch.testing.assert_close(cpe(x), x)


def test_token_depthwise_convs_equal_conv1d_on_transposed_tokens() -> None:
    """ConvPosEnc and ConvFFN run the channels-last depthwise op; a plain ``conv1d`` over time is the reference."""
    torch.manual_seed(0)
    x = torch.randn(3, 11, 8)
    cpe = ConvPosEnc(8, kernel_size=5)
    reference = x + F.conv1d(x.transpose(1, 2), cpe.proj.weight, cpe.proj.bias, padding=2, groups=8).transpose(1, 2)
    torch.testing.assert_close(cpe(x), reference)
    ffn = create_ffn("conv", 8, 16).eval()
    hidden = ffn.fc1(x)
    mixed = F.conv1d(hidden.transpose(1, 2), ffn.dwconv.weight, ffn.dwconv.bias, padding=1, groups=16)
    torch.testing.assert_close(ffn(x), ffn.fc2(F.gelu(mixed.transpose(1, 2))))


def test_head_split_and_merge_against_index_arithmetic() -> None:
    """Channel ``h * D + d`` of token ``n`` is head ``h``'s feature ``d``; merging inverts the split."""
    from ecgformer.layers import merge_heads, split_heads

    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):
        for d in range(4):
            assert torch.equal(heads[:, h, :, d], x[:, :, h * 4 + d])
    assert torch.equal(merge_heads(heads), x)
