"""Rate limits and token budgets: the pure part. Which counters a request touches, and what their values mean.

The clock is always passed in (`now`, seconds since the Unix epoch); nothing here reads it or does I/O.
A store (the `Counters` port in `onshore.service.ports`: Redis, or memory) holds the counters, checks
them and increments them atomically; this module decides which counters exist, their limits and
lifetimes, and turns the one that refused a request into an `Admission` with a message naming the rule.

Windows are FIXED 60-second windows keyed by floor(now / 60), not a sliding-window approximation:

- the count is exact (one integer per counter and window) and the same on every replica, so the limit
  holds for the sum of all replicas' requests, with nothing to estimate;
- Retry-After is exact: the refused client may send again when the window ends, and will be admitted
  (a sliding approximation can only estimate when its weighted count falls far enough);
- it is cheap (one GET and at most one INCRBY per counter) and easy to explain to an operator.

The price is the well-known boundary burst: a client may send `limit` requests at the end of one window
and `limit` more at the start of the next, so over an arbitrary 60 s span up to 2 x limit can pass. Per
minute limits here protect capacity and fairness, not security, so that is accepted.

Admission counts a request against the request windows only if every check passes: a refused request
consumes nothing (neither a request slot nor any budget). Token windows and the budget are only CHECKED
at admission (the tokens a request uses are known when it ends) and charged afterwards; so a request is
refused once a token window or the budget is used up, and one admitted request may overshoot it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

WINDOW_SECONDS = 60
WINDOW_GRACE_SECONDS = 60  # a window's counter outlives the window by this much, then Redis drops it
BUDGET_GRACE_SECONDS = 35 * 86_400  # a period's budget counter stays readable (reports) this long after it

Period = Literal["day", "month"]
CounterKind = Literal["requests", "tokens", "budget"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    tokens: int
    period: Period


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    per_key: RateLimit | None = None  # applies to each API key of the tenant separately
    per_tenant: RateLimit | None = None  # applies to all keys of the tenant together
    budget: Budget | None = None  # tokens per UTC day or month, for the whole tenant

    @property
    def empty(self) -> bool:
        """True when nothing is limited: the caller can skip the store entirely."""
        per_key, per_tenant = self.per_key or RateLimit(), self.per_tenant or RateLimit()
        return (
            self.budget is None
            and per_key.requests_per_minute is None
            and per_key.tokens_per_minute is None
            and per_tenant.requests_per_minute is None
            and per_tenant.tokens_per_minute is None
        )


@dataclass(frozen=True, slots=True)
class Standing:
    """Where the caller stands against one limit after this request: for the x-ratelimit-* headers."""

    limit: int
    remaining: int
    reset_in: int  # seconds until the counter resets


@dataclass(frozen=True, slots=True)
class Quota:
    """The tightest request limit and the tightest token limit (a window or the budget) that apply."""

    requests: Standing | None = None
    tokens: Standing | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    rule: str | None  # the rule that refused, e.g. "tenants.acme.requests_per_minute"
    retry_after: int | None  # seconds, for a Retry-After header
    message: str | None  # for the client and the audit record
    quota: Quota | None = None  # known when the store read the counters (not for "nothing limited")


ADMITTED = Admission(True, None, None, None)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A circuit breaker shared by all replicas, deliberately simple.

    `threshold` failures of a backend within `window` seconds (counted over all replicas) open its
    breaker for `cooldown` seconds; while open the backend is skipped. When the cool-down ends the
    breaker is closed again with a fresh count (there is no separate half-open probe: if the backend
    still fails, `threshold` more failures reopen it). A success clears the failure count but does not
    close an open breaker early (a slow request that started before the breaker opened could succeed).
    """

    threshold: int = 5
    window: float = 30.0
    cooldown: float = 30.0


@dataclass(frozen=True, slots=True)
class Counter:
    """One counter a request is checked (and maybe counted) against.

    `key` is relative: the store adds its own prefix. At admission the request is refused when
    `value + 1 > limit` (no request slot left, or the token window / budget already used up); if every
    counter passes, each is incremented by `cost` (1 for a request window, 0 for tokens and budget,
    which are charged after the request).
    """

    key: str
    kind: CounterKind
    rule: str
    limit: int
    cost: int
    ttl: int  # seconds the store keeps the counter
    retry_after: int  # seconds until the counter resets
    subject: str  # what is limited, for the message: "key k_1" or "tenant acme"
    period: Period | None = None


# --- windows and periods ---------------------------------------------------------------------------


def window_index(now: float) -> int:
    """The fixed 60 s window `now` falls in."""
    return math.floor(now / WINDOW_SECONDS)


def window_reset_in(now: float) -> int:
    """Whole seconds until the current window ends (at least 1): the Retry-After for a window limit."""
    end = (window_index(now) + 1) * WINDOW_SECONDS
    return max(1, math.ceil(end - now))


def window_ttl(now: float) -> int:
    return window_reset_in(now) + WINDOW_GRACE_SECONDS


def _utc(now: float) -> datetime:
    # Whole seconds: fromtimestamp rounds microseconds, which could put 23:59:59.9999996 in the next day.
    return datetime.fromtimestamp(math.floor(now), tz=UTC)


def period_key(period: Period, now: float) -> str:
    """The UTC period `now` falls in: "2026-11-22" for a day, "2026-11" for a month."""
    moment = _utc(now)
    return moment.strftime("%Y-%m-%d") if period == "day" else moment.strftime("%Y-%m")


def period_end(period: Period, now: float) -> float:
    """The Unix time the UTC period containing `now` ends (midnight, or the first of the next month)."""
    moment = _utc(now)
    if period == "day":
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return start.timestamp() + 86_400
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def period_reset_in(period: Period, now: float) -> int:
    """Whole seconds until the budget period resets (at least 1)."""
    return max(1, math.ceil(period_end(period, now) - now))


