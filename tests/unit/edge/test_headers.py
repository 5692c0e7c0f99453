"""The standard headers: what each dialect's SDK reads, from the quota admission computed."""

from __future__ import annotations

from onshore.decide.limits import Counter, CounterKind, Quota, Standing, admitted, quota_of, refused
from onshore.edge.headers import anthropic_headers, duration, openai_headers

NOW = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def _counter(kind: CounterKind, limit: int, cost: int, reset: int) -> Counter:
    return Counter(f"k:{kind}:{limit}", kind, f"tenants.acme.{kind}", limit, cost, reset + 60, reset, "tenant acme")


def test_durations_read_as_openai_writes_them() -> None:
    assert [duration(s) for s in (0, 1, 59, 60, 61, 3600, 3723)] == [
        "0s",
        "1s",
        "59s",
        "1m0s",
        "1m1s",
        "1h0m0s",
        "1h2m3s",
    ]


def test_the_quota_is_the_tightest_limit_of_each_kind_after_this_request() -> None:
    per_key, per_tenant = _counter("requests", 10, 1, 30), _counter("requests", 100, 1, 30)
    tokens, budget = _counter("tokens", 1000, 0, 30), _counter("budget", 50_000, 0, 3600)
    quota = quota_of((per_key, per_tenant, tokens, budget), (9, 20, 400, 49_900))
    assert quota == Quota(requests=Standing(10, 0, 30), tokens=Standing(50_000, 100, 3600))
    assert admitted((per_key,), (3,)).quota == Quota(requests=Standing(10, 6, 30))


def test_a_refusal_says_its_limit_is_used_up() -> None:
    quota = refused(_counter("tokens", 1000, 0, 42), NOW).quota
    assert quota == Quota(tokens=Standing(1000, 0, 42))


def test_openai_and_anthropic_names() -> None:
    quota = Quota(requests=Standing(10, 4, 30), tokens=Standing(1000, 250, 90))
    assert openai_headers("id-1", quota, NOW) == {
        "x-request-id": "id-1",
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "30s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "250",
        "x-ratelimit-reset-tokens": "1m30s",
    }
    assert anthropic_headers("id-1", quota, NOW) == {
        "request-id": "id-1",
        "x-request-id": "id-1",
        "anthropic-ratelimit-requests-limit": "10",
        "anthropic-ratelimit-requests-remaining": "4",
        "anthropic-ratelimit-requests-reset": "2026-09-21T14:13:50Z",
        "anthropic-ratelimit-tokens-limit": "1000",
        "anthropic-ratelimit-tokens-remaining": "250",
        "anthropic-ratelimit-tokens-reset": "2026-09-21T14:14:50Z",
    }
    assert openai_headers("id-2", None, NOW) == {"x-request-id": "id-2"}
