"""Small reusable layers of the backbones: attention pieces every attention family shares, norms, FFNs, DropPath,
LayerScale, positional encodings, stems, downsamplers.

Token layers take and return ``(B, N, C)``; stems take raw signals ``(B, leads, T)`` and return tokens.
"""

from .attention import SelfAttention, merge_heads, project_qkv, split_heads, window_attention
from .downsample import Downsample
from .drop import DropPath, LayerScale
from .ffn import FFNS, ConvFFN, GluFFN, Mlp, create_ffn
from .norm import NORMS, TokenBatchNorm, create_norm
from .pool import MaxPool1d
from .positional import ConvPosEnc
from .stem import STEMS, ConvStem, PatchStem, create_stem, receptive_field

__all__ = [
    "SelfAttention", "merge_heads", "project_qkv", "split_heads", "window_attention", "Downsample", "DropPath",
    "LayerScale", "FFNS", "ConvFFN", "GluFFN", "Mlp", "create_ffn", "NORMS", "TokenBatchNorm", "create_norm",
    "MaxPool1d", "ConvPosEnc", "STEMS", "ConvStem", "PatchStem", "create_stem", "receptive_field",
]
