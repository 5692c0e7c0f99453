"""The data-class rule: the key's floor, raised by what the scan found and by the header, never lowered."""

from __future__ import annotations

import pytest

from onshore.decide.data_class import data_class_of
from onshore.refusal import Kind, Refusal


def test_the_floor_stands_when_nothing_raises_it() -> None:
    assert data_class_of("internal", (), None) == "internal"


def test_findings_and_the_header_raise_the_class_never_lower_it() -> None:
    assert data_class_of("internal", {"personal"}, None) == "personal"
    assert data_class_of("confidential", (), " public ") == "confidential"
    assert data_class_of("public", {"personal"}, "special_care") == "special_care"
    assert data_class_of("public", {"special_care"}, "personal") == "special_care"


def test_an_unknown_header_value_is_refused_naming_the_choices() -> None:
    with pytest.raises(Refusal) as info:
        data_class_of("public", (), "secret" * 20)
    assert info.value.kind is Kind.INVALID_DATA_CLASS
    assert info.value.detail == (
        f"Unknown data class '{('secret' * 20)[:40]}' in the Onshore-Data-Class header; "
        "use public, internal, confidential, personal or special_care."
    )
