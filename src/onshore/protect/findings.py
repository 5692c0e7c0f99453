"""The result type of detection and the data class each type implies."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DATA_CLASS", "PSEUDONYMISED_TYPES", "Finding", "data_class_of"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value; ``start``/``end`` index the ORIGINAL text."""

    type: str
    start: int
    end: int
    text: str
    score: float


# Suggested data class per type; unknown types default to "personal".
DATA_CLASS: dict[str, str] = {
    "my_number": "personal",
    "corporate_number": "corporate",
    "credit_card": "personal",
    "health_insurer_number": "personal",
    "insurance_number": "personal",
    "phone": "personal",
    "postal_code": "personal",
    "address": "personal",
    "bank_account": "personal",
    "passport": "personal",
    "drivers_licence": "personal",
    "pension_number": "personal",
    "email": "personal",
    "ip_address": "personal",
    "date_of_birth": "personal",
    "person_name": "personal",
    "health_info": "special_care",
    "special_care_info": "special_care",
}

# Types that mark the request's sensitivity but are words, not values: they
# are not replaced by placeholders (the model needs "糖尿病" to answer).
_CLASSIFY_ONLY = frozenset({"health_info", "special_care_info", "corporate_number"})
PSEUDONYMISED_TYPES = frozenset(DATA_CLASS) - _CLASSIFY_ONLY


def data_class_of(type_: str) -> str:
    return DATA_CLASS.get(type_, "personal")
