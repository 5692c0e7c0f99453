"""Config reload without a restart, as an operator does it: `onshore serve` as a process, the config
file edited, then `onshore reload` (or a bare SIGHUP). A good change applies to the next request and
is in the audit chain with the new policy hash; a bad one is refused by name and the old config goes
on serving the same request; a key that needs a restart is refused as such; a stream in flight ends
on the config it started with."""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from onshore.settings import load_settings
from tests.support.gateway import add_key
from tests.support.upstream import Behaviour, FakeUpstream

ONSHORE = [sys.executable, "-m", "onshore"]
CLASSES = ("public", "internal", "confidential", "personal", "special_care")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def facts(base_url: str, country: str) -> dict[str, Any]:
    return {
        "kind": "openai",
        "base_url": base_url,
        "jurisdiction": country,
        "operator": "Local KK" if country == "JP" else "Hyperscaler Inc",
        "operator_jurisdiction": country,
        "retention_days": 0,
        "trains_on_inputs": False,
    }


def base_config(data_dir: Path, port: int, upstream: FakeUpstream) -> dict[str, Any]:
    """acme may send anything to JP or US; `chat` is served by the US backend only."""
    rule = {"jurisdictions": ["JP", "US"], "audit_content": "digest"}
    return {
        "gateway": {
            "port": port,
            "data_dir": str(data_dir),
            "key_refresh_seconds": 0.05,
            "protect": {"names": False},
            "security_events": {"ndjson": {"path": str(data_dir.parent / "events.ndjson")}},
        },
        "backends": {"us-cloud": facts(upstream.base_url, "US"), "jp-local": facts(upstream.base_url, "JP")},
        "models": {
            "chat": {"routes": [{"backend": "us-cloud", "model": "gpt-x"}]},
            "local": {"routes": [{"backend": "jp-local", "model": "qwen"}]},
        },
        "tenants": {"acme": {"classes": dict.fromkeys(CLASSES, rule)}},
    }


def japan_only(config: dict[str, Any]) -> dict[str, Any]:
    """The same config, with acme's access to the US backend removed."""
    tightened = copy.deepcopy(config)
    tightened["tenants"]["acme"]["classes"] = {c: {"jurisdictions": ["JP"]} for c in CLASSES}
    return tightened


@dataclass
class Served:
    process: subprocess.Popen[str]
    config: Path
    data_dir: Path
    base: dict[str, Any]
    key: str
    url: str
    upstream: FakeUpstream
    log: list[str]

    def write(self, document: dict[str, Any] | str) -> None:
        text = document if isinstance(document, str) else json.dumps(document, indent=1)  # JSON is YAML
        self.config.write_text(text, encoding="utf-8")

    def reload_cli(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ONSHORE, "reload", "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def chat(self, model: str = "chat") -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {self.key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hello"}]},
            timeout=30,
        )

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.data_dir / "onshore.db") as conn:
            return [json.loads(bytes(b)) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]

    def events(self, code: str) -> list[dict[str, Any]]:
        path = self.data_dir.parent / "events.ndjson"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [e for e in map(json.loads, lines) if e["metadata"]["event_code"] == code]

    def refusals(self) -> list[dict[str, Any]]:
        return [r for r in self.reloads() if r["outcome"] == "refused"]

    def reloads(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("action") == "config_reload"]

    def restore(self) -> None:
        self.write(self.base)
        result = self.reload_cli()
        assert result.returncode == 0, result.stdout + result.stderr


