"""Independent references for the modulation / multi-branch mixers: smt, inception, focal_modulation, pathway.

Every reference is written from the paper's definition with explicit loops and the modules' weights, without
calling the code under test: depthwise convolutions are explicit tap sums, attention is an explicit softmax,
pooling and upsampling are loops over windows, the pathway router's decomposition uses ``torch.fft``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import ecgformer

DIM, HEADS = 32, 4


def tokens(batch: int, length: int, dim: int = DIM, seed: int = 0) -> Tensor:
    return torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def make(name: str, seed: int = 0, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    mixer = ecgformer.create_mixer(name, DIM, num_heads=HEADS, **kwargs).double().eval()
    with torch.no_grad():  # non-trivial values for parameters that start at 0 or 1
        for param in mixer.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return mixer


def linear(x: Tensor, layer: torch.nn.Linear) -> Tensor:
    return x @ layer.weight.t() + (0 if layer.bias is None else layer.bias)


def depthwise(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """'Same' depthwise cross-correlation of ``(B, N, C)`` as a sum of zero-filled shifted copies."""
    length, size = x.shape[1], weight.shape[-1]
    out = torch.zeros_like(x)
    for tap in range(size):
        offset = tap - size // 2  # output t reads input t + offset
        lo, hi = max(0, -offset), min(length, length - offset)
        if lo < hi:
            out[:, lo:hi] += x[:, lo + offset: hi + offset] * weight[:, 0, tap]
    return out if bias is None else out + bias


def softmax_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """One head: ``softmax(q k^T / sqrt(d)) v`` for ``(L_q, d)``, ``(L_k, d)``, ``(L_k, d_v)``."""
    return torch.softmax(q @ k.t() / math.sqrt(q.shape[-1]), dim=-1) @ v


def multi_head(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    """Multi-head attention of ``(L, C)`` tensors, heads as contiguous channel groups."""
    size = q.shape[-1] // heads
    parts = [softmax_attention(q[:, h * size:(h + 1) * size], k[:, h * size:(h + 1) * size],
                               v[:, h * size:(h + 1) * size]) for h in range(heads)]
    return torch.cat(parts, dim=-1)


# ------------------------------------------------------------------------------------------------------ smt


def smt_reference(mixer: torch.nn.Module, x: Tensor) -> Tensor:
    heads, head_dim = mixer.num_heads, DIM // mixer.num_heads
    s = linear(x, mixer.scale)
    # multi-head mixed convolution: one separate conv per head
    convs = [depthwise(s[..., h * head_dim:(h + 1) * head_dim], conv.weight, conv.bias)
             for h, conv in enumerate(mixer.head_convs)]
    # shuffle: group j holds channel j of every head, in head order
    shuffled = torch.stack([convs[h][..., j] for j in range(head_dim) for h in range(heads)], dim=-1)
    # grouped pointwise aggregation, written out per output channel
    weight, bias = mixer.aggregate.weight[..., 0], mixer.aggregate.bias
    per_group = weight.shape[0] // head_dim
    hidden = torch.stack([shuffled[..., (o // per_group) * heads:(o // per_group + 1) * heads] @ weight[o] + bias[o]
                          for o in range(weight.shape[0])], dim=-1)
    hidden = F.gelu(F.layer_norm(hidden, hidden.shape[-1:], mixer.norm.weight, mixer.norm.bias, mixer.norm.eps))
    return linear(linear(hidden, mixer.fuse) * linear(x, mixer.value), mixer.proj)


@pytest.mark.parametrize("kwargs", [{}, {"kernel_sizes": (1, 3, 9, 5), "expand_ratio": 3}])
def test_smt_equals_per_head_convs_and_explicit_aggregation(kwargs: dict) -> None:
    mixer = make("smt", **kwargs)
    assert mixer.kernel_sizes == kwargs.get("kernel_sizes", (3, 5, 7, 9))
    for length in (1, 6, 29):
        x = tokens(2, length, seed=length)
        with torch.no_grad():
            torch.testing.assert_close(mixer(x), smt_reference(mixer, x), rtol=1e-9, atol=1e-9)


def test_smt_is_local_appended_tokens_only_change_the_tail() -> None:
    mixer = make("smt")
    x = tokens(1, 40)
    extended = torch.cat([x, tokens(1, 7, seed=9) * 10], dim=1)
    reach = max(mixer.kernel_sizes) // 2  # receptive field of one side
    with torch.no_grad():
        torch.testing.assert_close(mixer(extended)[:, : 40 - reach], mixer(x)[:, : 40 - reach])


# ------------------------------------------------------------------------------------------------ inception


def inception_reference(mixer: torch.nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """Returns (high-frequency output (B, N, 2 C_h), low-frequency output (B, N, C_l)), computed separately."""
    high, low = x[..., : mixer.high_dim], x[..., mixer.high_dim:]
    half, radius, length = mixer.high_dim // 2, mixer.kernel_size // 2, x.shape[1]
    conv_branch = F.gelu(depthwise(linear(high[..., :half], mixer.conv_linear), mixer.conv_dw.weight))
    pooled_max = torch.stack([high[:, max(0, t - radius): t + radius + 1, half:].amax(dim=1) for t in range(length)], 1)
    pool_branch = F.gelu(linear(pooled_max, mixer.pool_linear))
    # low frequency: average windows of pool_size real tokens, global attention, nearest upsampling
    size, attention = mixer.pool_size, mixer.low_attention
    windows = [low[:, start: start + size].mean(dim=1) for start in range(0, length, size)]
    pooled = torch.stack(windows, dim=1)
    outs = []
    for sample in pooled:
        q, k, v = linear(sample, attention.qkv).chunk(3, dim=-1)
        outs.append(linear(multi_head(q, k, v, attention.num_heads), attention.proj))
    attended = torch.stack(outs)
    upsampled = torch.stack([attended[:, t // size] for t in range(length)], dim=1)
    return torch.cat([conv_branch, pool_branch], dim=-1), upsampled


@pytest.mark.parametrize("kwargs", [{}, {"low_ratio": 0.25, "pool_size": 3, "kernel_size": 5},
                                    {"low_ratio": 0.75, "pool_size": 1}])
def test_inception_equals_high_and_low_branches_computed_separately(kwargs: dict) -> None:
    mixer = make("inception", **kwargs)
    assert mixer.low_dim == round(kwargs.get("low_ratio", 0.5) * HEADS) * DIM // HEADS
    for length in (1, 5, 23):
        x = tokens(2, length, seed=length)
        high, low = inception_reference(mixer, x)
        fused = torch.cat([high, low], dim=-1)
        expected = linear(fused + depthwise(fused, mixer.fuse_dw.weight), mixer.proj)
        with torch.no_grad():
            torch.testing.assert_close(mixer.high_frequency(x[..., : mixer.high_dim]), high, rtol=1e-9, atol=1e-9)
            torch.testing.assert_close(mixer.low_frequency(x[..., mixer.high_dim:]), low, rtol=1e-9, atol=1e-9)
            torch.testing.assert_close(mixer(x), expected, rtol=1e-9, atol=1e-9)


def test_inception_frequency_ramp_moves_channels_to_the_low_path() -> None:
    splits = [ecgformer.create_mixer("inception", 64, num_heads=8, low_ratio=r).low_dim for r in (0.125, 0.5, 0.875)]
    assert splits == [8, 32, 56]


# -------------------------------------------------------------------------------------------- focal modulation


def focal_reference(mixer: torch.nn.Module, x: Tensor) -> Tensor:
    levels = mixer.focal_level
    q, ctx, gates = linear(x, mixer.f).split([DIM, DIM, levels + 1], dim=-1)
    contexts = []
    for conv in mixer.focal_convs:  # hierarchical contextualisation, one level at a time
        ctx = F.gelu(depthwise(ctx, conv.weight))
        contexts.append(ctx)
    contexts.append(F.gelu(ctx.mean(dim=1, keepdim=True)).expand_as(ctx))  # global context
    aggregated = sum(gates[..., level: level + 1] * context for level, context in enumerate(contexts))
    if mixer.normalize_modulator:
        aggregated = aggregated / (levels + 1)
    out = q * linear(aggregated, mixer.h)
    if isinstance(mixer.norm, torch.nn.LayerNorm):
        out = F.layer_norm(out, (DIM,), mixer.norm.weight, mixer.norm.bias, mixer.norm.eps)
    return linear(out, mixer.proj)


@pytest.mark.parametrize("kwargs", [{}, {"focal_level": 2, "focal_window": 3, "focal_factor": 2,
                                         "normalize_modulator": True, "post_norm": True}])
def test_focal_modulation_equals_explicit_loop_over_levels(kwargs: dict) -> None:
    mixer = make("focal_modulation", **kwargs)
    window, factor = kwargs.get("focal_window", 5), kwargs.get("focal_factor", 4)
    assert mixer.kernel_sizes == tuple(factor * level + window for level in range(kwargs.get("focal_level", 3)))
    for length in (1, 4, 31):
        x = tokens(2, length, seed=length)
        with torch.no_grad():
            torch.testing.assert_close(mixer(x), focal_reference(mixer, x), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------------------------------ pathway


def router_reference(mixer: torch.nn.Module, x: Tensor) -> Tensor:
    """Pathformer's router logits: adaptive pooling, x + season + trend (season via torch.fft), linear gate."""
    bins = mixer.router_bins
    z = F.adaptive_avg_pool1d(x.transpose(1, 2), bins).transpose(1, 2)
    spectrum = torch.fft.rfft(z, dim=1)
    usable = torch.zeros(spectrum.shape[1], dtype=torch.bool)
    usable[1: (bins - 1) // 2 + 1] = True  # no DC, no Nyquist
    amplitude = spectrum.abs().masked_fill(~usable[None, :, None], -1.0)
    top = amplitude.topk(mixer.season_k, dim=1).indices
    keep = torch.zeros_like(amplitude, dtype=torch.bool).scatter(1, top, True)
    season = torch.fft.irfft(spectrum * keep, n=bins, dim=1)
    averages = []
    for size in mixer.trend_kernels:
        front, back = size - 1 - (size - 1) // 2, (size - 1) // 2
        padded = torch.cat([z[:, :1].expand(-1, front, -1), z, z[:, -1:].expand(-1, back, -1)], dim=1)
        averages.append(torch.stack([padded[:, t: t + size].mean(dim=1) for t in range(bins)], dim=1))
    weights = torch.softmax(z[..., None] * mixer.trend_mix.weight[:, 0] + mixer.trend_mix.bias, dim=-1)
    trend = (torch.stack(averages, dim=-1) * weights).sum(-1)
    return linear(linear(z + season + trend, mixer.router_in)[..., 0], mixer.w_gate)


def test_pathway_router_top_k_weights_sum_to_one_and_match_the_reference() -> None:
    mixer = make("pathway", patch_sizes=(2, 4, 8, 16), top_k=2, router_bins=24)
    x = tokens(6, 50)
    with torch.no_grad():
        gates = mixer.route(x)
        logits = router_reference(mixer, x)
    top = logits.topk(2, dim=-1)
    expected = torch.zeros_like(logits).scatter(1, top.indices, torch.softmax(top.values, dim=-1))
    torch.testing.assert_close(gates, expected, rtol=1e-6, atol=1e-7)  # DFT matrices are built in float32
    assert ((gates > 0).sum(-1) == 2).all()
    torch.testing.assert_close(gates.sum(-1), torch.ones(6, dtype=x.dtype))
    mixer.train()  # noisy gating: still k positive weights summing to one
    noisy = mixer.route(x)
    assert ((noisy > 0).sum(-1) == 2).all()
    torch.testing.assert_close(noisy.sum(-1), torch.ones(6, dtype=x.dtype))


def test_pathway_router_is_per_sample() -> None:
    mixer = make("pathway", top_k=1)
    x = tokens(4, 33)
    changed = x.clone()
    changed[1:] = tokens(3, 33, seed=7) * 5
    with torch.no_grad():
        torch.testing.assert_close(mixer.route(changed)[0], mixer.route(x)[0])
        torch.testing.assert_close(mixer.route(x[:1])[0], mixer.route(x)[0])
        torch.testing.assert_close(mixer(changed)[0], mixer(x)[0])


def dual_attention_reference(pathway: torch.nn.Module, x: Tensor) -> Tensor:
    """Intra- plus inter-patch attention of one sample ``(N, C)``, with no padding anywhere."""
    size, heads, length = pathway.patch_size, pathway.num_heads, x.shape[0]
    head_dim = DIM // heads
    q, k, v = linear(x, pathway.qkv).chunk(3, dim=-1)
    patches = [range(start, min(start + size, length)) for start in range(0, length, size)]
    intra = torch.cat([multi_head(q[list(p)], k[list(p)], v[list(p)], heads) for p in patches])
    flat = torch.zeros(len(patches), size * DIM, dtype=x.dtype)
    for i, p in enumerate(patches):  # a partial last patch is zero-filled before the W_qk projection
        flat[i, : len(p) * DIM] = x[list(p)].reshape(-1)
    patch_q, patch_k = linear(flat, pathway.patch_qk).chunk(2, dim=-1)
    inter = torch.zeros_like(x)
    for t in range(length):
        i, s = divmod(t, size)
        others = [j for j in range(len(patches)) if j * size + s < length]  # patches with a real token s
        for h in range(heads):
            cols = slice(h * head_dim, (h + 1) * head_dim)
            weights = torch.softmax(patch_k[others, cols] @ patch_q[i, cols] / math.sqrt(head_dim), dim=0)
            inter[t, cols] = weights @ v[[j * size + s for j in others], cols]
    return intra + inter


@pytest.mark.parametrize("length", [3, 16, 23])
def test_single_scale_pathway_equals_explicit_dual_attention(length: int) -> None:
    mixer = make("pathway", patch_sizes=(4,), router_bins=8, season_k=2, trend_kernels=(2, 3))
    x = tokens(2, length, seed=length)
    expected = torch.stack([linear(dual_attention_reference(mixer.pathways[0], sample), mixer.proj) for sample in x])
    with torch.no_grad():
        torch.testing.assert_close(mixer.route(x), torch.ones(2, 1, dtype=x.dtype))
        torch.testing.assert_close(mixer(x), expected, rtol=1e-9, atol=1e-9)


def test_multi_scale_pathway_is_the_gate_weighted_sum_of_pathways() -> None:
    mixer = make("pathway", patch_sizes=(3, 5, 8), top_k=2)
    x = tokens(3, 19)
    with torch.no_grad():
        gates = mixer.route(x)
        expected = sum(gates[:, m, None, None] * torch.stack([dual_attention_reference(p, s) for s in x])
                       for m, p in enumerate(mixer.pathways))
        torch.testing.assert_close(mixer(x), linear(expected, mixer.proj), rtol=1e-9, atol=1e-9)


def test_pathway_balance_loss_in_training() -> None:
    mixer = make("pathway", top_k=2).train()
    mixer(tokens(4, 30)).sum().backward()
    loss = mixer.balance_loss
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss) and loss >= 0
    mixer.zero_grad()
    loss = mixer(tokens(4, 30)).sum() * 0 + mixer.balance_loss
    loss.backward()
    assert mixer.w_gate.weight.grad.abs().sum() > 0
    single = make("pathway", patch_sizes=(4,)).train()
    single(tokens(2, 9))
    assert single.balance_loss == 0


