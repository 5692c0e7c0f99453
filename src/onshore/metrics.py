"""Prometheus metrics, on a registry owned by the app (no module-level globals).

Every label value is bounded by the config: endpoints, statuses, backend and model names as
configured (a model is labelled only once admit has matched it to a configured name), never a
string a client sent."""

from __future__ import annotations

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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "onshore_requests",
            "Requests answered, by endpoint, HTTP status and model (a configured name; empty before one is known).",
            ["endpoint", "status", "model"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "onshore_decisions",
            "Residency decisions, by outcome (allowed or denied).",
            ["outcome"],
            registry=self.registry,
        )
        self.denials = Counter(
            "onshore_denials",
            "Requests refused, by the rule or check that refused them.",
            ["rule"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
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
        self.failovers = Counter(
            "onshore_failovers",
            "Backend attempts that failed and moved on, by backend and outcome.",
            ["backend", "outcome"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "onshore_tokens",
            "Tokens reported by backends, by kind (prompt or completion) and model.",
            ["kind", "model"],
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "onshore_time_to_first_token_seconds",
            "Streams: from the request's arrival to the first answer chunk relayed, by model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens_per_second = Histogram(
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
        self.security_events_dropped = Counter(
            "onshore_security_events_dropped",
            "Security events a sink could not take (its queue was full), by sink.",
            ["sink"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
