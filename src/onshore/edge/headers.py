"""The standard response headers clients and their SDKs read: the request id, and where the caller
stands against its rate limits, named as each dialect's provider names them.

OpenAI: `x-request-id` (the SDK's `_request_id`), `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
with resets as durations ("1s", "6m0s"). Anthropic: `request-id` (the SDK's `_request_id`) and
`anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` with resets as RFC 3339 times.
The same id as Onshore-Request-Id, which is sent as well.
"""

from __future__ import annotations

import time

from onshore.decide.limits import Quota, Standing

X_REQUEST_ID = "x-request-id"


def duration(seconds: int) -> str:
    """A reset as OpenAI writes it: "45s", "6m0s", "2h3m0s"."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _openai_limit(headers: dict[str, str], kind: str, standing: Standing | None) -> None:
    if standing is not None:
        headers[f"x-ratelimit-limit-{kind}"] = str(standing.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(standing.remaining)
        headers[f"x-ratelimit-reset-{kind}"] = duration(standing.reset_in)


def openai_headers(request_id: str, quota: Quota | None, now: float) -> dict[str, str]:
    headers = {X_REQUEST_ID: request_id}
    if quota is not None:
        _openai_limit(headers, "requests", quota.requests)
        _openai_limit(headers, "tokens", quota.tokens)
    return headers


def _anthropic_limit(headers: dict[str, str], kind: str, standing: Standing | None, now: float) -> None:
    if standing is not None:
        headers[f"anthropic-ratelimit-{kind}-limit"] = str(standing.limit)
        headers[f"anthropic-ratelimit-{kind}-remaining"] = str(standing.remaining)
        headers[f"anthropic-ratelimit-{kind}-reset"] = rfc3339(now + standing.reset_in)


def anthropic_headers(request_id: str, quota: Quota | None, now: float) -> dict[str, str]:
    headers = {"request-id": request_id, X_REQUEST_ID: request_id}
    if quota is not None:
        _anthropic_limit(headers, "requests", quota.requests, now)
        _anthropic_limit(headers, "tokens", quota.tokens, now)
    return headers
