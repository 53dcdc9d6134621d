"""Pathformer multi-scale adaptive pathways: per-patch-size dual attention, mixed per sample by a top-k router."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_heads, check_int, check_ints, check_tokens
from ..layers.attention import merge_heads, split_heads
from ..ops.pooling import pool_tokens, token_matmul
from ..ops.windows import crop, pad_to_multiple, shifted_window_mask, window_partition, window_reverse
from .registry import register_mixer

__all__ = ["AdaptivePathways", "DualPatchAttention"]

# ecgformer_s_pathway: each pathway has its own qkv and the inter-patch projection 2 * patch_size * dim^2 weights,
# so patches shrink as the stages get wider and their sequences shorter (the preset is still about 3x larger)
PATHWAY_PRESET = tuple({"name": "pathway", "patch_sizes": sizes} for sizes in ((4, 8, 16), (4, 8, 16), (2, 4, 8),
                                                                              (1, 2, 4)))


def _moving_average_matrices(length: int, kernels: Sequence[int]) -> Tensor:
    """Replicate-padded, centred moving averages of ``length`` steps as one ``(len(kernels) * length, length)``
    matrix: rows ``k * length + t`` average steps ``t - left_k .. t - left_k + kernels[k] - 1`` clamped to the
    series (``left_k = kernels[k] - 1 - (kernels[k] - 1) // 2``), i.e. ``avg_pool1d`` after replicate padding."""
    steps = torch.arange(length)[:, None]
    blocks = []
    for kernel in kernels:
        left = kernel - 1 - (kernel - 1) // 2
        taps = (steps - left + torch.arange(kernel)[None, :]).clamp(0, length - 1)
        blocks.append(torch.zeros(length, length).scatter_add_(1, taps, torch.full(taps.shape, 1.0 / kernel)))
    return torch.cat(blocks)


class DualPatchAttention(nn.Module):
    """One Pathformer pathway: intra-patch plus inter-patch attention at patch size ``S``.

    The sequence is zero-padded to ``P = ceil(N / S)`` patches. Intra-patch: every token attends to the real
    tokens of its own patch (non-overlapping window attention, padded keys masked). Inter-patch: patch ``i``
    gets a query and patch ``j`` a key from its flattened ``S * C`` content (``W_qk``); token ``s`` of patch
    ``i`` receives the attention-weighted token ``s`` of every patch ``j`` whose token ``s`` is real, so
    patch-level weights mix position-aligned tokens, as Pathformer's flattened-patch attention does. Both
    share the token value projection; the pathway returns ``intra + inter``.
    """

    def __init__(self, dim: int, num_heads: int, patch_size: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        check_int("patch_size", patch_size)
        self.dim, self.num_heads, self.patch_size, self.attn_drop = dim, num_heads, patch_size, attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.patch_qk = nn.Linear(patch_size * dim, 2 * dim, bias=qkv_bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        batch, length, channels = x.shape
        size, heads, head_dim = self.patch_size, self.num_heads, channels // self.num_heads
        drop = self.attn_drop if self.training else 0.0
        padded, _ = pad_to_multiple(x, size)
        q, k, v = self.qkv(padded).chunk(3, dim=-1)

        # intra-patch: window attention inside each patch, padded keys masked
        windows = [split_heads(window_partition(t, size), heads) for t in (q, k, v)]
        keep = shifted_window_mask(length, size, 0, device=x.device).repeat(batch, 1, 1).unsqueeze(1)
        intra = F.scaled_dot_product_attention(*windows, attn_mask=keep, dropout_p=drop)
        intra = window_reverse(merge_heads(intra), size, batch)

        # inter-patch: patch-level weights, position-aligned values; (batch, heads * S, P, head_dim) layout
        patch_q, patch_k = self.patch_qk(padded.reshape(batch, -1, size * channels)).chunk(2, dim=-1)
        patches = patch_q.shape[1]

        def per_position(t: Tensor) -> Tensor:
            t = split_heads(t, heads)[:, :, None].expand(batch, heads, size, patches, head_dim)
            return t.reshape(batch, heads * size, patches, head_dim)

        values = v.reshape(batch, patches, size, heads, head_dim).permute(0, 3, 2, 1, 4)
        values = values.reshape(batch, heads * size, patches, head_dim)
        position = torch.arange(patches * size, device=x.device).view(patches, size)
        real = (position < length) | (position < size)  # patch 0 stays visible so no row is empty (N <= S)
        keep = real.t().unsqueeze(0).expand(heads, size, patches).reshape(1, heads * size, 1, patches)
        # the mask spans the batch and every query row (a stride-0 view): a mask of batch 1 makes exported graphs
        # require batch > 1, and onnxruntime's Attention does not broadcast a mask over queries
        inter = F.scaled_dot_product_attention(per_position(patch_q), per_position(patch_k), values,
                                               attn_mask=keep.expand(batch, -1, patches, -1), dropout_p=drop)
        inter = inter.view(batch, heads, size, patches, head_dim).permute(0, 3, 2, 1, 4)
        inter = inter.reshape(batch, patches * size, channels)
        return crop(intra + inter, length)


@register_mixer("pathway", family="pathway",
                paper="Chen et al., Pathformer: Multi-scale Transformers with Adaptive Pathways for Time Series "
                      "Forecasting, ICLR 2024",
                origin_2d="none (1D time series): multi-scale patch division, per-scale dual intra/inter-patch "
                          "attention, noisy top-k router on a seasonality + trend decomposition, weighted "
                          "aggregation of the selected pathways",
                preset_params=17_500_000, preset_layout=PATHWAY_PRESET)
class AdaptivePathways(nn.Module):
    """Multi-scale adaptive pathways of Pathformer. Paper: Chen et al., ICLR 2024.

    Router: ``x`` is average-pooled to ``R = router_bins`` steps ``z`` (:func:`ecgformer.ops.pooling.pool_tokens`)
    and decomposed as in Pathformer, ``z' = z + season(z) + trend(z)``: ``season`` keeps, per channel, the
    ``season_k`` largest-amplitude DFT frequencies (DC and Nyquist excluded) and inverts them; ``trend`` mixes
    replicate-padded moving averages (``trend_kernels``) with per-value softmax weights. Logits
    ``W_gate(W_in z')`` (plus softplus-scaled Gaussian noise in training when ``noisy_gating``); the ``top_k``
    largest are softmax-normalised, the rest get weight 0. Output ``proj(sum_m w_m * pathway_m(x))`` with one
    :class:`DualPatchAttention` per patch size. Everything is per sample: no batch statistics.

    In training mode ``balance_loss`` holds Pathformer's load-balancing term (squared coefficient of variation
    of the per-pathway gate mass over the batch; 0 with one pathway) for the training loop to add, scaled.

    1D port: Pathformer is a time-series model already; this one is made length-free for any ``N`` (patches are
    padded and masked; the router reads the input adaptive-pooled to ``router_bins`` steps, so its ``T x M`` gate
    matrix becomes ``bins x M``; intra-patch attention is token-to-token inside a patch instead of one learnable
    query per patch index plus a ``(P -> P*S)`` linear; inter-patch attention mixes position-aligned tokens) and
    exportable (all pathways run densely and unselected ones get weight 0, no dispatch; ``topk`` thresholds; DFT as
    fixed matrices on the ``R`` bins). ECG defaults: patch sizes 4, 8, 16 tokens, 64 router bins, Pathformer's
    ``season_k=3`` and trend kernels 4, 8, 12 (in bins), and ``top_k=None``: every pathway is weighted (as the
    pathways run densely anyway, sparsity saves no compute here, and every parameter trains at every step);
    ``top_k=2`` gives Pathformer's sparse routing. Quadratic in ``N`` through inter-patch attention
    (``O(N^2 / S)``).

    Args:
        dim: channels ``C``.
        num_heads: heads of both attentions; must divide ``dim``.
        patch_sizes: one pathway per patch size (distinct ints >= 1).
        top_k: pathways each sample uses (``1 <= top_k <= len(patch_sizes)``); None: all of them.
        router_bins: pooled length ``R`` the router reads (>= 3).
        season_k: kept frequencies, ``1 <= season_k <= (R - 1) // 2``.
        trend_kernels: moving-average sizes of the trend, in bins.
        noisy_gating: add Pathformer's learned Gaussian noise to the logits in training.
        qkv_bias: bias of the qkv projections.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int, num_heads: int = 4, patch_sizes: Sequence[int] = (4, 8, 16), top_k: int | None = None,
                 router_bins: int = 64, season_k: int = 3, trend_kernels: Sequence[int] = (4, 8, 12),
                 noisy_gating: bool = True, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        patch_sizes, trend_kernels = tuple(patch_sizes), tuple(trend_kernels)
        if not patch_sizes or len(set(patch_sizes)) != len(patch_sizes):
            raise ValueError(f"patch_sizes must be distinct and non-empty, got {patch_sizes}")
        check_ints("patch_sizes", patch_sizes)
        top_k = len(patch_sizes) if top_k is None else top_k
        check_int("top_k", top_k, 1, len(patch_sizes))
        check_int("router_bins", router_bins, 3)
        check_int("season_k", season_k, 1, (router_bins - 1) // 2)
        check_ints("trend_kernels", trend_kernels)
        self.dim, self.patch_sizes, self.top_k = dim, patch_sizes, top_k
        self.router_bins, self.season_k, self.trend_kernels = router_bins, season_k, trend_kernels
        self.noisy_gating = noisy_gating
        self.pathways = nn.ModuleList(DualPatchAttention(dim, num_heads, size, qkv_bias, attn_drop)
                                      for size in patch_sizes)
        # router: DFT of the R bins (frequencies 1 .. (R - 1) // 2) as fixed matrices
        cycles = torch.outer(torch.arange(1, (router_bins - 1) // 2 + 1), torch.arange(router_bins)) % router_bins
        angle = cycles.double() * (2 * math.pi / router_bins)
        self.register_buffer("dft_cos", torch.cos(angle).float(), persistent=False)
        self.register_buffer("dft_sin", torch.sin(angle).float(), persistent=False)
        self.register_buffer("trend_averages", _moving_average_matrices(router_bins, trend_kernels), persistent=False)
        self.trend_mix = nn.Linear(1, len(trend_kernels))
        self.router_in = nn.Linear(dim, 1)
        self.w_gate = nn.Linear(router_bins, len(patch_sizes), bias=False)
        self.w_noise = nn.Linear(router_bins, len(patch_sizes), bias=False)
        nn.init.trunc_normal_(self.w_gate.weight, std=0.02)
        nn.init.zeros_(self.w_noise.weight)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.balance_loss: Tensor | None = None

    def seasonality(self, z: Tensor) -> Tensor:
        """Per channel, the ``season_k`` strongest DFT components of ``z (B, R, C)``, back in time: ``(B, R, C)``."""
        re, im = token_matmul(self.dft_cos, z), token_matmul(self.dft_sin, z)
        power = re * re + im * im
        keep = (power >= power.topk(self.season_k, dim=1).values[:, -1:]).to(z.dtype)
        inverse = token_matmul(self.dft_cos.t(), keep * re) + token_matmul(self.dft_sin.t(), keep * im)
        return inverse * (2.0 / self.router_bins)

    def trend(self, z: Tensor) -> Tensor:
        """Softmax-weighted mix of replicate-padded moving averages of ``z (B, R, C)``: ``(B, R, C)``.

        The averages are one product with fixed matrices and the per-value softmax runs over a leading kernel
        axis, so both vectorise over ``R * C`` (a softmax over a trailing axis of 2-3 values is slow on CPU)."""
        kernels = len(self.trend_kernels)
        averages = token_matmul(self.trend_averages, z).unflatten(-2, (kernels, self.router_bins))
        logits = z.unsqueeze(-3) * self.trend_mix.weight.view(kernels, 1, 1) + self.trend_mix.bias.view(kernels, 1, 1)
        return (averages * torch.softmax(logits, dim=-3)).sum(-3)

    def route(self, x: Tensor) -> Tensor:
        """Per-sample pathway weights ``(B, M)``: softmax over the ``top_k`` largest logits, 0 elsewhere."""
        z = pool_tokens(x, num_tokens=self.router_bins)
        z = self.router_in(z + self.seasonality(z) + self.trend(z)).squeeze(-1)
        logits = self.w_gate(z)
        if self.training and self.noisy_gating:
            logits = logits + torch.randn_like(logits) * (F.softplus(self.w_noise(z)) + 1e-2)
        threshold = logits.topk(self.top_k, dim=-1).values[:, -1:]
        return torch.softmax(logits.masked_fill(logits < threshold, float("-inf")), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        check_tokens(x, self.dim)
        gates = self.route(x)
        if self.training:
            importance = gates.sum(0)
            self.balance_loss = (importance.var() / (importance.mean() ** 2 + 1e-10) if importance.numel() > 1
                                 else importance.new_zeros(()))
        paths = torch.stack([pathway(x) for pathway in self.pathways], dim=1)
        return self.proj_drop(self.proj(torch.einsum("bm,bmnc->bnc", gates, paths)))
