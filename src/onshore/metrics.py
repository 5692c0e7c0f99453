"""Prometheus metrics, on a registry owned by the app (no module-level globals).

Every label value is bounded by the config: endpoints, statuses, backend and model names as
configured (a model is labelled only once admit has matched it to a configured name), never a
string a client sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
)

_RATE_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


# prometheus_client's labels() converts, validates and takes a lock on every call (about 1.5 µs; a
# request asks five to eight times). These look a label set up in a dict first: the sets are bounded
# by the config (see above), and a child, once made, is the same object prometheus_client keeps.
_M = TypeVar("_M")


def _child(children: dict[tuple[str, ...], _M], make: Callable[..., _M], values: tuple[str, ...]) -> _M:
    child = children.get(values)
    if child is None:
        child = children[values] = make(*values)
    return child


class _LabelledCounter(Counter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[tuple[str, ...], _LabelledCounter] = {}

    def labels(self, *values: str) -> _LabelledCounter:  # type: ignore[override]  # positional str only
        return _child(self._children, super().labels, values)


class _LabelledHistogram(Histogram):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[tuple[str, ...], _LabelledHistogram] = {}

    def labels(self, *values: str) -> _LabelledHistogram:  # type: ignore[override]  # positional str only
        return _child(self._children, super().labels, values)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = _LabelledCounter(
            "onshore_requests",
            "Requests answered, by endpoint, HTTP status and model (a configured name; empty before one is known).",
            ["endpoint", "status", "model"],
            registry=self.registry,
        )
        self.decisions = _LabelledCounter(
            "onshore_decisions",
            "Residency decisions, by outcome (allowed or denied).",
            ["outcome"],
            registry=self.registry,
        )
        self.denials = _LabelledCounter(
            "onshore_denials",
            "Requests refused, by the rule or check that refused them.",
            ["rule"],
            registry=self.registry,
        )
        self.upstream_latency = _LabelledHistogram(
            "onshore_upstream_latency_seconds",
            "Time spent waiting for the backend, by backend.",
            ["backend"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.overhead = Histogram(
            "onshore_gateway_overhead_seconds",
            "The gateway's own time per request (total minus backend).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.failovers = _LabelledCounter(
            "onshore_failovers",
            "Backend attempts that failed and moved on, by backend and outcome.",
            ["backend", "outcome"],
            registry=self.registry,
        )
        self.tokens = _LabelledCounter(
            "onshore_tokens",
            "Tokens reported by backends, by kind (prompt or completion) and model.",
            ["kind", "model"],
            registry=self.registry,
        )
        self.time_to_first_token = _LabelledHistogram(
            "onshore_time_to_first_token_seconds",
            "Streams: from the request's arrival to the first answer chunk relayed, by model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens_per_second = _LabelledHistogram(
            "onshore_stream_tokens_per_second",
            "Streams: completion tokens per second from the first chunk to the end, by model.",
            ["model"],
            buckets=_RATE_BUCKETS,
            registry=self.registry,
        )
        self.spans_dropped = Counter(
            "onshore_spans_dropped",
            "Trace spans not exported (the queue was full, or the collector refused or was unreachable).",
            registry=self.registry,
        )
        self.security_events_dropped = _LabelledCounter(
            "onshore_security_events_dropped",
            "Security events a sink could not take (its queue was full), by sink.",
            ["sink"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