# --- rule names and messages -------------------------------------------------------------------------


def _rule(tenant: str, scope: Literal["key", "tenant"], field: str) -> str:
    return f"tenants.{tenant}.per_key.{field}" if scope == "key" else f"tenants.{tenant}.{field}"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7_200:
        return f"{math.ceil(seconds / 60)} min"
    if seconds < 2 * 86_400:
        return f"{math.ceil(seconds / 3_600)} h"
    return f"{math.ceil(seconds / 86_400)} days"


def refusal_message(counter: Counter, now: float) -> str:
    """What to tell the client when `counter` refused its request."""
    if counter.kind == "budget":
        assert counter.period is not None
        resets = time.strftime("%Y-%m-%d %H:%M", time.gmtime(period_end(counter.period, now)))
        return (
            f"budget {counter.rule} ({counter.limit:,} tokens per {counter.period}) exhausted; "
            f"it resets at {resets} UTC"
        )
    what = f"{counter.limit:,}" if counter.kind == "requests" else f"{counter.limit:,} tokens"
    of = f" for {counter.subject}" if counter.subject.startswith("key ") else ""
    return f"rate limit {counter.rule} ({what}){of} reached; retry in {_duration(counter.retry_after)}"


# --- plans and verdicts --------------------------------------------------------------------------------


def _window_counters(
    scope: Literal["key", "tenant"], ident: str, tenant: str, limit: RateLimit, now: float
) -> list[Counter]:
    counters: list[Counter] = []
    window = window_index(now)
    ttl, reset = window_ttl(now), window_reset_in(now)
    tag = "k" if scope == "key" else "t"
    subject = f"key {ident}" if scope == "key" else f"tenant {tenant}"
    if limit.requests_per_minute is not None:
        counters.append(
            Counter(
                f"{{{tenant}}}:rpm:{tag}:{ident}:{window}",
                "requests",
                _rule(tenant, scope, "requests_per_minute"),
                limit.requests_per_minute,
                1,
                ttl,
                reset,
                subject,
            )
        )
    if limit.tokens_per_minute is not None:
        counters.append(
            Counter(
                f"{{{tenant}}}:tpm:{tag}:{ident}:{window}",
                "tokens",
                _rule(tenant, scope, "tokens_per_minute"),
                limit.tokens_per_minute,
                0,
                ttl,
                reset,
                subject,
            )
        )
    return counters


def counters_for(key_id: str, tenant: str, policy: LimitPolicy, now: float) -> tuple[Counter, ...]:
    """Every counter a request of `key_id` (of `tenant`) is checked against, in the order they are checked:
    the key's windows, the tenant's windows, then the budget.

    Keys carry the tenant as a Redis Cluster hash tag (`{acme}:...`), so one script can touch them all.
    """
    counters: list[Counter] = []
    if policy.per_key is not None:
        counters += _window_counters("key", key_id, tenant, policy.per_key, now)
    if policy.per_tenant is not None:
        counters += _window_counters("tenant", tenant, tenant, policy.per_tenant, now)
    if policy.budget is not None:
        budget = policy.budget
        counters.append(
            Counter(
                f"{{{tenant}}}:budget:{budget.period}:{period_key(budget.period, now)}",
                "budget",
                f"tenants.{tenant}.budget",
                budget.tokens,
                0,
                period_reset_in(budget.period, now) + BUDGET_GRACE_SECONDS,
                period_reset_in(budget.period, now),
                f"tenant {tenant}",
                budget.period,
            )
        )
    return tuple(counters)


def charges_for(key_id: str, tenant: str, policy: LimitPolicy, tokens: int, now: float) -> tuple[Counter, ...]:
    """The counters that `tokens` used tokens are added to (token windows and the budget), with `cost=tokens`.
    Empty when there is nothing to charge."""
    if tokens <= 0:
        return ()
    return tuple(
        Counter(c.key, c.kind, c.rule, c.limit, tokens, c.ttl, c.retry_after, c.subject, c.period)
        for c in counters_for(key_id, tenant, policy, now)
        if c.kind != "requests"
    )


def refuses(counter: Counter, value: int) -> bool:
    """Whether a counter at `value` refuses one more request (the store does the same test in its script)."""
    return value + 1 > counter.limit


def admission(counters: Sequence[Counter], values: Sequence[int], now: float) -> Admission:
    """The verdict for counters read at `values` (before this request): the first counter that refuses wins."""
    for counter, value in zip(counters, values, strict=True):
        if refuses(counter, value):
            return refused(counter, now)
    return ADMITTED


def refused(counter: Counter, now: float) -> Admission:
    standing = Standing(counter.limit, 0, counter.retry_after)
    quota = Quota(requests=standing) if counter.kind == "requests" else Quota(tokens=standing)
    return Admission(False, counter.rule, counter.retry_after, refusal_message(counter, now), quota)


def admitted(counters: Sequence[Counter], values: Sequence[int]) -> Admission:
    """An admission, with the quota the counters at `values` (read before this request) leave."""
    return Admission(True, None, None, None, quota_of(counters, values))


def quota_of(counters: Sequence[Counter], values: Sequence[int]) -> Quota:
    """The tightest limit of each kind once this admitted request is counted (its cost added)."""
    tightest: dict[str, Standing] = {}
    for counter, value in zip(counters, values, strict=True):
        standing = Standing(counter.limit, max(0, counter.limit - value - counter.cost), counter.retry_after)
        kind = "requests" if counter.kind == "requests" else "tokens"
        held = tightest.get(kind)
        if held is None or standing.remaining < held.remaining:
            tightest[kind] = standing
    return Quota(tightest.get("requests"), tightest.get("tokens"))
