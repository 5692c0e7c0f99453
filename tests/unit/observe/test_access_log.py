"""The access log's line formats: logfmt escapes what would break a line or forge a field."""

from __future__ import annotations

import io
import json

from onshore.observe.access_log import AccessLog, fields, logfmt
from onshore.prove.record import RequestTrace


def test_logfmt_quotes_and_escapes_spaces_quotes_newlines_and_equals() -> None:
    line = logfmt(
        {
            "endpoint": "chat",
            "status": 403,
            "ms": 1.5,
            "stream": False,
            "spaced": "a b",
            "quoted": 'say "hi"',
            "forged": "x\nlevel=error event=access",
            "equals": "k=v",
            "backslash": "a\\b",
            "empty": "",
            "skipped": None,
        }
    )
    assert "\n" not in line
    assert line == (
        'endpoint=chat status=403 ms=1.5 stream=false spaced="a b" quoted="say \\"hi\\"" '
        'forged="x\\nlevel=error event=access" equals="k=v" backslash="a\\\\b" empty=""'
    )


def test_a_json_line_is_one_line_and_names_the_request() -> None:
    out = io.StringIO()
    trace = RequestTrace(id="01a2", ts=1_700_000_000.25, endpoint="chat", status=401, outcome="refused")
    trace.error_code = "invalid_api_key"
    AccessLog("json", out).write(fields(trace))
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    line = json.loads(text)
    assert line["ts"] == "2023-11-14T22:13:20.250Z" and line["request_id"] == "01a2"
    assert line["status"] == 401 and line["level"] == "info" and line["error"] == "invalid_api_key"


def test_a_stream_line_takes_the_request_id_and_start_of_its_opening_record() -> None:
    opened = RequestTrace(id="open", ts=10.0, endpoint="chat", kind="stream_open")
    close = RequestTrace(id="close", ts=12.0, endpoint="chat", kind="stream_close", stream_of="open", status=200)
    line = fields(close, opened, ttfb_ms=12.5, total_ms=2000.0)
    assert line["request_id"] == "open" and line["ts"].endswith(":10.000Z")
    assert line["stream"] is True and line["ttfb_ms"] == 12.5 and line["total_ms"] == 2000.0
