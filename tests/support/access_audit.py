"""The suite's access log, checked as a whole: every gateway the tests start (through
`make_settings`) appends its access-log lines to one file, and at the end of the run that file
must hold no personal value and no credential, whatever each test sent.

Personal values are found by the gateway's own detector (phones, My Numbers, corporate numbers,
e-mail addresses, postal addresses, names in Japanese script, ...), credentials by their shape
(Onshore API keys, bearer JWTs, `sk-` provider keys)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

ACCESS_LOG_ENV = "ONSHORE_TEST_ACCESS_LOG"
_CREDENTIALS = {
    "onshore API key": re.compile(r"onsk_[0-9a-f]{12}_[A-Za-z0-9_-]{16,}"),
    "bearer JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}"),
    "provider key": re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
}


@dataclass(frozen=True)
class Leak:
    line: int
    kind: str
    excerpt: str  # the leaked value itself is not repeated: only its kind and where it is


def suite_access_log() -> Path | None:
    value = os.environ.get(ACCESS_LOG_ENV)
    return Path(value) if value else None


# Ids the gateway makes itself (a key id is 12 hex digits, and 12 decimal ones can pass a My Number's
# check digit): not scanned for personal data, still scanned for credentials.
_OWN_IDS = ("request_id", "principal", "ts")


def leaks(text: str) -> list[Leak]:
    from onshore.protect.detect import Detector, DetectorConfig

    detector = Detector.from_config(DetectorConfig(enable_names=True))
    found: list[Leak] = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in _CREDENTIALS.items():
            for match in pattern.finditer(line):
                found.append(Leak(number, kind, _around(line, match.start(), match.end())))
        scanned = _without_own_ids(line)
        for finding in detector.scan(scanned):
            found.append(Leak(number, finding.type, _around(scanned, finding.start, finding.end)))
    return found


def _without_own_ids(line: str) -> str:
    try:
        document = json.loads(line)
    except json.JSONDecodeError:
        return line  # logfmt or anything else: scanned whole
    if not isinstance(document, dict):
        return line
    return json.dumps({k: v for k, v in document.items() if k not in _OWN_IDS}, ensure_ascii=False)


def _around(line: str, start: int, end: int) -> str:
    return line[max(0, start - 30) : start] + "[…]" + line[end : end + 30]
