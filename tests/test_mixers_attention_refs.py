"""Independent references for the attention mixers, written from the papers' definitions.

Every reference is a dense (or per-window loop) float64 attention built here from the mixer's weights; none
calls the code under test.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

import ecgformer

DIM, HEADS = 32, 4


def make(name: str, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return ecgformer.create_mixer(name, DIM, num_heads=HEADS, **kwargs).double().eval()


def tokens(length: int, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, length, DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def heads(x: torch.Tensor, count: int = HEADS) -> torch.Tensor:
    return rearrange(x, "b n (h d) -> b h n d", h=count)


def dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None = None,
          bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias, masked) v, for (B, H, N, D) queries and (B, H, M, D) keys/values."""
    logits = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return logits.softmax(-1) @ v


def qkv_of(linear: torch.nn.Linear, x: torch.Tensor, count: int = HEADS) -> list[torch.Tensor]:
    return [heads(t, count) for t in F.linear(x, linear.weight, linear.bias).chunk(3, dim=-1)]


def output(proj: torch.nn.Linear, out: torch.Tensor) -> torch.Tensor:
    return F.linear(rearrange(out, "b h n d -> b n (h d)"), proj.weight, proj.bias)


# ----------------------------------------------------------------------------------------------- swin
def swin_reference(mixer: torch.nn.Module, x: torch.Tensor, shift: bool) -> torch.Tensor:
    """SW-MSA without the cyclic-shift trick: windows are the segments [s + jw, s + (j+1)w) of the sequence
    (plus [0, s)); a query attends to the keys of its own segment with the bias of their offset. Swin uses no
    shift when the input fits in one window."""
    length, window = x.shape[1], mixer.window_size
    shift_size = window // 2 if shift and length > window else 0
    position = torch.arange(length)
    segment = (position + (window - shift_size) % window) // window
    allowed = segment[:, None] == segment[None, :]
    offset = (position[:, None] - position[None, :]).clamp(-(window - 1), window - 1)
    bias = mixer.relative_position_bias_table[offset + window - 1].permute(2, 0, 1)
    q, k, v = qkv_of(mixer.qkv, x)
    return output(mixer.proj, dense(q, k, v, allowed, bias))


@pytest.mark.parametrize("shift", [False, True])
def test_swin_with_window_covering_the_sequence_is_global_attention(shift: bool) -> None:
    mixer = make("swin", window_size=32, shift=shift)
    x = tokens(20)
    q, k, v = qkv_of(mixer.qkv, x)
    position = torch.arange(20)
    bias = mixer.relative_position_bias_table[position[:, None] - position[None, :] + 31].permute(2, 0, 1)
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), output(mixer.proj, dense(q, k, v, bias=bias)))


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("length", [1, 5, 8, 13, 16, 40, 43])
def test_swin_equals_per_segment_attention(shift: bool, length: int) -> None:
    mixer = make("swin", window_size=8, shift=shift)
    x = tokens(length)
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), swin_reference(mixer, x, shift))


