"""Backends that misbehave at the socket level: hang, send garbage, stream forever, cut a stream, send
100 MB. Each gets a bounded, OpenAI-shaped answer (or error event), a failover where another compliant
backend exists, one audit record per request saying what happened, and a chain that verifies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.faults.harness import Deployment, chat, check_invariants, stream
from tests.support.bad_upstream import HUGE_BYTES, BadUpstream
from tests.support.gateway import backend, rules
from tests.support.upstream import FakeUpstream

READ_TIMEOUT = 1.0


class World:
    def __init__(self, deployment: Deployment, hang: BadUpstream, bad: BadUpstream, good: FakeUpstream) -> None:
        self.deployment, self.hang, self.bad, self.good = deployment, hang, bad, good

    def client(self) -> openai.OpenAI:
        return self.deployment.client("acme")

    def record(self, request_id: str | None) -> dict[str, Any]:
        (found,) = [r for r in self.deployment.records() if r["id"] == request_id]
        return found

    def close_of(self, request_id: str | None) -> dict[str, Any]:
        (found,) = [r for r in self.deployment.records() if r.get("stream_of") == request_id]
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    hang, bad, good = BadUpstream("hang").start(), BadUpstream("garbage").start(), FakeUpstream("good").start()
    raw = {
        "gateway": {
            "upstream": {"connect_timeout_seconds": 1, "read_timeout_seconds": READ_TIMEOUT},
            "audit": {"checkpoint_interval_seconds": 0.5},
        },
        "backends": {"hang": backend(hang.base_url), "bad": backend(bad.base_url), "good": backend(good.base_url)},
        "models": {
            "hang-then-good": {"routes": [{"backend": "hang", "model": "x"}, {"backend": "good", "model": "x"}]},
            "hang": {"routes": [{"backend": "hang", "model": "x"}]},
            "bad": {"routes": [{"backend": "bad", "model": "x"}]},
        },
        "tenants": {"acme": rules(["JP"])},
    }
    deployment = Deployment.write(tmp_path_factory.mktemp("upstream") / "gw", raw).start("acme")
    try:
        yield World(deployment, hang, bad, good)
    finally:
        deployment.stop()
        for up in (hang, bad, good):
            up.stop()


def test_hang_fails_over_to_the_next_compliant_backend(world: World) -> None:
    with world.client() as client:
        outcome = chat(client, "hang-then-good")
    streamed = stream(world.deployment.url, world.deployment.keys["acme"], "hang-then-good")
    assert outcome.status == 200 and streamed.completed, (outcome, streamed)
    assert READ_TIMEOUT <= outcome.ended - outcome.started < READ_TIMEOUT + 2
    for request_id in (outcome.request_id, streamed.request_id):
        attempts = [(a["backend"], a["outcome"]) for a in world.record(request_id)["attempts"]]
        assert attempts == [("hang", "timeout"), ("good", "ok")]
    check_invariants(world.deployment, [outcome, streamed])


def test_hang_without_another_backend_is_a_504(world: World) -> None:
    with world.client() as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="hang", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 504 and caught.value.code == "upstream_timeout"
    assert caught.value.body["type"] == "api_error"  # type: ignore[index]
    streamed = stream(world.deployment.url, world.deployment.keys["acme"], "hang")
    assert (streamed.status, streamed.code) == (504, "upstream_timeout")
    record = world.record(caught.value.response.headers["Onshore-Request-Id"])
    assert (record["status"], record["error_code"], record["attempts"][0]["outcome"]) == (
        504,
        "upstream_timeout",
        "timeout",
    )
    check_invariants(world.deployment, [streamed])


def test_hang_mid_stream_ends_with_an_error_event(world: World) -> None:
    world.bad.mode = "hang_stream"
    started = time.monotonic()
    streamed = stream(world.deployment.url, world.deployment.keys["acme"], "bad")
    assert time.monotonic() - started < READ_TIMEOUT + 2
    assert (streamed.status, streamed.code, streamed.completed) == (200, "upstream_timeout", False)
    assert world.close_of(streamed.request_id)["outcome"] == "upstream_timeout"
    check_invariants(world.deployment, [streamed])


@pytest.mark.parametrize("mode", ["garbage", "garbage_json"])
def test_garbage_is_a_502_bad_response(world: World, mode: str) -> None:
    world.bad.mode = mode
    with world.client() as client:
        outcome = chat(client, "bad")
    assert (outcome.status, outcome.code) == (502, "upstream_bad_response"), outcome
    check_invariants(world.deployment, [outcome])


def test_garbage_in_a_stream_ends_it_with_an_error_event(world: World) -> None:
    world.bad.mode = "garbage_stream"
    streamed = stream(world.deployment.url, world.deployment.keys["acme"], "bad")
    assert (streamed.status, streamed.code, streamed.completed) == (200, "upstream_bad_response", False)
    assert world.close_of(streamed.request_id)["outcome"] == "upstream_bad_response"
    check_invariants(world.deployment, [streamed])


def test_stream_cut_mid_way_ends_with_an_error_event(world: World) -> None:
    world.bad.mode = "cut_stream"
    streamed = stream(world.deployment.url, world.deployment.keys["acme"], "bad")
    assert (streamed.status, streamed.code, streamed.completed) == (200, "upstream_error", False)
    assert world.close_of(streamed.request_id)["outcome"] == "upstream_cut"
    # The official SDK surfaces the error event as an exception, never as a normal end of the answer.
    with world.client() as client, pytest.raises(openai.APIError, match="broke off"):
        for _chunk in client.chat.completions.create(
            model="bad", messages=[{"role": "user", "content": "Hi"}], stream=True
        ):
            pass
    check_invariants(world.deployment, [streamed])


class PeakRss:
    """The process's resident set, sampled every 5 ms while the block runs (the gateway runs here)."""

    def __init__(self) -> None:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.parametrize("mode", ["huge", "huge_chunked"])
