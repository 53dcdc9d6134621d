"""Window helpers, pooling and multi-scale conv ops against loops written from their definitions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ecgformer.ops import (grid_partition, grid_reverse, pad_to_multiple, relative_position_index, shifted_window_mask,
                           window_partition, window_reverse)
from ecgformer.ops.conv import depthwise_conv_tokens, multiscale_dwconv
from ecgformer.ops.pooling import max_pool_same, pool_tokens, pooled_kv_attention


@pytest.mark.parametrize("length,window", [(1, 4), (7, 4), (8, 4), (33, 16), (5, 1)])
def test_pad_partition_reverse_round_trip(length, window):
    x = torch.randn(3, length, 5)
    padded, pad = pad_to_multiple(x, window)
    assert padded.shape[1] % window == 0 and pad == padded.shape[1] - length
    assert torch.equal(padded[:, :length], x) and not padded[:, length:].any()
    windows = window_partition(padded, window)
    for b in range(3):  # window w of sample b holds tokens [w * window, (w + 1) * window)
        for w in range(padded.shape[1] // window):
            assert torch.equal(windows[b * (padded.shape[1] // window) + w], padded[b, w * window:(w + 1) * window])
    assert torch.equal(window_reverse(windows, window, 3), padded)


def test_window_partition_rejects_unpadded_length():
    with pytest.raises(ValueError, match="multiple"):
        window_partition(torch.zeros(1, 7, 2), 4)


def brute_force_shift_mask(length: int, window: int, shift: int) -> torch.Tensor:
    """Pair by pair: same window after the roll, same side of the seam, key not padding (pad query: itself)."""
    padded = -(-length // window) * window
    if padded == window:  # Swin disables the shift when everything fits in one window
        shift = 0
    mask = torch.zeros(padded // window, window, window, dtype=torch.bool)
    for w in range(padded // window):
        for a in range(window):
            for b in range(window):
                ra, rb = w * window + a, w * window + b  # rolled positions
                oa, ob = (ra + shift) % padded, (rb + shift) % padded  # original positions
                same_side_of_seam = (ra + shift >= padded) == (rb + shift >= padded)
                allowed = (ob < length and same_side_of_seam) or (oa >= length and a == b)
                mask[w, a, b] = allowed
    return mask


@pytest.mark.parametrize("length,window,shift", [(16, 4, 2), (17, 4, 2), (13, 8, 4), (9, 8, 4), (5, 8, 4),
                                                 (30, 7, 3), (12, 4, 0), (11, 4, 0), (1, 4, 2), (40, 16, 8)])
def test_shifted_window_mask_matches_brute_force(length, window, shift):
    assert torch.equal(shifted_window_mask(length, window, shift), brute_force_shift_mask(length, window, shift))


def test_shifted_window_mask_rejects_bad_shift():
    with pytest.raises(ValueError, match="shift"):
        shifted_window_mask(10, 4, 4)


@pytest.mark.parametrize("length,dilation", [(1, 3), (10, 3), (12, 4), (7, 1), (5, 8)])
def test_grid_partition_groups_tokens_by_index_mod_dilation(length, dilation):
    x = torch.arange(2 * length, dtype=torch.float32).view(2, length, 1) + 1
    groups, pad = grid_partition(x, dilation)
    per_group = groups.shape[1]
    for b in range(2):
        for g in range(dilation):
            expected = [x[b, i, 0].item() for i in range(g, length, dilation)]
            got = groups[b * dilation + g, :, 0].tolist()
            assert got[:len(expected)] == expected and all(v == 0 for v in got[len(expected):])
            assert len(got) == per_group
    assert torch.equal(grid_reverse(groups, dilation, 2, pad), x)


def test_relative_position_index_is_query_minus_key():
    index = relative_position_index(5)
    for i in range(5):
        for j in range(5):
            assert index[i, j] == i - j + 4


@pytest.mark.parametrize("length,pool", [(1, 4), (10, 4), (12, 3), (7, 1), (100, 7)])
def test_pool_tokens_strided_averages_real_tokens_of_each_window(length, pool):
    x = torch.randn(2, 3, length, 4)
    out = pool_tokens(x, pool_size=pool)
    expected = torch.stack([x[..., s:s + pool, :].mean(-2) for s in range(0, length, pool)], dim=-2)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("length,tokens", [(1, 1), (5, 7), (37, 7), (1000, 49), (64, 8)])
def test_pool_tokens_adaptive_equals_torch_adaptive_avg_pool(length, tokens):
    x = torch.randn(2, length, 6)
    expected = F.adaptive_avg_pool1d(x.transpose(1, 2), tokens).transpose(1, 2)
    torch.testing.assert_close(pool_tokens(x, num_tokens=tokens), expected)


def test_pool_tokens_needs_exactly_one_size():
    with pytest.raises(ValueError, match="exactly one"):
        pool_tokens(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="pool_size"):
        pool_tokens(torch.zeros(1, 4, 2), pool_size=0)


def test_pooled_kv_attention_equals_dense_attention_over_pooled_keys():
    q, k, v = (torch.randn(2, 3, 50, 8, dtype=torch.float64) for _ in range(3))
    pk = torch.stack([k[..., s:s + 4, :].mean(-2) for s in range(0, 50, 4)], dim=-2)
    pv = torch.stack([v[..., s:s + 4, :].mean(-2) for s in range(0, 50, 4)], dim=-2)
    expected = ((q @ pk.transpose(-1, -2)) / 8 ** 0.5).softmax(-1) @ pv
    torch.testing.assert_close(pooled_kv_attention(q, k, v, pool_size=4), expected)


def test_multiscale_dwconv_equals_separate_convolutions():
    x = torch.randn(2, 12, 41)
    weights = [torch.randn(3, 1, ks) for ks in (3, 5, 7, 9)]
    biases = [torch.randn(3) for _ in range(4)]
    expected = torch.cat([F.conv1d(x[:, 3 * i:3 * i + 3], w, b, padding=w.shape[-1] // 2, groups=3)
                          for i, (w, b) in enumerate(zip(weights, biases))], dim=1)
    torch.testing.assert_close(multiscale_dwconv(x, weights, biases), expected, atol=1e-5, rtol=1e-5)


def test_multiscale_dwconv_rejects_channel_mismatch_and_even_kernels():
    with pytest.raises(ValueError, match="channels"):
        multiscale_dwconv(torch.zeros(1, 5, 8), [torch.zeros(3, 1, 3)])
    with pytest.raises(ValueError, match="odd"):
        multiscale_dwconv(torch.zeros(1, 3, 8), [torch.zeros(3, 1, 4)])


@pytest.mark.parametrize("length,kernel,dilation", [(1, 3, 1), (37, 7, 1), (50, 5, 3), (8, 9, 2)])
def test_depthwise_conv_tokens_equals_conv1d_on_transposed_tokens(length, kernel, dilation):
    x = torch.randn(2, length, 6, requires_grad=True)
    weight, bias = torch.randn(6, 1, kernel, requires_grad=True), torch.randn(6)
    out = depthwise_conv_tokens(x, weight, bias, dilation)
    expected = F.conv1d(x.transpose(1, 2), weight, bias, padding=dilation * (kernel // 2), dilation=dilation,
                        groups=6).transpose(1, 2)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(out.sum(), (x, weight))
    expected_grads = torch.autograd.grad(expected.sum(), (x, weight))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kernel_size, stride", [(1, 1), (3, 1), (5, 2), (3, 3), (7, 4)])
@pytest.mark.parametrize("length", [1, 6, 13])
def test_max_pool_same_equals_max_pool1d_on_either_axis(kernel_size: int, stride: int, length: int) -> None:
    """The export-safe 2D formulation against ``F.max_pool1d`` with 'same' padding, on signals and on tokens."""
    x = torch.randn(2, 5, length)
    reference = F.max_pool1d(x, kernel_size, stride, kernel_size // 2)
    assert torch.equal(max_pool_same(x, kernel_size, stride), reference)
    assert torch.equal(max_pool_same(x.transpose(1, 2), kernel_size, stride, dim=1), reference.transpose(1, 2))
    assert reference.shape[-1] == -(-length // stride)


def test_max_pool_same_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kernel_size must be an odd int"):
        max_pool_same(torch.zeros(1, 2, 5), 4)
    with pytest.raises(ValueError, match="dim 1 or 2 of a 3-D tensor"):
        max_pool_same(torch.zeros(1, 2, 5), 3, dim=0)