def brute_force_sw_msa_mask(length: int, window: int, shift: int) -> torch.Tensor:
    """Swin's mask (nW, w, w) after padding to Np and rolling by -shift, pair by pair from the definition:
    allowed when query and key were in the same segment of the unrolled sequence and the key is real (a
    padding query keeps itself)."""
    padded = -(-length // window) * window
    shift = shift if padded > window else 0
    mask = torch.zeros(padded // window, window, window, dtype=torch.bool)
    for w in range(padded // window):
        for i in range(window):
            for j in range(window):
                query, key = (w * window + i + shift) % padded, (w * window + j + shift) % padded
                same = (query + window - shift) // window == (key + window - shift) // window
                mask[w, i, j] = (same and key < length) or (query >= length and i == j)
    return mask


@pytest.mark.parametrize("length", [1, 7, 8, 9, 24, 29])
@pytest.mark.parametrize("shift", [0, 2, 4])
def test_shifted_window_mask_equals_brute_force(length: int, shift: int) -> None:
    from ecgformer.ops.windows import shifted_window_mask

    assert torch.equal(shifted_window_mask(length, 8, shift), brute_force_sw_msa_mask(length, 8, shift))


@pytest.mark.parametrize("shift", [False, True])
def test_swin_equals_timm_window_attention_on_height_one_windows(shift: bool) -> None:
    timm_swin = pytest.importorskip("timm.models.swin_transformer")
    window, length = 8, 32
    mixer = make("swin", window_size=window, shift=shift)
    reference = timm_swin.WindowAttention(DIM, HEADS, window_size=(1, window)).double().eval()
    missing, unexpected = reference.load_state_dict(
        {"qkv.weight": mixer.qkv.weight, "qkv.bias": mixer.qkv.bias, "proj.weight": mixer.proj.weight,
         "proj.bias": mixer.proj.bias, "relative_position_bias_table": mixer.relative_position_bias_table},
        strict=False)
    assert not unexpected and set(missing) <= {"relative_position_index"}
    x = tokens(length)
    shift_size = window // 2 if shift else 0
    rolled = torch.roll(x, -shift_size, dims=1)
    mask = None
    if shift:  # Swin's region labels, written for a height-1 image, -100 across regions
        region = torch.zeros(length)
        region[length - window:length - shift_size], region[length - shift_size:] = 1, 2
        region = region.view(-1, window)
        mask = (region[:, :, None] != region[:, None, :]).double() * -100.0
    with torch.no_grad():
        out = reference(rolled.reshape(-1, window, DIM), mask).reshape(x.shape)
        torch.testing.assert_close(mixer(x), torch.roll(out, shift_size, dims=1))


# ------------------------------------------------------------------------------------------------- sr
def test_sr_with_ratio_one_is_global_attention() -> None:
    mixer = make("sr", mode="conv", sr_ratio=1)
    x = tokens(37)
    q = heads(F.linear(x, mixer.q.weight, mixer.q.bias))
    k, v = (heads(t) for t in F.linear(x, mixer.kv.weight, mixer.kv.bias).chunk(2, dim=-1))
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), output(mixer.proj, dense(q, k, v)))


@pytest.mark.parametrize("length", [5, 37, 200])
def test_sr_pool_mode_equals_attention_to_adaptive_pooled_keys(length: int) -> None:
    mixer = make("sr", mode="pool", num_tokens=16)
    x = tokens(length)
    # adaptive average pooling: bin i averages tokens [floor(i N / M), ceil((i + 1) N / M))
    pooled = torch.stack([x[:, (i * length) // 16:-(-(i + 1) * length // 16)].mean(1) for i in range(16)], dim=1)
    reduced = F.gelu(F.layer_norm(F.linear(pooled, mixer.reduce.weight, mixer.reduce.bias), (DIM,),
                                  mixer.norm.weight, mixer.norm.bias))
    q = heads(F.linear(x, mixer.q.weight, mixer.q.bias))
    k, v = (heads(t) for t in F.linear(reduced, mixer.kv.weight, mixer.kv.bias).chunk(2, dim=-1))
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), output(mixer.proj, dense(q, k, v)))


# -------------------------------------------------------------------------------------------- dilated
def test_dilated_with_kernel_covering_the_sequence_is_global_attention() -> None:
    mixer = make("dilated", kernel_size=31, dilations=1)
    x = tokens(23)
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), output(mixer.proj, dense(*qkv_of(mixer.qkv, x))))


