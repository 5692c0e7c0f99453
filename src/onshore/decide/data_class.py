"""A request's data class: the key's floor, raised by what the scan found and by the header, never lowered."""

from __future__ import annotations

from collections.abc import Iterable

from onshore.decide.classes import DATA_CLASSES, is_data_class, stricter
from onshore.refusal import Kind, Refusal

DATA_CLASS_HEADER = "Onshore-Data-Class"  # where a client declares a stricter class for one request
_CHOICES = ", ".join(DATA_CLASSES[:-1]) + " or " + DATA_CLASSES[-1]


def data_class_of(floor: str, implied: Iterable[str], requested: str | None) -> str:
    """The class a request is decided under; an unknown requested class is refused (a typo must not
    silently fall back to the floor)."""
    data_class = floor
    for found in implied:  # what was found can raise the class, never lower it
        data_class = stricter(data_class, found)
    if requested is not None:
        requested = requested.strip()
        if not is_data_class(requested):
            raise Refusal(
                Kind.INVALID_DATA_CLASS,
                f"Unknown data class '{requested[:40]}' in the {DATA_CLASS_HEADER} header; use {_CHOICES}.",
            )
        data_class = stricter(data_class, requested)  # a request may raise its class, never lower it
    return data_class
