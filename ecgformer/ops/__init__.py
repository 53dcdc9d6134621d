"""Shared 1D primitives: window helpers, local (neighborhood) attention, pooled-KV attention, multi-scale convs."""

from .conv import depthwise_conv_tokens, multiscale_dwconv
from .local_attention import BACKENDS, local_attention, select_backend
from .neighborhood import neighborhood_mask
from .pooling import pool_tokens, pooled_kv_attention, token_matmul
from .windows import (crop, cyclic_shift, grid_partition, grid_reverse, pad_to_multiple, relative_position_index,
                      shifted_window_mask, window_partition, window_regions, window_reverse)

__all__ = [
    "BACKENDS", "local_attention", "select_backend", "neighborhood_mask",
    "pool_tokens", "pooled_kv_attention", "token_matmul", "multiscale_dwconv", "depthwise_conv_tokens",
    "crop", "cyclic_shift", "grid_partition", "grid_reverse", "pad_to_multiple", "relative_position_index",
    "shifted_window_mask", "window_partition", "window_regions", "window_reverse",
]
