"""Window, shifted-window and grid (dilated) partition helpers for 1D token sequences.

All helpers take tokens laid out as ``(B, N, C)`` and work for any ``N >= 1``: sequences are padded at
the end to a multiple of the window (the pad is returned so callers can crop it back) and padded keys
are masked by :func:`shifted_window_mask`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_int

__all__ = [
    "pad_to_multiple",
    "crop",
    "window_partition",
    "window_reverse",
    "shifted_window_mask",
    "cyclic_shift",
    "window_regions",
    "grid_partition",
    "grid_reverse",
    "relative_position_index",
]


def pad_to_multiple(x: Tensor, multiple: int, dim: int = 1) -> tuple[Tensor, int]:
    """Zero-pad ``x`` at the end of ``dim`` to a multiple of ``multiple``; return ``(padded, pad)``."""
    check_int("multiple", multiple)
    dim = dim % x.dim()
    length = x.shape[dim]
    pad = (length + multiple - 1) // multiple * multiple - length  # no negative modulo: traced Dims reject it
    if isinstance(pad, int) and pad == 0:  # never branch on a traced length: the export must serve every N
        return x, 0
    spec = [0, 0] * (x.dim() - dim - 1) + [0, pad]
    return F.pad(x, spec), pad


def crop(x: Tensor, length: int, dim: int = 1) -> Tensor:
    """The first ``length`` entries of ``dim``: undoes :func:`pad_to_multiple`.

    A slice view in eager mode; a gather while exporting: whether a slice view is contiguous depends on whether
    anything was padded, and ``torch.export`` specialises the graph on it (a guard on the traced length that
    fails at other lengths).
    """
    if torch.compiler.is_exporting():
        return x.index_select(dim, torch.arange(length, device=x.device))
    return x.narrow(dim, 0, length)


def window_partition(x: Tensor, window: int) -> Tensor:
    """Split ``(B, N, C)`` with ``N % window == 0`` into ``(B * N // window, window, C)`` windows."""
    check_int("window", window)
    batch, length, channels = x.shape
    if length % window:
        raise ValueError(f"sequence length {length} is not a multiple of window {window}; pad_to_multiple first")
    return x.reshape(batch * (length // window), window, channels)


def window_reverse(windows: Tensor, window: int, batch: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, window, C) -> (B, nW * window, C)``."""
    check_int("window", window)
    if windows.shape[0] % batch or windows.shape[1] != window:
        raise ValueError(f"windows of shape {tuple(windows.shape)} do not split into batch {batch} x window {window}")
    return windows.reshape(batch, -1, windows.shape[-1])


def _shift_geometry(length: int, window: int, shift: int,
                    device: torch.device | None) -> tuple[Tensor, Tensor, Tensor]:
    """Rolled positions ``(Np,)``, ``Np`` as a tensor and the shift applied: ``shift``, or 0 for one window.

    Only tensor arithmetic on the (possibly traced) length, so exported graphs stay valid for every ``N``.
    """
    padded = (length + window - 1) // window * window  # no negative floor division: ONNX truncates it
    padded_tensor = torch.full((), padded, dtype=torch.long, device=device)
    applied = (padded_tensor > window).long() * shift
    return torch.arange(padded, device=device), padded_tensor, applied


def _check_shift(window: int, shift: int) -> None:
    check_int("window", window)
    check_int("shift", shift, 0, window - 1)


def shifted_window_mask(length: int, window: int, shift: int, device: torch.device | None = None) -> Tensor:
    """Boolean attention mask ``(nW, window, window)`` (True = may attend) for 1D (shifted) windows.

    The sequence of ``length`` tokens is padded to ``Np = ceil(length / window) * window`` and rolled by
    ``-shift`` (Swin's cyclic shift, see :func:`cyclic_shift`), then cut into windows. Inside a window a
    query attends to a key when both come from the same side of the roll seam (Swin's region labels) and
    the key is not padding. A padding query always keeps itself so no row is empty (its output is cropped
    away by the caller). ``shift=0`` gives the plain windowed (W-MSA / Twins LSA) mask, which only masks
    padding; so does a sequence that fits in one window, where Swin disables the shift.
    """
    check_int("length", length)
    _check_shift(window, shift)
    rolled, padded, applied = _shift_geometry(length, window, shift, device)
    original = rolled + applied
    original = torch.where(original >= padded, original - padded, original)
    is_pad = (original >= length).view(-1, window)
    region = (rolled >= padded - window).long() + (rolled >= padded - applied).long()
    region = (region * (applied > 0).long()).view(-1, window)
    same_region = region[:, :, None] == region[:, None, :]
    allowed = same_region & ~is_pad[:, None, :]
    eye = torch.eye(window, dtype=torch.bool, device=device)
    return allowed | (is_pad[:, :, None] & eye)


def cyclic_shift(x: Tensor, window: int, shift: int, reverse: bool = False, dim: int = 1) -> Tensor:
    """Swin's cyclic shift of a padded sequence: roll ``dim`` by ``-shift`` (``reverse``: by ``+shift``).

    The length along ``dim`` must be a multiple of ``window``. A sequence of one window is returned
    unrolled (Swin disables the shift when the input fits in one window). Implemented as a gather with a
    tensor-computed index, so an exported graph applies the right shift at every length.
    """
    _check_shift(window, shift)
    dim = dim % x.dim()
    rolled, padded, applied = _shift_geometry(x.shape[dim], window, shift, x.device)
    source = rolled - applied if reverse else rolled + applied
    source = torch.where(source >= padded, source - padded, torch.where(source < 0, source + padded, source))
    return x.index_select(dim, source)


def window_regions(length: int, window: int, pool_size: int, region: int,
                   device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """For each query window, the ``region`` tokens of a ``pool_size``-pooled sequence centred on it.

    The ``length`` tokens are cut into ``nW = ceil(length / window)`` query windows and, separately, pooled
    into ``M = ceil(length / pool_size)`` tokens (token ``t`` covers ``[t * p, (t + 1) * p)``). Window ``j``
    gets the ``region`` consecutive pooled tokens whose centre is nearest the window's centre (Focal
    Transformer's surrounding region at one focal level; ``pool_size=1`` gives a window plus a halo).
    Returns ``index (nW, region)`` clamped into ``[0, M)`` for gathering, and ``valid (nW, region)``,
    False where the region runs off either end of the pooled sequence.
    """
    check_int("length", length)
    for name, value in (("window", window), ("pool_size", pool_size), ("region", region)):
        check_int(name, value)
    starts = torch.arange(0, (length + window - 1) // window * window, window, device=device)
    pooled_length = torch.full((), (length + pool_size - 1) // pool_size, dtype=torch.long, device=device)
    first = torch.div(2 * starts + window - region * pool_size, 2 * pool_size, rounding_mode="floor")
    index = first[:, None] + torch.arange(region, device=device)
    valid = (index >= 0) & (index < pooled_length)
    return torch.minimum(index.clamp(min=0), pooled_length - 1), valid


def grid_partition(x: Tensor, dilation: int) -> tuple[Tensor, int]:
    """Split ``(B, N, C)`` into ``dilation`` interleaved groups (token ``i`` goes to group ``i mod d``).

    Returns ``(groups, pad)`` with ``groups`` of shape ``(B * d, ceil(N / d), C)``; group ``g`` holds
    tokens ``g, g + d, g + 2d, ...`` followed by zero padding where ``N`` is not a multiple of ``d``.
    """
    check_int("dilation", dilation)
    x, pad = pad_to_multiple(x, dilation, dim=1)
    batch, length, channels = x.shape
    groups = x.view(batch, length // dilation, dilation, channels).transpose(1, 2)
    return groups.reshape(batch * dilation, length // dilation, channels), pad


def grid_reverse(groups: Tensor, dilation: int, batch: int, pad: int) -> Tensor:
    """Inverse of :func:`grid_partition`: back to ``(B, N, C)`` with the padding cropped."""
    check_int("dilation", dilation)
    per_group = groups.shape[1]
    x = groups.view(batch, dilation, per_group, groups.shape[-1]).transpose(1, 2)
    x = x.reshape(batch, per_group * dilation, groups.shape[-1])
    return crop(x, x.shape[1] - pad)


def relative_position_index(window: int, device: torch.device | None = None) -> Tensor:
    """Index ``(window, window)`` into a ``(2 * window - 1, heads)`` bias table: ``q - k + window - 1``.

    This is Swin's convention (a height-1 Swin window gives the same index), so 1D tables are
    interchangeable with 2D ones of height 1.
    """
    check_int("window", window)
    coords = torch.arange(window, device=device)
    return coords[:, None] - coords[None, :] + window - 1
