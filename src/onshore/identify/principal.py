"""The authenticated caller, as the later stages see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    tenant: str
    floor: str
    models: frozenset[str] | None  # None: any model

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models
