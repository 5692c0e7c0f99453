"""Spans kept on the request path as timestamps and attributes only; a sink (otlp.py) encodes and
sends them off the path. One request is one trace: a root span and one child per stage.

With telemetry off nothing here runs: `instrument` is never called and the stages are the plain
methods (no wrapper, no check). With it on, each stage method of the object given is replaced on
that instance by a wrapper that notes its start and end.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from onshore.prove.record import RequestTrace

INTERNAL, SERVER, CLIENT = 1, 2, 3  # OTLP SpanKind
# The stage methods of service/steps.py's Steps, and the span each becomes.
STAGES = {
    "caller": "identify",
    "admit": "admit",
    "scan": "protect.scan",
    "decide": "decide",
    "plan": "protect.plan",
    "open": "route",
    "record": "prove",
}


@dataclass(slots=True)
class Span:
    name: str
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int
    kind: int = INTERNAL
    error: bool = False
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(slots=True)
class RequestSpans:
    """One request's trace while it is served."""

    trace_id: str
    root_id: str
    start_ns: int
    spans: list[Span] = field(default_factory=list)
    opened_ns: int | None = None  # a stream: when its opening record was written (the relay starts)


Sink = Callable[[str, list[Span]], None]  # (trace id, spans): must not block
_current: contextvars.ContextVar[RequestSpans | None] = contextvars.ContextVar("onshore_spans", default=None)


def _span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


class Tracer:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def begin(self) -> None:
        """A new request, in the current task's context."""
        _current.set(RequestSpans(f"{random.getrandbits(128) or 1:032x}", _span_id(), time.time_ns()))

    def stage(self, name: str, start_ns: int, error: bool) -> Span | None:
        spans = _current.get()
        if spans is None:
            return None
        span = Span(name, _span_id(), spans.root_id, start_ns, time.time_ns(), error=error)
        spans.spans.append(span)
        return span

    def routed(self, route: Span | None, trace: RequestTrace) -> None:
        """The upstream attempts as children of the route span, laid out in order from its start."""
        if route is None:
            return
        facts = {} if trace.decision is None else {r.backend.name: r.backend for r in trace.decision.verdict.allowed}
        spans, cursor = _current.get(), route.start_ns
        assert spans is not None  # route exists only inside a request
        for attempt in trace.attempts:
            end = min(route.end_ns, cursor + int(attempt["ms"] * 1e6))
            backend = facts.get(attempt["backend"])
            attributes: dict[str, str | int | float | bool] = {
                "onshore.backend": attempt["backend"],
                "onshore.attempt.outcome": attempt["outcome"],
            }
            if backend is not None:
                attributes["onshore.jurisdiction"] = backend.jurisdiction
            error = attempt["outcome"] != "ok"
            spans.spans.append(Span("upstream", _span_id(), route.span_id, cursor, end, CLIENT, error, attributes))
            cursor = end

    def recorded(self, trace: RequestTrace, failed: bool) -> None:
        """After a record: a stream's opening one starts the relay; any other ends the request."""
        spans = _current.get()
        if spans is None:
            return
        now = time.time_ns()
        if trace.kind == "stream_open" and not failed:
            spans.opened_ns = now
            return
        if spans.opened_ns is not None:
            relay = Span("relay", _span_id(), spans.root_id, spans.opened_ns, now, error=trace.outcome != "completed")
            prove = spans.spans.pop()  # the closing record's prove span comes after the relay
            spans.spans += [relay, prove]
        _current.set(None)
        root = Span("request", spans.root_id, None, spans.start_ns, now, SERVER, trace.status >= 500)
        root.attributes = _attributes(trace)
        self._sink(spans.trace_id, [root, *spans.spans])


def _attributes(trace: RequestTrace) -> dict[str, str | int | float | bool]:
    """Names from the config, ids and numbers: never content or personal values."""
    found: dict[str, Any] = {
        "onshore.request_id": trace.stream_of or trace.id,
        "onshore.endpoint": trace.endpoint,
        "http.response.status_code": trace.status,
        "onshore.outcome": trace.outcome,
        "onshore.tenant": trace.tenant,
        "onshore.principal": trace.key_id,
        "gen_ai.request.model": trace.model,
        "onshore.data_class": trace.data_class,
        "onshore.rule": None if trace.decision is None else trace.decision.verdict.rule_id,
        "onshore.backend": None if trace.chosen is None else trace.chosen.name,
        "onshore.jurisdiction": None if trace.chosen is None else trace.chosen.jurisdiction,
        "onshore.error": trace.error_code,
    }
    if trace.usage:
        found["gen_ai.usage.input_tokens"] = trace.usage.get("prompt_tokens")
        found["gen_ai.usage.output_tokens"] = trace.usage.get("completion_tokens")
    if trace.personal_data is not None:
        found["onshore.personal_data.types"] = ",".join(sorted(trace.personal_data.get("found") or {})) or None
    return {k: v for k, v in found.items() if v is not None}


def instrument(steps: object, tracer: Tracer) -> None:
    """Replace each stage method of `steps` (on the instance) by one that notes a span; `start`
    begins the request's trace. Done once, at start-up."""
    start = steps.start  # type: ignore[attr-defined]

    def begin(*args: Any, **kwargs: Any) -> Any:
        tracer.begin()
        return start(*args, **kwargs)

    object.__setattr__(steps, "start", begin)
    for method, name in STAGES.items():
        object.__setattr__(steps, method, _wrap(getattr(steps, method), name, tracer))


def _wrap(fn: Callable[..., Any], name: str, tracer: Tracer) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            begun, failed = time.time_ns(), True
            try:
                result = await fn(*args, **kwargs)
                failed = False
                return result
            finally:
                span = tracer.stage(name, begun, failed)
                if name == "route" and args:
                    tracer.routed(span, args[0])
                elif name == "prove" and args:
                    tracer.recorded(args[0], failed)

        return traced_async

    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        begun, failed = time.time_ns(), True
        try:
            result = fn(*args, **kwargs)
            failed = False
            return result
        finally:
            tracer.stage(name, begun, failed)

    return traced
