from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.decide.limits import (
    ADMITTED,
    Budget,
    LimitPolicy,
    Period,
    RateLimit,
    admission,
    charges_for,
    counters_for,
    period_end,
    period_key,
    period_reset_in,
    refuses,
    window_index,
    window_reset_in,
    window_ttl,
)


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp()


PERIODS: list[Period] = ["day", "month"]
NOW = ts(2026, 11, 22, 10, 15, 48)  # 12 s before the minute ends
FULL = LimitPolicy(
    per_key=RateLimit(requests_per_minute=60, tokens_per_minute=10_000),
    per_tenant=RateLimit(requests_per_minute=600, tokens_per_minute=100_000),
    budget=Budget(1_000_000, "month"),
)


def test_window_index_and_reset() -> None:
    assert window_index(NOW) == int(NOW // 60)
    assert window_index(NOW + 11.9) == window_index(NOW)
    assert window_index(NOW + 12) == window_index(NOW) + 1
    assert window_reset_in(NOW) == 12
    assert window_reset_in(NOW + 11.5) == 1  # rounds up, never 0
    assert window_reset_in(NOW + 12) == 60  # exactly at a boundary: a whole new window
    assert window_ttl(NOW) > window_reset_in(NOW)


def test_period_keys() -> None:
    assert period_key("day", NOW) == "2026-11-22"
    assert period_key("month", NOW) == "2026-11"
    assert period_key("day", ts(2026, 11, 22, 23, 59, 59)) == "2026-11-22"
    assert period_key("day", ts(2026, 11, 23)) == "2026-11-23"


def test_periods_are_utc() -> None:
    # 2026-11-22 23:30 in UTC is already the 23rd in Tokyo; the budget period follows UTC.
    assert period_key("day", ts(2026, 11, 22, 23, 30)) == "2026-11-22"


def test_month_rollover() -> None:
    assert period_end("month", NOW) == ts(2026, 12, 1)
    assert period_end("month", ts(2026, 12, 31, 23, 59, 59)) == ts(2027, 1, 1)
    assert period_key("month", ts(2026, 12, 31, 23, 59, 59)) == "2026-12"
    assert period_key("month", ts(2027, 1, 1)) == "2027-01"
    assert period_end("month", ts(2028, 2, 10)) == ts(2028, 3, 1)  # leap year
    assert period_reset_in("month", ts(2026, 11, 30, 23, 59, 30)) == 30


def test_day_reset() -> None:
    assert period_end("day", NOW) == ts(2026, 11, 23)
    assert period_reset_in("day", ts(2026, 11, 22, 23, 0)) == 3600
    assert period_reset_in("day", ts(2026, 11, 22, 23, 59, 59, 500_000)) == 1


def test_counters_for_full_policy() -> None:
    counters = counters_for("k_1", "acme", FULL, NOW)
    assert [c.rule for c in counters] == [
        "tenants.acme.per_key.requests_per_minute",
        "tenants.acme.per_key.tokens_per_minute",
        "tenants.acme.requests_per_minute",
        "tenants.acme.tokens_per_minute",
        "tenants.acme.budget",
    ]
    assert [c.cost for c in counters] == [1, 0, 1, 0, 0]
    assert all(c.key.startswith("{acme}:") for c in counters)  # one Redis Cluster slot per tenant
    assert len({c.key for c in counters}) == 5
    assert counters[-1].key == "{acme}:budget:month:2026-11"
    assert counters[0].retry_after == 12


def test_no_policy_no_counters() -> None:
    assert counters_for("k", "t", LimitPolicy(None, None, None), NOW) == ()
    assert LimitPolicy(None, None, None).empty
    assert LimitPolicy(RateLimit(None, None), None, None).empty
    assert not FULL.empty


def test_keys_differ_per_window_and_key() -> None:
    policy = LimitPolicy(per_key=RateLimit(requests_per_minute=1))
    this = counters_for("k_1", "acme", policy, NOW)[0].key
    assert counters_for("k_1", "acme", policy, NOW + 11)[0].key == this
    assert counters_for("k_1", "acme", policy, NOW + 12)[0].key != this
    assert counters_for("k_2", "acme", policy, NOW)[0].key != this


def test_charges_only_tokens_and_budget() -> None:
    charges = charges_for("k_1", "acme", FULL, 250, NOW)
    assert [c.kind for c in charges] == ["tokens", "tokens", "budget"]
    assert {c.cost for c in charges} == {250}
    assert charges_for("k_1", "acme", FULL, 0, NOW) == ()
    assert charges_for("k_1", "acme", LimitPolicy(per_tenant=RateLimit(requests_per_minute=5)), 10, NOW) == ()


def test_admission_allows_under_every_limit() -> None:
    counters = counters_for("k_1", "acme", FULL, NOW)
    assert admission(counters, [59, 9_999, 599, 99_999, 999_999], NOW) == ADMITTED


def test_tenant_request_limit_message() -> None:
    counters = counters_for("k_1", "acme", FULL, NOW)
    verdict = admission(counters, [0, 0, 600, 0, 0], NOW)
    assert not verdict.allowed
    assert verdict.rule == "tenants.acme.requests_per_minute"
    assert verdict.retry_after == 12
    assert verdict.message == "rate limit tenants.acme.requests_per_minute (600) reached; retry in 12 s"


def test_key_limit_names_the_key() -> None:
    counters = counters_for("k_1", "acme", FULL, NOW)
    verdict = admission(counters, [60, 0, 600, 0, 0], NOW)  # the key's limit is checked first
    assert verdict.rule == "tenants.acme.per_key.requests_per_minute"
    assert (
        verdict.message == "rate limit tenants.acme.per_key.requests_per_minute (60) for key k_1 reached; retry in 12 s"
    )


def test_token_limit_message() -> None:
    counters = counters_for("k_1", "acme", FULL, NOW)
    verdict = admission(counters, [0, 0, 0, 100_000, 0], NOW)
    assert verdict.rule == "tenants.acme.tokens_per_minute"
    assert verdict.message == "rate limit tenants.acme.tokens_per_minute (100,000 tokens) reached; retry in 12 s"


def test_budget_message_and_retry_after() -> None:
    counters = counters_for("k_1", "acme", FULL, NOW)
    verdict = admission(counters, [0, 0, 0, 0, 1_000_000], NOW)
    assert verdict.rule == "tenants.acme.budget"
    assert verdict.retry_after == int(ts(2026, 12, 1) - NOW)
    assert verdict.message == (
        "budget tenants.acme.budget (1,000,000 tokens per month) exhausted; it resets at 2026-12-01 00:00 UTC"
    )


def test_daily_budget_message() -> None:
    policy = LimitPolicy(budget=Budget(5_000, "day"))
    (counter,) = counters_for("k", "acme", policy, NOW)
    assert counter.key == "{acme}:budget:day:2026-11-22"
    verdict = admission([counter], [5_001], NOW)
    assert (
        verdict.message
        == "budget tenants.acme.budget (5,000 tokens per day) exhausted; it resets at 2026-11-23 00:00 UTC"
    )


def test_long_retry_is_readable() -> None:
    policy = LimitPolicy(per_tenant=RateLimit(requests_per_minute=0))
    verdict = admission(counters_for("k", "acme", policy, NOW), [0], NOW)
    assert verdict.message is not None and verdict.message.endswith("retry in 12 s")


def test_mismatched_values_are_an_error() -> None:
    with pytest.raises(ValueError):
        admission(counters_for("k", "acme", FULL, NOW), [0], NOW)


@given(now=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_window_reset_is_within_a_window(now: float) -> None:
    reset = window_reset_in(now)
    assert 1 <= reset <= 60
    # Waiting `reset` seconds always lands in a later window: Retry-After is never too early.
    assert window_index(now + reset) == window_index(now) + 1


@given(now=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False), period=st.sampled_from(PERIODS))
def test_period_reset_lands_in_the_next_period(now: float, period: Period) -> None:
    reset = period_reset_in(period, now)
    assert 1 <= reset <= 31 * 86_400
    # Retry-After for a budget is never too early, and at most a second late.
    assert period_key(period, now + reset) != period_key(period, now)
    assert period_key(period, now + reset - 1.001) == period_key(period, now)


@given(limit=st.integers(min_value=0, max_value=10_000), value=st.integers(min_value=0, max_value=20_000))
def test_refuses_exactly_at_the_limit(limit: int, value: int) -> None:
    (counter,) = counters_for("k", "t", LimitPolicy(per_tenant=RateLimit(requests_per_minute=limit)), NOW)
    assert refuses(counter, value) == (value >= limit)
