"""Data classes, ordered from least to most sensitive. A request may raise its class, never lower it."""

from __future__ import annotations

DATA_CLASSES: tuple[str, ...] = ("public", "internal", "confidential", "personal", "special_care")
_RANK = {name: rank for rank, name in enumerate(DATA_CLASSES)}


def is_data_class(name: str) -> bool:
    return name in _RANK


def stricter(a: str, b: str) -> str:
    """The more sensitive of two data classes."""
    return a if _RANK[a] >= _RANK[b] else b
