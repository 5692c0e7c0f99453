"""The ports the edge reads and sets the backend kill switch through (edge/state.py, the admin API).

`KillSwitch` is the operators' side: set and list, shared by every replica (Redis) or held in one
process (memory). `SwitchView` is the hot path's side: a synchronous, instant answer to "may this backend
be used?" (the router's filter) and whether that answer is current (readiness). For Redis the view is the
`BackendSwitchWatcher`; the in-memory controls are their own view.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from onshore.decide.controls import DisabledBackend


@runtime_checkable
class KillSwitch(Protocol):
    """Every method raises `ControlsUnavailable` when the store cannot be reached in time."""

    async def disable_backend(self, name: str, reason: str, actor: str, now: float) -> None: ...

    async def enable_backend(self, name: str, actor: str, now: float) -> bool:
        """Enable a backend again; False if it was not disabled."""
        ...

    async def disabled_backends(self) -> dict[str, DisabledBackend]: ...


@runtime_checkable
class SwitchView(Protocol):
    @property
    def healthy(self) -> bool:
        """False while the view cannot be kept current (the shared state is unreadable)."""
        ...

    @property
    def fails_closed(self) -> bool:
        """Whether an unhealthy view counts every backend as disabled (then readiness fails too)."""
        ...

    def is_enabled(self, name: str) -> bool: ...
