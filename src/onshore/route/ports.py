"""The port the circuit breakers count failures through (route/breakers.py).

Implemented by the shared Redis controls (failures seen by every replica count together) and by the
in-memory controls (one process), both following `onshore.decide.limits.BreakerPolicy`. Every method
raises `ControlsUnavailable` when the store cannot be reached in time; the breakers then fail open.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class BreakerStore(Protocol):
    async def record_failure(self, backend: str, now: float) -> bool:
        """Count a failure of `backend` at `now`; True if it opened the breaker."""
        ...

    async def record_success(self, backend: str) -> None:
        """Clear the failure count; an open breaker stays open until its cool-down ends."""
        ...

    async def is_open(self, backend: str, now: float) -> bool: ...
