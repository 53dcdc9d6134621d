"""Shared 1D primitives: window helpers, local (neighborhood) attention, pooled-KV attention, multi-scale convs."""

from .local_attention import BACKENDS, local_attention, select_backend
from .neighborhood import neighborhood_mask
from .windows import (grid_partition, grid_reverse, pad_to_multiple, relative_position_index, shifted_window_mask,
                      window_partition, window_reverse)

__all__ = [
    "BACKENDS", "local_attention", "select_backend", "neighborhood_mask",
    "grid_partition", "grid_reverse", "pad_to_multiple", "relative_position_index", "shifted_window_mask",
    "window_partition", "window_reverse",
]
