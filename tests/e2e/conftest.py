"""One gateway in front of real loopback upstreams, shared by the end-to-end tests of a module."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from onshore.settings import Settings
from tests.support.gateway import RunningGateway, add_key, backend, make_settings
from tests.support.upstream import Behaviour, FakeUpstream

UPSTREAM_SECRET = "sk-upstream-secret-do-not-leak"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    gateway: RunningGateway
    settings: Settings
    us: FakeUpstream
    jp1: FakeUpstream
    jp2: FakeUpstream
    public_key: str
    personal_key: str
    limited_key: str
    globex_key: str

    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    def client(self, key: str | None = None) -> openai.OpenAI:
        """One SDK client per key for the module, closed at teardown (no leaked sockets)."""
        key = key or self.public_key
        if key not in self.clients:
            self.clients[key] = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=key, max_retries=0)
        return self.clients[key]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def reset(self) -> None:
        for upstream in (self.us, self.jp1, self.jp2):
            upstream.behaviour = Behaviour()
            upstream.received.clear()
            upstream.received_headers.clear()
            upstream.received_paths.clear()


def world_settings(
    data_dir: Path, us: FakeUpstream, jp1: FakeUpstream, jp2: FakeUpstream, **gateway: object
) -> Settings:
    backends = {
        "us-cloud": backend(us.base_url, "US", operator="Hyperscaler Inc", retention_days=30, region="us-east-1"),
        "jp-primary": backend(jp1.base_url, "JP", region="tokyo-1", api_key_env="JP_PRIMARY_KEY"),
        "jp-secondary": backend(jp2.base_url, "JP", region="osaka-1"),
        "jp-dead": backend(f"http://127.0.0.1:{closed_port()}/v1", "JP", region="tokyo-2"),
    }
    models = {
        "chat": {
            "routes": [
                {"backend": "us-cloud", "model": "gpt-x"},
                {"backend": "jp-primary", "model": "qwen"},
                {"backend": "jp-secondary", "model": "qwen"},
            ]
        },
        "chat-failover": {
            "routes": [{"backend": "jp-dead", "model": "qwen"}, {"backend": "jp-primary", "model": "qwen"}]
        },
        "us-only": {"routes": [{"backend": "us-cloud", "model": "gpt-x"}]},
        "embed": {"endpoint": "embeddings", "routes": [{"backend": "jp-primary", "model": "e5"}]},
        "extra": {"allow_extra_fields": ["top_k"], "routes": [{"backend": "jp-primary", "model": "qwen"}]},
    }
    lenient = {"jurisdictions": ["JP", "US"], "max_retention_days": 30, "audit_content": "digest"}
    # globex lets even personal data reach the US cloud, but only pseudonymised (the default actions).
    abroad = {"jurisdictions": ["JP", "US"], "max_retention_days": 30, "audit_content": "digest"}
    globex = {"classes": {c: abroad for c in ("public", "internal", "confidential", "personal")}}
    globex["classes"]["special_care"] = {"jurisdictions": ["JP"]}
    tenants = {
        "globex": globex,
        "acme": {
            "classes": {
                "public": lenient,
                "internal": lenient,
                "confidential": {"jurisdictions": ["JP"], "audit_content": "digest"},
                "personal": {"jurisdictions": ["JP"]},
                "special_care": {"jurisdictions": ["JP"]},
            }
        },
    }
    return make_settings(
        data_dir,
        backends,
        models,
        tenants,
        gateway={"max_body_bytes": 65536, **gateway},
        environ={"JP_PRIMARY_KEY": UPSTREAM_SECRET},
    )


@contextlib.contextmanager
def running_world(data_dir: Path, loop: asyncio.AbstractEventLoop | None = None, **options: object) -> Iterator[World]:
    """The world's upstreams, keys and gateway (`options`: gateway settings on top of the world's)."""
    us, jp1, jp2 = FakeUpstream("us").start(), FakeUpstream("jp1").start(), FakeUpstream("jp2").start()
    settings = world_settings(data_dir, us, jp1, jp2, **options)
    keys = (
        add_key(settings, "acme"),
        add_key(settings, "acme", "personal"),
        add_key(settings, "acme", models=("chat",)),
        add_key(settings, "globex"),
    )
    gateway = RunningGateway(settings, loop=loop).start()
    world = World(gateway, settings, us, jp1, jp2, *keys)
    try:
        yield world
    finally:
        world.close()
        gateway.stop()
        for upstream in (us, jp1, jp2):
            upstream.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(tmp_path_factory.mktemp("gateway")) as world:
        yield world


@pytest.fixture
def w(world: World) -> World:
    world.reset()
    return world
