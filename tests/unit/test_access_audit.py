"""The suite's access-log check finds what must never be logged, and not the gateway's own ids."""

from __future__ import annotations

import json

from tests.support.access_audit import leaks


def test_personal_values_and_credentials_are_found() -> None:
    lines = [
        json.dumps({"endpoint": "chat", "error": "電話は090-1234-5678です"}, ensure_ascii=False),
        "endpoint=chat key=onsk_0123456789ab_AbCdEfGhIjKlMnOpQrStUv",
        json.dumps({"principal": "onsk_0123456789ab_AbCdEfGhIjKlMnOpQrStUv"}),  # a credential, even in an id field
        json.dumps({"note": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}),
    ]
    kinds = [(leak.line, leak.kind) for leak in leaks("\n".join(lines))]
    assert (1, "phone") in kinds and (2, "onshore API key") in kinds
    assert (3, "onshore API key") in kinds and (4, "bearer JWT") in kinds
    assert all("090-1234-5678" not in leak.excerpt for leak in leaks(lines[0]))  # never repeated


def test_the_gateways_own_ids_are_not_personal_data() -> None:
    # 12 decimal digits with a valid My Number check digit, as a key id can be by chance.
    line = json.dumps({"principal": "123456789018", "request_id": "01a237f6-cd61-7122-9b77-1f0763762960"})
    assert leaks(line) == []