def test_pathway_with_sparse_top_k_exports_with_dynamic_batch_and_length() -> None:
    import onnxruntime as ort
    from torch.export import Dim

    torch.manual_seed(0)
    mixer = ecgformer.create_mixer("pathway", 16, num_heads=2, patch_sizes=(2, 5, 8), top_k=2, router_bins=12).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(mixer, (torch.randn(2, 29, 16),), dynamo=True, verbose=False,
                                    dynamic_shapes={"x": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}})
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch, length in ((1, 1), (3, 40), (2, 117)):
        x = torch.randn(batch, length, 16, generator=torch.Generator().manual_seed(length))
        with torch.no_grad():
            expected = mixer(x).numpy()
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"length {length}")


# --------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(("name", "kwargs", "argument"), [
    ("smt", {"num_heads": 3}, "num_heads"),
    ("smt", {"kernel_sizes": (3, 5)}, "kernel_sizes"),
    ("smt", {"kernel_sizes": (3, 4, 5, 7)}, "kernel_sizes"),
    ("smt", {"expand_ratio": 0}, "expand_ratio"),
    ("inception", {"low_ratio": 1.5}, "low_ratio"),
    ("inception", {"low_ratio": 0.05}, "low_ratio"),
    ("inception", {"low_ratio": 1.0}, "low_ratio"),
    ("inception", {"pool_size": 0}, "pool_size"),
    ("inception", {"kernel_size": 4}, "kernel_size"),
    ("focal_modulation", {"focal_level": 0}, "focal_level"),
    ("focal_modulation", {"focal_window": 4, "focal_factor": 2}, "focal_window"),
    ("pathway", {"patch_sizes": ()}, "patch_sizes"),
    ("pathway", {"patch_sizes": (4, 4)}, "patch_sizes"),
    ("pathway", {"patch_sizes": (4, 0)}, "patch_sizes"),
    ("pathway", {"top_k": 4}, "top_k"),
    ("pathway", {"router_bins": 2}, "router_bins"),
    ("pathway", {"router_bins": 8, "season_k": 4}, "season_k"),
    ("pathway", {"trend_kernels": (0,)}, "trend_kernels"),
])
def test_bad_constructor_arguments_raise_naming_the_argument(name: str, kwargs: dict, argument: str) -> None:
    kwargs = {"num_heads": HEADS, **kwargs}
    with pytest.raises(ValueError, match=argument):
        ecgformer.create_mixer(name, DIM, **kwargs)