def neighborhood_reference(mixer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per head group of dilation d: query i attends, among tokens j = i mod d, to the kernel_size nearest
    in group steps, the window shifted (not cut) at the group's ends (NATTEN); bias by group-step offset."""
    length, kernel = x.shape[1], mixer.kernel_size
    q, k, v = qkv_of(mixer.qkv, x, mixer.num_heads)
    group_of_head = torch.repeat_interleave(torch.tensor(mixer.dilations), torch.tensor(mixer.group_heads))
    allowed = torch.zeros(mixer.num_heads, length, length, dtype=torch.bool)
    bias = torch.zeros(mixer.num_heads, length, length, dtype=torch.float64)
    for h, dilation in enumerate(group_of_head.tolist()):
        for i in range(length):
            members = list(range(i % dilation, length, dilation))
            p = members.index(i)
            start = max(0, min(p - kernel // 2, len(members) - kernel))
            for j in members[start:start + kernel]:
                allowed[h, i, j] = True
                if mixer.rpb is not None:
                    bias[h, i, j] = mixer.rpb[h, members.index(j) - p + kernel - 1]
    return output(mixer.proj, dense(q, k, v, allowed, bias))


@pytest.mark.parametrize("kwargs", [{"kernel_size": 41}, {"kernel_size": 5},
                                    {"kernel_size": 3, "dilations": 3, "rel_pos_bias": True}],
                         ids=["multiscale-kernel-covers", "multiscale", "dinat"])
def test_dilated_equals_neighborhood_reference(kwargs: dict) -> None:
    mixer = make("dilated", **kwargs)
    x = tokens(29)
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), neighborhood_reference(mixer, x))


# ----------------------------------------------------------------------------------------------- hilo
@pytest.mark.parametrize("length", [3, 21, 64])
def test_hilo_is_windowed_hifi_beside_pooled_lofi(length: int) -> None:
    mixer = make("hilo", window_size=4, alpha=0.5)
    x = tokens(length)
    hi_heads, lo_heads = mixer.hi_heads, mixer.lo_heads
    # Hi-Fi: one dense attention per window of 4 tokens (the last window holds what is left)
    q, k, v = qkv_of(mixer.hi_qkv, x, hi_heads)
    hifi = torch.cat([dense(q[:, :, s:s + 4], k[:, :, s:s + 4], v[:, :, s:s + 4]) for s in range(0, length, 4)], 2)
    hifi = output(mixer.hi_proj, hifi)
    # Lo-Fi: every query against keys/values of the window means
    pooled = torch.stack([x[:, s:s + 4].mean(1) for s in range(0, length, 4)], dim=1)
    q = heads(F.linear(x, mixer.lo_q.weight, mixer.lo_q.bias), lo_heads)
    k, v = (heads(t, lo_heads) for t in F.linear(pooled, mixer.lo_kv.weight, mixer.lo_kv.bias).chunk(2, dim=-1))
    lofi = output(mixer.lo_proj, dense(q, k, v))
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), torch.cat([hifi, lofi], dim=-1))


# ---------------------------------------------------------------------------------------------- focal
@pytest.mark.parametrize("length", [1, 10, 45, 130])
def test_focal_attention_equals_dense_attention_over_gathered_keys(length: int) -> None:
    window, pool_sizes, regions = 8, (1, 4, 8), (12, 6, 5)
    mixer = make("focal_attention", window_size=window, pool_sizes=pool_sizes, regions=regions)
    x = tokens(length)
    q, k, v = qkv_of(mixer.qkv, x)
    out = torch.zeros_like(q)
    for start in range(0, length, window):
        keys, values = [], []
        for pool, region in zip(pool_sizes, regions):
            # pooled token t averages the real tokens of [t * pool, (t + 1) * pool)
            centre = start + window / 2  # the region's r pooled tokens centred on the window
            first = int((centre - region * pool / 2) // pool)
            for t in range(first, first + region):
                if 0 <= t * pool < length:
                    keys.append(k[:, :, t * pool:(t + 1) * pool].mean(2))
                    values.append(v[:, :, t * pool:(t + 1) * pool].mean(2))
        stop = min(start + window, length)
        out[:, :, start:stop] = dense(q[:, :, start:stop], torch.stack(keys, 2), torch.stack(values, 2))
    with torch.no_grad():
        torch.testing.assert_close(mixer(x), output(mixer.proj, out))