def wait_for(check: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def receipt_policy_hash(response: httpx.Response) -> str:
    payload = response.headers["Onshore-Receipt"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["policy_hash"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("reload")
    upstream = FakeUpstream("reload").start()
    data_dir, port = tmp / "data", free_port()
    config = tmp / "onshore.yaml"
    base = base_config(data_dir, port, upstream)
    config.write_text(json.dumps(base), encoding="utf-8")
    key = add_key(load_settings(config), "acme")
    process = subprocess.Popen(
        [*ONSHORE, "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    log: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        log.append(line)
        if line.startswith("Listening on"):
            break
    assert log and log[-1].startswith("Listening on"), "".join(log)
    drain = threading.Thread(target=lambda: log.extend(process.stdout or ()), daemon=True)  # keep the pipe open
    drain.start()
    try:
        yield Served(process, config, data_dir, base, key, f"http://127.0.0.1:{port}", upstream, log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        drain.join(5)
        if process.stdout is not None:
            process.stdout.close()
        upstream.stop()
    assert not (data_dir / "onshore.pid").exists(), "the pid file is removed at exit"


def test_a_tightened_rule_applies_to_the_next_request_and_is_audited(served: Served) -> None:
    before = served.chat()
    assert before.status_code == 200, before.text
    old_hash = receipt_policy_hash(before)
    assert (served.data_dir / "onshore.pid").read_text().strip() == str(served.process.pid)

    served.write(japan_only(served.base))
    result = served.reload_cli()
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("Reload applied") and "再読み込みしました" in line
    new_hash = line.split("ポリシーハッシュ: ")[1].strip()
    assert len(new_hash) == 64 and new_hash != old_hash

    refused = served.chat()
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "residency_policy_denied"
    assert "tenants.acme.classes.public" in refused.text  # the new rule, by name
    assert served.chat("local").status_code == 200  # what the new rule still allows is served

    records = served.records()
    [reload] = [r for r in records if r.get("action") == "config_reload"]
    assert reload["outcome"] == "applied" and reload["actor"].startswith("cli:")
    assert (reload["previous_policy_hash"], reload["policy_hash"]) == (old_hash, new_hash)
    last = [r for r in records if r.get("kind") == "request"][-1]
    assert last["decision"]["policy_hash"] == new_hash
    # The SIEM hears of it too: who, and the policy now serving (OCSF API Activity, Update).
    wait_for(lambda: bool(served.events("config_reloaded")))
    [event] = served.events("config_reloaded")
    facts = event["unmapped"]["onshore"]
    assert (event["class_uid"], event["activity_name"], facts["reason"]) == (6003, "Update", "applied")
    assert facts["policy_hash"] == new_hash and facts["actor"] == reload["actor"]
    assert event["src_endpoint"]["name"] == "cli"
    served.restore()
    assert receipt_policy_hash(served.chat()) == old_hash  # same file, same hash


BROKEN: dict[str, str | dict[str, Any]] = {
    "yaml": "gateway: {port: 1\nbackends: [",
    "unknown_key": {"surprise": True},
    "dangling_route": {"models": {"chat": {"routes": [{"backend": "nowhere", "model": "m"}]}}},
}


def broken(served: Served, kind: str) -> dict[str, Any] | str:
    patch = BROKEN[kind]
    if isinstance(patch, str):
        return patch
    document = copy.deepcopy(served.base)
    for key, value in patch.items():
        document[key] = {**document[key], **value} if isinstance(value, dict) and key in document else value
    return document


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_config_is_refused_and_the_old_one_keeps_serving(served: Served, kind: str) -> None:
    serving = receipt_policy_hash(served.chat())
    served.write(broken(served, kind))
    result = served.reload_cli()
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert f"{served.config}:" in result.stderr  # each problem with the file (and line) it is in
    if kind == "yaml":
        # Not YAML at all: it names no data directory, so the CLI refuses it itself; the gateway,
        # signalled anyway, refuses and records it the same way.
        assert line.startswith("Reload refused: the config does not parse") and "再読み込みしません" in line
        assert f"{served.config}:2:" in result.stderr
        seen = len(served.reloads())
        served.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while len(served.reloads()) == seen and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        assert line.startswith("Reload refused") and f"still serving policy {serving}" in line
        assert "再読み込みを拒否しました" in line
    if kind == "dangling_route":
        assert "nowhere" in result.stderr

    again = served.chat()
    assert again.status_code == 200, again.text
    assert receipt_policy_hash(again) == serving
    refusal = served.reloads()[-1]
    assert refusal["outcome"] == "refused" and refusal["policy_hash"] is None
    assert refusal["previous_policy_hash"] == serving and refusal["problems"]
    wait_for(lambda: len(served.events("config_reload_refused")) >= len(served.refusals()))
    event = served.events("config_reload_refused")[-1]
    assert event["unmapped"]["onshore"]["reason"] == "invalid_config" and event["action_id"] == 2
    assert "nowhere" not in json.dumps(event)  # a stable code, never the problem text
    served.restore()


def test_a_listener_change_needs_a_restart(served: Served) -> None:
    serving = receipt_policy_hash(served.chat())
    moved = copy.deepcopy(served.base)
    moved["gateway"]["port"] = free_port()
    moved["gateway"]["storage"] = "sqlite"  # the same as before: not named
    served.write(moved)
    result = served.reload_cli()
    assert result.returncode == 1
    assert "restart needed for: gateway.port;" in result.stdout, result.stdout
    assert "再起動が必要: gateway.port" in result.stdout
    assert served.chat().status_code == 200
    assert served.reloads()[-1]["problems"][0].startswith("restart needed for: gateway.port")
    served.restore()
    assert receipt_policy_hash(served.chat()) == serving


def test_a_stream_in_flight_finishes_on_the_config_it_started_with(served: Served) -> None:
    served.upstream.behaviour = Behaviour(chunks=6, chunk_delay=0.3)
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=served.key, max_retries=0)
    try:
        stream = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        chunks = iter(stream)
        first = next(chunks)
        assert first is not None
        seen = len(served.reloads())
        served.write(japan_only(served.base))
        os.kill(served.process.pid, signal.SIGHUP)  # a bare signal, as a supervisor sends it
        deadline = time.monotonic() + 30
        while len(served.reloads()) == seen and time.monotonic() < deadline:
            time.sleep(0.05)
        reload = served.reloads()[-1]
        assert (reload["outcome"], reload["actor"]) == ("applied", "signal:SIGHUP")
        assert served.chat().status_code == 403  # new requests: the new rule
        rest = list(chunks)  # the stream already open goes on to its end on the old one
        text = "".join(c.choices[0].delta.content or "" for c in [first, *rest] if c.choices)
        assert text == "".join(f"w{i} " for i in range(6))  # every chunk, none cut
        last = json.loads((served.data_dir / "reload" / "last.json").read_text())
        assert last["outcome"] == "applied" and last["policy_hash"] == reload["policy_hash"]
    finally:
        client.close()
        served.upstream.behaviour = Behaviour()
        served.restore()
    closes = [r for r in served.records() if r.get("kind") == "stream_close"]
    assert closes[-1]["outcome"] == "completed", closes[-1]
    assert closes[-1]["decision"]["policy_hash"] == reload["previous_policy_hash"]  # decided before the reload


def test_the_chain_verifies_after_every_reload(served: Served) -> None:
    """Runs last in this module: every applied and refused reload above is in one intact chain."""
    assert len(served.reloads()) >= 6
    result = subprocess.run(
        [*ONSHORE, "audit", "verify", "--config", str(served.config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_reload_without_a_running_gateway_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [*ONSHORE, "reload", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "no running gateway found" in result.stderr and "稼働中のゲートウェイが見つかりません" in result.stderr
    (tmp_path / "onshore.pid").write_text("999999999\n")  # left by a crash: never signalled
    result = subprocess.run(
        [*ONSHORE, "reload", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2 and "is not running" in result.stderr
