"""The documented fold rule of the readers, written out for the tests as an independent reference."""

from __future__ import annotations

import hashlib


def sha256_fold(record_id: str, n_folds: int = 10) -> int:
    """First 8 bytes of the id's sha256, little-endian, modulo ``n_folds``, plus 1."""
    return int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:8], "little") % n_folds + 1
