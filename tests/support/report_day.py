"""A scripted day of mixed traffic through the real gateway, for the report tests and for
tools/make-examples: allowed, failed over, streamed, denied, pseudonymised, blocked for personal
data, another tenant, a kill switch through the admin API, and requests after it."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
from openai.types.chat import ChatCompletionMessageParam

from onshore.cli import main
from tests.support.gateway import RunningGateway, add_key, backend, make_settings
from tests.support.services import PrivateRedis, free_port
from tests.support.upstream import FakeUpstream

ADMIN = "admin-secret-for-report-test"
PHONE = "090-1234-5678"
SINCE, UNTIL = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"


class ReportDay:
    """One gateway, three real upstreams, a private Redis (the kill switch) and a scripted day."""

    def __init__(self, tmp: Path) -> None:
        self.redis = PrivateRedis(tmp / "redis").start()  # ServiceUnavailable without redis-server
        self.jp, self.us, self.trainer = FakeUpstream("jp").start(), FakeUpstream("us").start(), FakeUpstream().start()
        backends = {
            "jp-dead": backend(f"http://127.0.0.1:{free_port()}/v1", "JP", region="tokyo-2"),
            "jp": backend(self.jp.base_url, "JP", region="tokyo-1"),
            "us": backend(self.us.base_url, "US", operator="Hyperscaler Inc", retention_days=30, region="us-east-1"),
            "trainer": backend(self.trainer.base_url, "JP", operator="Learner KK", trains_on_inputs=True),
        }
        models = {
            "chat": {"routes": [{"backend": "jp-dead", "model": "m"}, {"backend": "jp", "model": "m"}]},
            "global": {"routes": [{"backend": "us", "model": "m"}, {"backend": "jp", "model": "m"}]},
            "us-only": {"routes": [{"backend": "us", "model": "m"}]},
            "trainer-only": {"routes": [{"backend": "trainer", "model": "m"}]},
        }
        abroad = {"jurisdictions": ["JP", "US"], "max_retention_days": 30, "audit_content": "digest"}
        acme = {
            "classes": {
                "public": abroad,
                "internal": abroad,
                "confidential": {"jurisdictions": ["JP"], "audit_content": "digest"},
                "personal": {**abroad, "allow_training": True},
                "special_care": {"jurisdictions": ["JP"]},
            }
        }
        tenants = {"acme": acme, "globex": {"classes": {c: abroad for c in acme["classes"]}}}
        # The policy alone (no Redis, no admin key): what `onshore backends drill` reads.
        self.raw_config = {
            "gateway": {"data_dir": str(tmp / "data")},
            "backends": backends,
            "models": models,
            "tenants": tenants,
        }
        self.settings = make_settings(
            tmp / "data",
            backends,
            models,
            tenants,
            gateway={
                "audit": {"checkpoint_interval_seconds": 0.2},
                "admin_key_env": "ADMIN_KEY",
                "redis": {"url_env": "REDIS_URL"},
            },
            environ={"ADMIN_KEY": ADMIN, "REDIS_URL": self.redis.url},
        )
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.acme, self.globex = add_key(self.settings, "acme"), add_key(self.settings, "globex")
        self.gateway = RunningGateway(self.settings).start()
        self.db = self.settings.data_dir / "onshore.db"

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=key, max_retries=0)

    def run_day(self) -> None:
        ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Summarise the plan."}]
        personal: list[ChatCompletionMessageParam] = [
            {"role": "user", "content": f"電話番号は{PHONE}です。折り返しの文面を書いて。"}
        ]
        with self.client(self.acme) as acme, self.client(self.globex) as globex:
            for _ in range(3):  # allowed, each after failing over from the dead backend
                acme.chat.completions.create(model="chat", messages=ask)
            list(acme.chat.completions.create(model="chat", messages=ask, stream=True))
            refused(  # special care may not leave JP: denied
                openai.PermissionDeniedError,
                lambda: acme.chat.completions.create(
                    model="us-only", messages=ask, extra_headers={"Onshore-Data-Class": "special_care"}
                ),
            )
            acme.chat.completions.create(model="global", messages=personal)  # pseudonymised for the US
            refused(  # a backend that trains on inputs: personal data blocked
                openai.PermissionDeniedError,
                lambda: acme.chat.completions.create(model="trainer-only", messages=personal),
            )
            globex.chat.completions.create(model="global", messages=ask)  # another tenant: not in acme's report
            switched = httpx.post(
                self.gateway.url + "/admin/backends/us/disable",
                json={"reason": "provider changed its terms"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert switched.status_code == 200
            time.sleep(1.5)  # every replica applies the kill switch within 1 s
            acme.chat.completions.create(model="global", messages=ask)  # skips the disabled US backend
            refused(  # nothing left for us-only
                openai.InternalServerError, lambda: acme.chat.completions.create(model="us-only", messages=ask)
            )
        time.sleep(0.5)  # a signed checkpoint covers the day

    def records(self) -> list[tuple[int, dict[str, Any]]]:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT seq, body FROM audit_records ORDER BY seq").fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def cli(self, *args: str) -> int:
        return main([*args, "--data-dir", str(self.settings.data_dir)])

    def close(self) -> None:
        self.gateway.stop()
        for upstream in (self.jp, self.us, self.trainer):
            upstream.stop()
        self.redis.close()


def refused(error: type[Exception], call: Callable[[], Any]) -> None:
    try:
        call()
    except error:
        return
    raise AssertionError(f"expected {error.__name__}")
