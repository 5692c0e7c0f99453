"""What every holder of the shared controls (limits, kill switch, breakers) says, whatever it is built on.

The ports that use these live in the stages that consume them (`service/ports.py`, `route/ports.py`,
`edge/ports.py`); the values are here, below every stage, so a store and its consumers name one type.
"""

from __future__ import annotations

from typing import TypedDict


class ControlsUnavailable(Exception):
    """The shared controls could not be reached (or did not answer) within their timeout."""


class DisabledBackend(TypedDict):
    """Why, by whom and since when (Unix seconds) an operator disabled a backend."""

    reason: str
    actor: str
    since: float
