"""OTLP/HTTP with JSON encoding (POST application/json to .../v1/traces), on the aiohttp the gateway
already uses, instead of the OpenTelemetry SDK and its protobuf/requests stack.

The request path only hands over finished spans (`offer`: an append to a bounded queue, never a
wait); a background task batches, encodes and sends them. A full queue drops spans and counts them;
a collector that is down costs the requests nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from onshore.observe.spans import Span

log = logging.getLogger("onshore.telemetry")
_json = msgspec.json.Encoder()
BATCH_SPANS = 512
SEND_TIMEOUT_SECONDS = 5.0


def _value(value: str | int | float | bool) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 as a string, as OTLP/JSON writes it
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": value}


def encode(batch: list[tuple[str, list[Span]]], service_name: str, version: str) -> bytes:
    """An ExportTraceServiceRequest in OTLP's JSON form (ids as hex, as the spec says for JSON)."""
    spans = [
        {
            "traceId": trace_id,
            "spanId": span.span_id,
            **({"parentSpanId": span.parent_id} if span.parent_id else {}),
            "name": span.name,
            "kind": span.kind,
            "startTimeUnixNano": str(span.start_ns),
            "endTimeUnixNano": str(span.end_ns),
            "attributes": [{"key": k, "value": _value(v)} for k, v in span.attributes.items()],
            "status": {"code": 2} if span.error else {},
        }
        for trace_id, trace in batch
        for span in trace
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]}
    scope = {"name": "onshore", "version": version}
    return _json.encode({"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": scope, "spans": spans}]}]})


class OtlpExporter:
    def __init__(
        self,
        endpoint: str,
        service_name: str,
        version: str,
        *,
        headers: dict[str, str] | None = None,
        max_queue: int = 10_000,
        interval: float = 1.0,
        dropped: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self._endpoint = endpoint
        self._service = service_name
        self._version = version
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._queue: collections.deque[tuple[str, list[Span]]] = collections.deque()
        self._queued = 0  # spans in the queue
        self._max = max_queue
        self._interval = interval
        self._dropped = dropped
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.failures = 0

    def offer(self, trace_id: str, spans: list[Span]) -> None:
        """From the request path: queue one request's spans, or drop and count them (never wait)."""
        if self._queued + len(spans) > self._max:
            self._dropped(len(spans))
            return
        self._queue.append((trace_id, spans))
        self._queued += len(spans)
        if self._queued >= BATCH_SPANS:
            self._wake.set()

    async def run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS))
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                self._wake.clear()
                while self._queue:
                    await self._send(self._take())
        finally:
            await self._session.close()

    def _take(self) -> list[tuple[str, list[Span]]]:
        batch, count = [], 0
        while self._queue and count < BATCH_SPANS:
            item = self._queue.popleft()
            batch.append(item)
            count += len(item[1])
        self._queued -= count
        return batch

    async def _send(self, batch: list[tuple[str, list[Span]]]) -> None:
        assert self._session is not None
        body = encode(batch, self._service, self._version)
        try:
            async with self._session.post(self._endpoint, data=body, headers=self._headers) as response:
                if response.status >= 300:
                    raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failures += 1
            self._dropped(sum(len(spans) for _, spans in batch))
            if self.failures == 1 or self.failures % 100 == 0:  # a collector down is said, not flooded
                log.warning("OTLP export to %s failed (%d so far): %s", self._endpoint, self.failures, exc)

    async def flush(self, seconds: float) -> None:
        """At shutdown: send what is queued, for at most `seconds`."""
        if self._session is None or self._session.closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._queue:
                    await self._send(self._take())
