"""Every event type maps to a valid OCSF 1.3.0 event of its class; bursts; the emitter never blocks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from onshore.events.burst import BurstDetector
from onshore.events.model import EventType, SecurityEvent
from onshore.events.ocsf import to_ocsf
from onshore.siem.emitter import Emitter
from onshore.siem.sinks import octet_counted, rfc5424
from tests.unit.events.ocsf_required import missing


def sample(kind: EventType) -> SecurityEvent:
    return SecurityEvent(
        type=kind,
        time=1_750_000_000.25,
        tenant="acme",
        principal="0123456789ab",
        actor="admin-api",
        source="127.0.0.1",
        backend="jp",
        model="chat",
        rule="acme.personal",
        request_id="r1",
        counts=(("phone", 2),),
        count=3,
    )


@pytest.mark.parametrize("kind", list(EventType), ids=lambda k: k.value)
def test_every_event_type_is_a_valid_event_of_its_class(kind: EventType) -> None:
    document = to_ocsf(sample(kind), "0.1.0", "uid-1")
    assert missing(document) == []
    assert document["time"] == 1_750_000_000_250
    assert document["metadata"]["version"] == "1.3.0"


def test_bursts_once_per_window_per_key() -> None:
    bursts = BurstDetector(3, 10.0)
    assert [bursts.failed("a", t) for t in (0, 1)] == [None, None]
    assert bursts.failed("b", 1.5) is None  # another source counts apart
    assert bursts.failed("a", 2) == 3
    assert bursts.failed("a", 3) is None  # the same burst is not reported twice
    assert bursts.failed("a", 20) is None  # the window moved on: old failures are forgotten
    assert [bursts.failed("a", t) for t in (21, 22)] == [None, 3]


def test_syslog_frame_is_octet_counted_rfc5424() -> None:
    message = rfc5424(
        to_ocsf(sample(EventType.RESIDENCY_DENIED), "0.1.0"), facility=13, hostname="h", app_name="onshore", procid="1"
    )
    assert message.startswith(b"<108>1 2025-06-15T15:06:40.250000Z h onshore 1 residency_denied - {")
    assert octet_counted(message) == str(len(message)).encode() + b" " + message


class _Stuck:
    name = "stuck"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def send(self, documents: list[dict[str, Any]]) -> None:
        await self.release.wait()
        self.sent.extend(documents)

    async def aclose(self) -> None:
        return None


def test_a_full_queue_drops_counts_and_reports_the_drops() -> None:
    asyncio.run(_full_queue())


async def _full_queue() -> None:
    sink = _Stuck()
    drops: list[str] = []
    emitter = Emitter([sink], lambda e: to_ocsf(e, "0"), lambda: 0.0, queue_size=2, on_drop=drops.append)
    task = asyncio.create_task(emitter.run())
    emitter.emit(sample(EventType.AUTH_FAILED))
    await asyncio.sleep(0.05)  # the drainer takes it and is stuck sending it
    for _ in range(9):
        emitter.emit(sample(EventType.AUTH_FAILED))  # never awaits: returns at once even while stuck
    assert emitter.dropped_total == 7 and drops == ["stuck"] * 7  # one in flight, two queued
    sink.release.set()
    for _ in range(50):
        await asyncio.sleep(0.01)
    task.cancel()
    codes = [d["metadata"]["event_code"] for d in sink.sent]
    assert codes.count("authentication_failed") == 3
    dropped = [d for d in sink.sent if d["metadata"]["event_code"] == "security_events_dropped"]
    assert dropped and dropped[0]["count"] == 7 and missing(dropped[0]) == []