def test_a_100mb_body_is_refused_with_bounded_memory(world: World, mode: str) -> None:
    world.bad.mode = mode
    sent_before = world.bad.bytes_sent
    with PeakRss() as rss, world.client() as client:
        outcome = chat(client, "bad")
    assert (outcome.status, outcome.code) == (502, "upstream_bad_response"), outcome
    print(f"{mode}: RSS +{rss.growth_mb:.1f} MB, upstream sent {(world.bad.bytes_sent - sent_before) / 2**20:.1f} MB")
    assert rss.growth_mb < 80, f"RSS grew {rss.growth_mb:.1f} MB"
    assert world.bad.bytes_sent - sent_before < HUGE_BYTES  # the gateway stopped reading
    check_invariants(world.deployment, [outcome])


def test_endless_stream_a_client_gives_up_on_is_closed_and_recorded(world: World) -> None:
    world.bad.mode = "endless"
    closed_before = world.bad.peer_closed
    with PeakRss() as rss:
        streamed = stream(world.deployment.url, world.deployment.keys["acme"], "bad", max_bytes=2 * 2**20)
    assert (streamed.status, streamed.code) == (200, "client_gave_up")
    assert rss.growth_mb < 40, f"relaying 2 MB grew RSS by {rss.growth_mb:.1f} MB"
    deadline = time.monotonic() + 5
    while world.bad.peer_closed == closed_before:  # the gateway hung up on the backend too
        assert time.monotonic() < deadline, "the gateway kept reading an endless stream nobody reads"
        time.sleep(0.02)
    assert world.close_of(streamed.request_id)["outcome"] == "client_disconnected"
    check_invariants(world.deployment, [streamed])


def test_stream_cut_without_framing_is_not_passed_off_as_complete(world: World) -> None:
    world.bad.mode = "eof_stream"
    streamed = stream(world.deployment.url, world.deployment.keys["acme"], "bad")
    check_invariants(world.deployment, [streamed])
    assert streamed.status == 200 and not streamed.completed, streamed
    assert world.close_of(streamed.request_id)["outcome"] == "upstream_cut"


def test_endless_stream_is_ended_by_the_gateway(world: World, tmp_path: Path) -> None:
    raw = dict(world.deployment.raw)
    raw["gateway"] = {**raw["gateway"], "upstream": {**raw["gateway"]["upstream"], "max_stream_seconds": 1}}
    deployment = Deployment.write(tmp_path / "bounded", raw).start("acme")
    try:
        world.bad.mode = "endless"
        started = time.monotonic()
        streamed = stream(deployment.url, deployment.keys["acme"], "bad", max_bytes=16 * 2**20)
        assert streamed.code not in ("client_gave_up", None) and time.monotonic() - started < 3, streamed
    finally:
        deployment.stop()
