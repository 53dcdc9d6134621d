"""Classification heads on backbone tokens ``(B, N, C) -> (B, num_classes)``.

Every head builds its class-dependent parameters in ``reset(num_classes)`` (called by ``__init__`` and by the
models' ``reset_classifier``) and takes ``pre_logits=True`` to return the features the classifier reads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_choice, check_heads, check_int
from ..layers import DropPath, LayerScale, Mlp
from ..layers.attention import merge_heads, split_heads
from ..registry import Registry

__all__ = ["LinearClassifierHead", "PooledHead", "ClassAttentionHead", "QueryHead", "BenchmarkHead", "HEADS",
           "create_head"]


def pool_tokens_global(x: Tensor, pool: str) -> Tensor:
    """Global ``"avg"`` or ``"avgmax"`` (average and max concatenated) pooling of ``(B, N, C)`` over time."""
    if pool == "avg":
        return x.mean(1)
    return torch.cat([x.mean(1), x.amax(1)], dim=-1)


class LinearClassifierHead(nn.Module):
    """Base of the heads whose classifier is one ``Linear`` on ``self.features`` channels (set before ``reset``)."""

    features: int

    def reset(self, num_classes: int) -> None:
        """New classifier for ``num_classes`` classes."""
        self.fc = nn.Linear(self.features, num_classes)


class PooledHead(LinearClassifierHead):
    """Global pooling, LayerNorm, dropout and a linear classifier (ConvNeXt / MetaFormer head).

    ``pool="avg"`` averages the tokens; ``pool="avgmax"`` concatenates average and max pooling (the
    concat pooling of the PTB-XL benchmark's CNNs; the max keeps brief events such as a single ectopic beat).
    """

    def __init__(self, dim: int, num_classes: int, pool: str = "avg", drop: float = 0.0) -> None:
        super().__init__()
        check_choice("pool", pool, ("avg", "avgmax"))
        self.pool, self.features = pool, dim * (2 if pool == "avgmax" else 1)
        self.norm = nn.LayerNorm(self.features)
        self.drop = nn.Dropout(drop)
        self.reset(num_classes)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, N, C) -> (B, num_classes)`` (``(B, C or 2C)`` features with ``pre_logits``)."""
        x = self.drop(self.norm(pool_tokens_global(x, self.pool)))
        return x if pre_logits else self.fc(x)


class ClassAttention(nn.Module):
    """Attention of the class token alone over ``[class token, tokens]`` (CaiT class attention)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, u: Tensor) -> Tensor:
        """``u = [cls, tokens]`` ``(B, 1 + N, C) -> (B, 1, C)``, the class token's update."""
        q = split_heads(self.q(u[:, :1]), self.num_heads)
        k, v = (split_heads(t, self.num_heads) for t in self.kv(u).chunk(2, dim=-1))
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class ClassAttentionBlock(nn.Module):
    """CaiT class-attention layer: only the class token is updated, tokens are frozen keys/values."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, layer_scale: float | None,
                 drop_path: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = ClassAttention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls1, self.ls2 = LayerScale(dim, layer_scale), LayerScale(dim, layer_scale)
        self.drop_path = DropPath(drop_path)

    def forward(self, cls: Tensor, x: Tensor) -> Tensor:
        """Class token ``(B, 1, C)`` updated from tokens ``(B, N, C)``."""
        cls = cls + self.drop_path(self.ls1(self.attn(self.norm1(torch.cat([cls, x], dim=1)))))
        return cls + self.drop_path(self.ls2(self.mlp(self.norm2(cls))))


class ClassAttentionHead(LinearClassifierHead):
    """CaiT-style head (Touvron et al., "Going deeper with Image Transformers", ICCV 2021): a learned class
    token passes ``depth`` class-attention layers over the backbone tokens, then LayerNorm and a linear
    classifier. CaiT uses 2 such layers with LayerScale."""

    def __init__(self, dim: int, num_classes: int, num_heads: int = 4, depth: int = 2, mlp_ratio: float = 4.0,
                 layer_scale: float | None = 1e-5, drop_path: float = 0.0, drop: float = 0.0) -> None:
        super().__init__()
        check_int("depth", depth)
        self.features = dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(ClassAttentionBlock(dim, num_heads, mlp_ratio, layer_scale, drop_path)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(drop)
        self.reset(num_classes)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, N, C) -> (B, num_classes)`` (``(B, C)`` class-token features with ``pre_logits``)."""
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        for block in self.blocks:
            cls = block(cls, x)
        cls = self.drop(self.norm(cls[:, 0]))
        return cls if pre_logits else self.fc(cls)


class QueryHead(nn.Module):
    """Per-label query head: one learned query per class cross-attends to the tokens (Query2Label, Liu et al.
    2021; ML-Decoder, Ridnik et al. 2023), and class ``k``'s logit is a linear read-out of its own attended
    feature (group-wise linear). :meth:`attention_maps` returns each label's attention over time for plots.

    ``tokens -> LayerNorm -> keys/values``; ``q_k = W_q query_k``; ``a_k = softmax(q_k K^T / sqrt(d))``
    per head; ``f_k = query_k + proj(a_k V)``, then ``f_k + MLP(LayerNorm(f_k))``; ``logit_k = w_k . LN(f_k) + b_k``.
    """

    def __init__(self, dim: int, num_classes: int, num_heads: int = 4, mlp_ratio: float = 2.0,
                 drop: float = 0.0) -> None:
        super().__init__()
        check_heads(dim, num_heads)
        self.dim, self.num_heads = dim, num_heads
        self.norm_tokens = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(drop)
        self.reset(num_classes)

    def reset(self, num_classes: int) -> None:
        """New label queries and per-label classifiers for ``num_classes`` classes."""
        self.queries = nn.Parameter(torch.zeros(num_classes, self.dim))
        nn.init.trunc_normal_(self.queries, std=0.02)
        self.fc_weight = nn.Parameter(torch.zeros(num_classes, self.dim))
        nn.init.trunc_normal_(self.fc_weight, std=0.02)
        self.fc_bias = nn.Parameter(torch.zeros(num_classes))

    def attend(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Attended label features ``(B, K, C)`` and attention weights ``(B, heads, K, N)``."""
        k, v = (split_heads(t, self.num_heads) for t in self.kv(self.norm_tokens(x)).chunk(2, dim=-1))
        q = split_heads(self.q(self.queries).expand(x.shape[0], -1, -1), self.num_heads)
        weights = torch.softmax(q @ k.transpose(-1, -2) * (self.dim // self.num_heads) ** -0.5, dim=-1)
        return self.queries + self.proj(merge_heads(weights @ v)), weights

    def attention_maps(self, x: Tensor) -> Tensor:
        """Per-label attention over the tokens, averaged over heads: ``(B, N, C) -> (B, num_classes, N)``.

        Token ``n`` covers input samples ``[n * s, (n + 1) * s)`` with ``s`` the model's ``token_stride``.
        """
        return self.attend(x)[1].mean(1)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, N, C) -> (B, num_classes)`` (``(B, num_classes, C)`` label features with ``pre_logits``)."""
        f = self.attend(x)[0]
        f = self.drop(self.norm(f + self.mlp(self.norm_mlp(f))))
        return f if pre_logits else (f * self.fc_weight).sum(-1) + self.fc_bias


class BenchmarkHead(LinearClassifierHead):
    """Head of the PTB-XL benchmark's CNNs (Strodthoff et al. 2021, fastai's ``create_head1d``): concat
    pooling (average and max), then BatchNorm, dropout ``drop / 2``, Linear to ``hidden`` (128), ReLU,
    BatchNorm, dropout ``drop`` (0.5) and the linear classifier."""

    def __init__(self, dim: int, num_classes: int, hidden: int = 128, drop: float = 0.5) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.BatchNorm1d(2 * dim), nn.Dropout(drop / 2), nn.Linear(2 * dim, hidden),
                                    nn.ReLU(), nn.BatchNorm1d(hidden), nn.Dropout(drop))
        self.features = hidden
        self.reset(num_classes)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, N, C) -> (B, num_classes)`` (``(B, hidden)`` features with ``pre_logits``)."""
        x = self.hidden(pool_tokens_global(x, "avgmax"))
        return x if pre_logits else self.fc(x)


def _pooled_head(pool: str) -> Callable[..., nn.Module]:
    def create(dim: int, num_classes: int, num_heads: int, drop: float, **kwargs: object) -> nn.Module:
        return PooledHead(dim, num_classes, pool=pool, drop=drop, **kwargs)
    return create


def _attention_head(cls: type[nn.Module]) -> Callable[..., nn.Module]:
    def create(dim: int, num_classes: int, num_heads: int, drop: float, **kwargs: object) -> nn.Module:
        return cls(dim, num_classes, num_heads=num_heads, drop=drop, **kwargs)
    return create


def _benchmark_head(dim: int, num_classes: int, num_heads: int, drop: float, **kwargs: object) -> nn.Module:
    return BenchmarkHead(dim, num_classes, drop=drop, **kwargs)


HEADS: Registry[Callable[..., nn.Module]] = Registry("head", {
    "avg": _pooled_head("avg"), "avgmax": _pooled_head("avgmax"),
    "class_attention": _attention_head(ClassAttentionHead), "query": _attention_head(QueryHead),
    "benchmark": _benchmark_head})


def create_head(name: str, dim: int, num_classes: int, num_heads: int = 4, drop: float = 0.0,
                **kwargs: object) -> nn.Module:
    """The head ``name`` (one of :data:`HEADS`) on ``dim``-channel tokens; ``kwargs`` go to its constructor.

    Each entry of :data:`HEADS` is a factory ``(dim, num_classes, num_heads, drop, **kwargs) -> head``; heads without
    attention ignore ``num_heads``.
    """
    return HEADS[name](dim, num_classes, num_heads, drop, **kwargs)
