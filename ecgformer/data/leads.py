"""ECG lead names: normalisation, the standard 12-lead order, the CinC 2021 lead subsets, reordering."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "STANDARD_LEADS", "KNOWN_LEADS", "LEAD_SETS", "normalize_lead_name", "canonical_order",
    "resolve_leads", "lead_indices",
]

#: The standard 12-lead order (limb leads, augmented limb leads, precordial leads).
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: Every lead name the readers accept, in canonical order: the modified limb leads of Holter
#: databases such as MIT-BIH (MLII first, as there), the 12 standard leads, and the single lead of
#: hand-held recorders (``ECG``, CinC 2017).
KNOWN_LEADS: tuple[str, ...] = ("MLI", "MLII", "MLIII") + STANDARD_LEADS + ("ECG",)

#: Lead subsets of the PhysioNet/CinC Challenge 2021 (Reyna et al. 2021).
LEAD_SETS: dict[str, tuple[str, ...]] = {
    "twelve": STANDARD_LEADS,
    "six": ("I", "II", "III", "aVR", "aVL", "aVF"),
    "four": ("I", "II", "III", "V2"),
    "three": ("I", "II", "V2"),
    "two": ("I", "II"),
}

_BY_KEY = {name.lower(): name for name in KNOWN_LEADS}
_BY_KEY.update({"d1": "I", "d2": "II", "d3": "III", "ml2": "MLII"})
_ORDER = {name: i for i, name in enumerate(KNOWN_LEADS)}


def normalize_lead_name(name: str) -> str | None:
    """Canonical spelling of a lead name (``"AVR"``, ``"avr"`` -> ``"aVR"``), or ``None`` if unknown."""
    return _BY_KEY.get(name.strip().lower())


def canonical_order(leads: Sequence[str]) -> list[str]:
    """The given canonical lead names sorted into the order of :data:`KNOWN_LEADS`."""
    return sorted(leads, key=_ORDER.__getitem__)


def resolve_leads(leads: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Turn a lead request (``None``, a :data:`LEAD_SETS` name or a list of names) into canonical names.

    Raises ``ValueError`` for an unknown subset name or lead name.
    """
    if leads is None:
        return None
    if isinstance(leads, str):
        key = leads.lower()
        if key in LEAD_SETS:
            return LEAD_SETS[key]
        if key in {"12", "6", "4", "3", "2"}:
            return {"12": LEAD_SETS["twelve"], "6": LEAD_SETS["six"], "4": LEAD_SETS["four"],
                    "3": LEAD_SETS["three"], "2": LEAD_SETS["two"]}[key]
        leads = [leads]
    out = []
    for name in leads:
        canon = normalize_lead_name(name)
        if canon is None:
            raise ValueError(f"unknown lead name {name!r}; known leads: {', '.join(KNOWN_LEADS)}")
        out.append(canon)
    if len(set(out)) != len(out):
        raise ValueError(f"lead list has duplicates: {list(leads)}")
    return tuple(out)


def lead_indices(available: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Row indices that pick ``wanted`` (in that order) from a signal whose rows are ``available``.

    Raises ``KeyError`` naming the first missing lead.
    """
    position = {name: i for i, name in enumerate(available)}
    missing = [name for name in wanted if name not in position]
    if missing:
        raise KeyError(f"lead {missing[0]} not in record (has {', '.join(available)})")
    return np.array([position[name] for name in wanted], dtype=np.int64)
