"""Security events as CEF lines: the same facts as the OCSF document, escaped so that no value can
forge a field, and parseable back by the rules of the format."""

from __future__ import annotations

import re

import pytest

from onshore.events.cef import to_cef
from onshore.events.model import EventType, SecurityEvent
from onshore.events.ocsf import to_ocsf
from onshore.siem.sinks import rfc5424
from tests.unit.events.test_ocsf import sample

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_KEY = re.compile(r"(?:^| )([A-Za-z0-9]+)=")


def parse(line: str) -> tuple[list[str], dict[str, str]]:
    """Split a CEF line into its seven header fields and its extension, undoing the escapes."""
    parts = _UNESCAPED_PIPE.split(line, maxsplit=7)
    assert len(parts) == 8, line
    header = [p.replace("\\|", "|").replace("\\\\", "\\") for p in parts[:7]]
    extension: dict[str, str] = {}
    text = parts[7]
    keys = [m for m in _KEY.finditer(text) if text[m.start(1) - 1 : m.start(1)] != "\\"]
    for here, after in zip(keys, [*keys[1:], None], strict=True):
        raw = text[here.end() : after.start() if after is not None else len(text)]
        extension[here.group(1)] = raw.replace("\\=", "=").replace("\\n", "\n").replace("\\\\", "\\")
    return header, extension


@pytest.mark.parametrize("kind", list(EventType), ids=lambda k: k.value)
def test_every_event_type_is_a_cef_line_with_its_facts(kind: EventType) -> None:
    document = to_ocsf(sample(kind), "0.1.0", "uid-1")
    header, extension = parse(to_cef(document))
    assert header[:5] == ["CEF:0", "Onshore", "Onshore", "0.1.0", kind.value]
    assert header[5] == document["message"]
    assert 0 <= int(header[6]) <= 10
    assert extension["rt"] == str(document["time"]) and extension["externalId"] == "uid-1"
    assert extension["cs1Label"] == "tenant" and extension["cs1"] == "acme"
    assert extension["cs2Label"] == "backend" and extension["cs2"] == "jp"
    assert extension["cs4Label"] == "rule" and extension["cs4"] == "acme.personal"
    assert extension["cs5Label"] == "requestId" and extension["cs5"] == "r1"
    assert extension["cs6"] == "phone:2"


def test_severity_and_action_follow_the_ocsf_document() -> None:
    denied = parse(to_cef(to_ocsf(sample(EventType.RESIDENCY_DENIED), "0.1.0")))
    assert denied[0][6] == "5" and denied[1]["act"] == "blocked" and denied[1]["outcome"] == "Failure"
    tampered = parse(to_cef(to_ocsf(sample(EventType.AUDIT_VERIFICATION_FAILED), "0.1.0")))
    assert tampered[0][6] == "10" and "act" not in tampered[1]
    kill = parse(to_cef(to_ocsf(sample(EventType.BACKEND_DISABLED), "0.1.0")))
    assert kill[1]["suser"] == "admin-api" and kill[1]["act"] == "allowed"


def test_values_cannot_forge_fields() -> None:
    # Configured names reach events, and an operator's name may hold any character: none may end a
    # field, start a new key or a new record.
    hostile = SecurityEvent(
        type=EventType.RESIDENCY_DENIED,
        time=1_750_000_000.0,
        tenant="a=b suser=root",
        backend="x|y\\z",
        rule="line\nCEF:0|forged",
        request_id="r1",
    )
    document = to_ocsf(hostile, "1|2")
    line = to_cef(document)
    assert "\n" not in line and "\r" not in line
    header, extension = parse(line)
    assert header[3] == "1|2"
    assert extension["cs1"] == "a=b suser=root" and "suser" not in extension
    assert extension["cs2"] == "x|y\\z"
    assert extension["cs4"] == "line\nCEF:0|forged"


def test_a_syslog_message_carries_the_cef_line_when_asked() -> None:
    document = to_ocsf(sample(EventType.RESIDENCY_DENIED), "0.1.0")
    message = rfc5424(document, facility=13, hostname="h", app_name="onshore", procid="1", message_format="cef")
    assert message.startswith(b"<108>1 2025-06-15T15:06:40.250000Z h onshore 1 residency_denied - CEF:0|Onshore|")
    assert message.decode().split(" - ", 1)[1] == to_cef(document)
