"""The MetaFormer-shaped 1D hybrid backbone: conv stem, stages of (mixer, FFN) blocks, downsampling between stages.

The token mixer is chosen per stage or per block by name (any mixer of :func:`ecgformer.list_mixers`), so
"convolution early, attention late" hybrids, SMT's evolutionary layout and iFormer's frequency ramp are configs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..checks import check_choice, check_int
from ..layers import (
    ConvPosEnc,
    Downsample,
    DropPath,
    LayerScale,
    create_ffn,
    create_norm,
    create_stem,
)
from ..mixers import create_mixer
from .base import EcgModel
from .heads import create_head

__all__ = ["MixerSpec", "resolve_mixers", "init_linear", "MetaFormerBlock", "MetaFormerStage", "MetaFormer1d"]

MixerSpec = str | Mapping[str, object]
CPE_MODES = ("none", "stage", "block")


def _mixer_spec(spec: object, where: str) -> tuple[str, dict[str, object]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        kwargs = dict(spec)
        return str(kwargs.pop("name")), kwargs
    raise ValueError(f"mixers{where} must be a mixer name or a mapping with a 'name' key, got {spec!r}")


def resolve_mixers(mixers: MixerSpec | Sequence[MixerSpec | Sequence[MixerSpec]],
                   depths: Sequence[int]) -> list[list[tuple[str, dict[str, object]]]]:
    """Expand a mixer layout to ``(name, kwargs)`` per block of every stage.

    ``mixers`` is one spec for every block, or one entry per stage. A spec is a mixer name (``"swin"``) or a
    mapping with a ``"name"`` and the mixer's keyword arguments (``{"name": "swin", "shift": True}``). A stage
    entry is a spec for all its blocks, or a list of specs repeated as a pattern over its blocks (block ``i``
    takes ``pattern[i % len(pattern)]``): ``["smt", "attention"]`` alternates, as SMT's transition stage.
    """
    if isinstance(mixers, (str, Mapping)):
        mixers = [mixers] * len(depths)
    if not isinstance(mixers, Sequence) or len(mixers) != len(depths):
        raise ValueError(f"mixers must be one spec or one entry per stage ({len(depths)} stages), got {mixers!r}")
    layout = []
    for stage, (entry, depth) in enumerate(zip(mixers, depths)):
        pattern = [entry] if isinstance(entry, (str, Mapping)) else list(entry)
        if not pattern:
            raise ValueError(f"mixers[{stage}] is an empty block pattern")
        specs = [_mixer_spec(spec, f"[{stage}]") for spec in pattern]
        layout.append([specs[i % len(specs)] for i in range(depth)])
    return layout


def _per_stage(name: str, value: object, n_stages: int) -> list:
    """``value`` for every stage, or a sequence of one value per stage (checked)."""
    if isinstance(value, (str, int, float)) or value is None:
        return [value] * n_stages
    values = list(value)
    if len(values) != n_stages:
        raise ValueError(f"{name} must be one value or {n_stages} values, got {value!r}")
    return values


class MetaFormerBlock(nn.Module):
    """``x + drop_path(ls(mixer(norm(x))))`` then ``x + drop_path(ls(ffn(norm(x))))`` on ``(B, N, C)`` tokens,
    with an optional conditional positional encoding ``x + dwconv(x)`` first (``cpe_kernel``)."""

    def __init__(self, dim: int, mixer: tuple[str, dict[str, object]], num_heads: int, mlp_ratio: float = 4.0,
                 ffn: str = "mlp", norm: str = "layernorm", drop: float = 0.0, drop_path: float = 0.0,
                 layer_scale: float | None = None, cpe_kernel: int | None = None) -> None:
        super().__init__()
        name, kwargs = mixer
        kwargs = dict(kwargs)
        num_heads = int(kwargs.pop("num_heads", num_heads))
        self.mixer_name = name
        self.cpe = ConvPosEnc(dim, cpe_kernel) if cpe_kernel else None
        self.norm1 = create_norm(norm, dim)
        self.mixer = create_mixer(name, dim, num_heads=num_heads, **kwargs)
        self.ls1 = LayerScale(dim, layer_scale)
        self.norm2 = create_norm(norm, dim)
        self.ffn = create_ffn(ffn, dim, int(dim * mlp_ratio), drop)
        self.ffn.apply(init_linear)
        self.ls2 = LayerScale(dim, layer_scale)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        if self.cpe is not None:
            x = self.cpe(x)
        x = x + self.drop_path(self.ls1(self.mixer(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.ffn(self.norm2(x))))


class MetaFormerStage(nn.Module):
    """Optional downsampling, then blocks; ``cpe="stage"`` puts one positional encoding after the first block
    (CPVT's and Twins' position of the PEG), ``"block"`` one before every block."""

    def __init__(self, in_dim: int, dim: int, mixers: list[tuple[str, dict[str, object]]], num_heads: int,
                 drop_paths: Sequence[float], downsample_stride: int = 1,
                 cpe: str = "none", cpe_kernel: int = 3, norm: str = "layernorm", **block_kwargs: object) -> None:
        super().__init__()
        self.downsample = (Downsample(in_dim, dim, downsample_stride, norm=norm)
                           if downsample_stride > 1 or in_dim != dim else nn.Identity())
        self.blocks = nn.ModuleList(
            MetaFormerBlock(dim, spec, num_heads, norm=norm, drop_path=rate,
                            cpe_kernel=cpe_kernel if cpe == "block" else None, **block_kwargs)
            for spec, rate in zip(mixers, drop_paths))
        self.cpe = ConvPosEnc(dim, cpe_kernel) if cpe == "stage" else None
        self.grad_checkpointing = False

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C_in) -> (B, ceil(N / stride), C)``."""
        x = self.downsample(x)
        for i, block in enumerate(self.blocks):
            if self.grad_checkpointing and torch.is_grad_enabled() and not torch.jit.is_tracing():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if i == 0 and self.cpe is not None:
                x = self.cpe(x)
        return x


