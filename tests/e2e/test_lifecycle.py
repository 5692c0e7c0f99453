"""Start and stop the real gateway many times while requests and key refreshes run: never a crash.

The crash this guards against: the key refresher awaited a store call in a thread, shutdown cancelled
the refresher and closed the SQLite connection while the call was still running in it (a segfault).
Here the key index is refreshed every millisecond, checkpoints every few milliseconds, and clients
keep sending requests through every stop.
"""

from __future__ import annotations

import gc
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from onshore.app import open_store
from onshore.prove.chain import verify
from onshore.settings import Settings
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import FakeUpstream

CYCLES = 50
BODY = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hello"}]}).encode()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream("lifecycle").start()
    try:
        yield server
    finally:
        server.stop()


def _settings(data_dir: Path, upstream: FakeUpstream) -> Settings:
    return make_settings(
        data_dir,
        {"jp": backend(upstream.base_url)},
        {"chat": {"routes": [{"backend": "jp", "model": "m"}]}},
        {"acme": rules(["JP"])},
        # Personal-data scanning is off only to keep 50 start-ups quick (it loads a dictionary).
        gateway={
            "key_refresh_seconds": 0.001,
            "audit": {"checkpoint_interval_seconds": 0.005},
            "protect": {"enabled": False},
        },
    )


def _hammer(port: int, key: str, stop: threading.Event, outcomes: dict[str, int]) -> None:
    """Send requests until told to stop; the gateway may vanish under us at any moment."""
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("POST", "/v1/chat/completions", BODY, {"Authorization": f"Bearer {key}"})
            status = conn.getresponse().status
            outcomes[str(status)] = outcomes.get(str(status), 0) + 1
        except (OSError, http.client.HTTPException):
            outcomes["connection"] = outcomes.get("connection", 0) + 1
        finally:
            conn.close()


# A client connecting in the instant the listener closes can be accepted by asyncio after aiohttp
# has shut its connections down; that socket is then only reclaimed when the loop closes (a warning,
# not a crash: the process would exit here). Our own client sockets are closed explicitly above.
@pytest.mark.filterwarnings("ignore:unclosed transport:ResourceWarning")
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_start_stop_under_load_fifty_times(tmp_path: Path, upstream: FakeUpstream) -> None:
    settings = _settings(tmp_path, upstream)
    key = add_key(settings, "acme")
    outcomes: dict[str, int] = {}
    for cycle in range(CYCLES):
        gateway = RunningGateway(settings).start()
        stop = threading.Event()
        clients = [threading.Thread(target=_hammer, args=(gateway.port, key, stop, outcomes)) for _ in range(3)]
        for client in clients:
            client.start()
        if cycle % 10 == 0:
            add_key(settings, "acme")  # a key change while the refresher runs
        time.sleep(0.03 + 0.002 * (cycle % 7))  # stop at varying points in the refresher's cycle
        began = time.monotonic()
        gateway.stop()
        assert time.monotonic() - began < 10, f"cycle {cycle}: shutdown took too long"
        assert gateway.leftover_tasks == [], f"cycle {cycle}: work outlived the gateway"
        stop.set()
        for client in clients:
            client.join(10)
    gc.collect()  # reclaim those late-accepted sockets here, under this test's warning filters
    # Requests were really served while the gateway came and went, and none failed server-side.
    assert outcomes.get("200", 0) >= CYCLES
    assert not {s for s in outcomes if s.startswith("5")}, outcomes
    # Every answered request left an intact chain behind, sealed by the last clean shutdown.
    store = open_store(settings)
    try:
        report = verify(store.iter_records(), store.checkpoints(), lambda _cp: True)
        assert report.ok, report.first_break
        assert report.records >= outcomes["200"]
        assert store.checkpoints()[-1].seq == report.head.seq
    finally:
        store.close()
