"""The access log: one line per request (a stream: one line at its close), JSON or logfmt.

Every field comes from the RequestTrace the audit record is made of (prove/record.py), read when the
record is written, so nothing is computed twice. What a line may hold is what the audit record may
hold minus the digests: ids, names from the config, numbers, counts. Never content, keys, tokens or
personal values: the principal is the key id (public, in every key) or the `oidc:<issuer>#<subject>`
principal id the audit record names, never the credential.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Literal, TextIO

import msgspec

from onshore.prove.record import RequestTrace

Format = Literal["json", "logfmt"]
_json = msgspec.json.Encoder()


def fields(
    trace: RequestTrace,
    opened: RequestTrace | None = None,
    ttfb_ms: float | None = None,
    total_ms: float | None = None,
) -> dict[str, Any]:
    """The line's fields. For a stream, `trace` is its closing record and `opened` its opening one:
    the request id the client saw is the opening record's; `total_ms` runs from the request's
    arrival to the close, `ttfb_ms` to the first answer chunk."""
    total = trace.total_ms if total_ms is None else total_ms
    decision, chosen, usage, pd = trace.decision, trace.chosen, trace.usage or {}, trace.personal_data
    line: dict[str, Any] = {
        "ts": _iso(trace.ts if opened is None else opened.ts),
        "level": "error" if trace.status >= 500 else "info",
        "event": "access",
        "request_id": trace.stream_of or trace.id,
        "endpoint": trace.endpoint,
        "stream": opened is not None,
        "tenant": trace.tenant,
        "principal": trace.key_id,
        "model": trace.model,
        "data_class": trace.data_class,
        "rule": None if decision is None else decision.verdict.rule_id,
        "backend": None if chosen is None else chosen.name,
        "jurisdiction": None if chosen is None else chosen.jurisdiction,
        "status": trace.status,
        "outcome": trace.outcome,
        "error": trace.error_code,
        "total_ms": round(total, 3),
        "upstream_ms": None if trace.upstream_ms is None else round(trace.upstream_ms, 3),
        "ttfb_ms": None if ttfb_ms is None else round(ttfb_ms, 3),
        "tokens_in": usage.get("prompt_tokens"),
        "tokens_out": usage.get("completion_tokens"),
        "usage_source": trace.usage_source,
        "attempts": len(trace.attempts),
        "failovers": sum(1 for a in trace.attempts if a.get("outcome") != "ok"),
    }
    if pd is not None:  # types and counts, and what was done: never a value
        found = pd.get("found") or {}
        line["pii_found"] = ",".join(f"{kind}:{n}" for kind, n in sorted(found.items())) or None
        line["pii_count"] = sum(found.values())
        line["pii_pseudonymised_for"] = ",".join(pd.get("pseudonymised_for") or ()) or None
        line["pii_blocked_for"] = ",".join(pd.get("blocked_backends") or ()) or None
    return line


def plain_fields(
    ts: float, request_id: str, endpoint: str, status: int, total_ms: float, tenant: str | None, principal: str | None
) -> dict[str, Any]:
    """The line of an API request that makes no audit record of its own (listing models, reading or
    deleting a kept Responses turn: those are audited by what they read): who, what, the status, the time."""
    return {
        "ts": _iso(ts),
        "level": "error" if status >= 500 else "info",
        "event": "access",
        "request_id": request_id,
        "endpoint": endpoint,
        "stream": False,
        "tenant": tenant,
        "principal": principal,
        "status": status,
        "outcome": "ok" if status < 400 else ("error" if status >= 500 else "refused"),
        "total_ms": round(total_ms, 3),
    }


def _iso(ts: float) -> str:
    seconds = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((ts - seconds) * 1000):03d}Z"


def logfmt(line: dict[str, Any]) -> str:
    """key=value pairs; a value with a space, quote, `=` or control character is quoted and escaped,
    so one line is always one record (a newline in a value can never start a forged line)."""
    return " ".join(f"{key}={_logfmt_value(value)}" for key, value in line.items() if value is not None)


def _logfmt_value(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text and not any(c in text for c in ' "=\\') and text.isprintable():
        return text
    return _json.encode(text).decode()  # a JSON string: quotes, backslashes and control characters escaped


class AccessLog:
    """Writes each line to a text stream (stdout, stderr, or a file opened for appending). A line is
    written whole, under a lock, and flushed, so a tailing shipper never reads half a line."""

    def __init__(self, fmt: Format, stream: TextIO, *, owns: bool = False) -> None:
        self._render = logfmt if fmt == "logfmt" else (lambda line: _json.encode(line).decode())
        self._stream = stream
        self._owns = owns
        self._lock = threading.Lock()

    @classmethod
    def open(cls, fmt: Format, path: str) -> AccessLog:
        if path == "stdout":
            return cls(fmt, sys.stdout)
        if path == "stderr":
            return cls(fmt, sys.stderr)
        return cls(fmt, open(path, "a", encoding="utf-8"), owns=True)  # closed by close()

    def write(self, line: dict[str, Any]) -> None:
        text = self._render(line) + "\n"
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):  # a full disk or a closed stream never fails a request
                pass

    def close(self) -> None:
        if self._owns:
            self._stream.close()