class MetaFormer1d(EcgModel):
    """MetaFormer-shaped hybrid backbone for raw ECG (Yu et al., "MetaFormer Is Actually What You Need for
    Vision", CVPR 2022), with a classification head.

    ``stem`` (overlapping strided convs, or ViT patches) -> stages of :class:`MetaFormerBlock` with stage
    ``i > 0`` downsampled by ``downsample_stride`` -> head. Tokens of the last stage have
    ``token_stride = stem_stride * prod(downsample strides)`` input samples each.

    Args:
        num_classes: outputs.
        in_chans: leads (any number, 1 included).
        dims: channels per stage.
        depths: blocks per stage.
        mixers: mixer layout, see :func:`resolve_mixers` (per stage or per block, names with kwargs).
        num_heads: heads per stage (one int or one per stage); default ``dim // head_dim``. A spec's own
            ``num_heads`` wins for its blocks.
        head_dim: channels per head when ``num_heads`` is None.
        mlp_ratio: FFN hidden ratio, one or per stage.
        ffn: FFN kind (``"mlp"``, ``"conv"``, ``"glu"``), one or per stage.
        norm: ``"layernorm"``, ``"rmsnorm"`` or ``"batchnorm"`` in blocks and downsamplers.
        stem: ``"conv"`` (:class:`~ecgformer.layers.ConvStem`) or ``"patch"``.
        stem_stride: stride of the stem.
        stem_kernel: kernel of the stem.
        downsample_stride: stride into stages 2, 3, ... (one int, or one per transition); kernel ``2 * stride - 1``.
        cpe: conditional positional encoding ``"none"``, ``"stage"`` or ``"block"``.
        cpe_kernel: kernel of the conditional positional encoding.
        drop_rate: dropout in FFNs and before the classifier.
        drop_path_rate: stochastic depth, rising linearly over the blocks to this value.
        layer_scale: LayerScale init (None: off).
        head: ``"avg"``, ``"avgmax"``, ``"class_attention"``, ``"query"``, ``"benchmark"``.
        head_kwargs: keyword arguments of the head.
        grad_checkpointing: recompute blocks in backward to save memory (see :meth:`set_grad_checkpointing`).
    """

    def __init__(self, num_classes: int, in_chans: int = 12, dims: Sequence[int] = (48, 96, 192, 288),
                 depths: Sequence[int] = (2, 2, 6, 2),
                 mixers: MixerSpec | Sequence[MixerSpec | Sequence[MixerSpec]] = ("conv", "conv", "hilo", "attention"),
                 num_heads: int | Sequence[int] | None = None, head_dim: int = 32,
                 mlp_ratio: float | Sequence[float] = 4.0, ffn: str | Sequence[str] = "mlp", norm: str = "layernorm",
                 stem: str = "conv", stem_stride: int = 4, stem_kernel: int = 7,
                 downsample_stride: int | Sequence[int] = 2, cpe: str = "none", cpe_kernel: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, layer_scale: float | None = None,
                 head: str = "avg", head_kwargs: Mapping[str, object] | None = None,
                 grad_checkpointing: bool = False) -> None:
        super().__init__()
        dims, depths = tuple(dims), tuple(depths)
        if not dims or len(dims) != len(depths) or min(dims) < 1 or min(depths) < 1:
            raise ValueError(f"dims and depths must be non-empty, of equal length and positive, got dims={dims}, "
                             f"depths={depths}")
        check_int("in_chans", in_chans)
        check_int("num_classes", num_classes)
        check_choice("cpe", cpe, CPE_MODES)
        n_stages = len(dims)
        heads = (_per_stage("num_heads", num_heads, n_stages) if num_heads is not None
                 else [max(dim // head_dim, 1) for dim in dims])
        ratios, ffns = _per_stage("mlp_ratio", mlp_ratio, n_stages), _per_stage("ffn", ffn, n_stages)
        layout = resolve_mixers(mixers, depths)
        self.in_chans, self.num_classes, self.dims = in_chans, num_classes, dims
        self.stem = create_stem(stem, in_chans, dims[0], stem_stride, stem_kernel)
        self.min_length = self.stem.receptive_field
        strides = [1] + _per_stage("downsample_stride", downsample_stride, n_stages - 1)
        self.token_stride = stem_stride * math.prod(strides)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i in range(n_stages):
            first = sum(depths[:i])
            self.stages.append(MetaFormerStage(
                dims[max(i - 1, 0)], dims[i], layout[i], heads[i], rates[first:first + depths[i]],
                downsample_stride=strides[i], cpe=cpe, cpe_kernel=cpe_kernel, mlp_ratio=ratios[i], ffn=ffns[i],
                norm=norm, drop=drop_rate, layer_scale=layer_scale))
        self.head = create_head(head, dims[-1], num_classes, num_heads=heads[-1], drop=drop_rate,
                                **dict(head_kwargs or {}))
        self.head.apply(init_linear)
        self.set_grad_checkpointing(grad_checkpointing)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute every block's activations in backward instead of storing them (less memory, ~30% slower)."""
        for stage in self.stages:
            stage.grad_checkpointing = enable

    def forward_features(self, x: Tensor) -> Tensor:
        """Tokens of the last stage ``(B, ceil(T / token_stride), dims[-1])``."""
        self.check_input(x)
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


def init_linear(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear weights and zero biases (ViT / MetaFormer initialisation of the FFNs
    and heads; mixers keep their own initialisation)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
