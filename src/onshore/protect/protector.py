"""The protect stage: scan a request's texts once, then pseudonymise them when a backend needs it.

Built once at start-up (the detector and its name layer load then). Pure computation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from onshore.protect.body import collect, has_opaque_parts, walk
from onshore.protect.detect import Detector
from onshore.protect.findings import PSEUDONYMISED_TYPES, Finding, data_class_of
from onshore.protect.pseudonymise import pseudonymise
from onshore.protect.vault import Vault


@dataclass(slots=True)
class Scan:
    endpoint: str
    texts: list[str]
    findings: list[list[Finding]]
    counts: Counter[str] = field(default_factory=Counter)
    opaque: bool = False  # binary parts that could not be scanned

    @property
    def found(self) -> bool:
        return bool(self.counts)

    @property
    def replaceable(self) -> bool:
        return any(t in PSEUDONYMISED_TYPES for t in self.counts)

    def implied_classes(self) -> set[str]:
        """Data classes the findings imply (personal, special_care)."""
        return {c for t in self.counts if (c := data_class_of(t)) in ("personal", "special_care")}


class Protector:
    def __init__(self, detector: Detector, field_names: frozenset[str]) -> None:
        """`field_names`: the request format's own keys (structure, not text), from the wire models."""
        self._detector = detector
        self._field_names = field_names

    def scan(self, body: dict[str, Any], endpoint: str) -> Scan:
        texts = collect(body, self._field_names)
        findings = [self._detector.scan(text) if text else [] for text in texts]
        counts: Counter[str] = Counter(f.type for group in findings for f in group)
        return Scan(endpoint, texts, findings, counts, has_opaque_parts(body))

    def pseudonymise(self, body: dict[str, Any], scan: Scan, vault: Vault) -> dict[str, Any]:
        """A copy of `body` whose texts carry placeholders instead of the values found."""
        replaced = iter([pseudonymise(t, f, vault) for t, f in zip(scan.texts, scan.findings, strict=True)])
        result: dict[str, Any] = walk(body, lambda _original: next(replaced), self._field_names)
        return result
