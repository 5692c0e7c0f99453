"""The embedded backend, end to end: `onshore serve` with no config on an empty data directory.

Runs the real gateway as a subprocess (the README's first command), reads the first-run key it
prints, and talks to the real SmolLM2 model through the official openai SDK. The backend contract
(answers, streaming, errors, tools, a client leaving mid-stream) runs over the embedded kind with every
other kind in test_backends.py; what is here is the embedded backend's own: the zero-config first run,
sampling parameters, embeddings, its queue, the README examples, and closing the model.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.gateway import RunningGateway, add_key, make_settings, rules

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of Japan? Answer in one word."}
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "onshore", "serve", "--data-dir", str(data_dir), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=data_dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output: list[str] = []
        self.key = ""
        deadline = time.monotonic() + 60
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = re.match(r"\s+(onsk_\S+)$", line)
            if match:
                self.key = match.group(1)
            if line.startswith("Listening on"):
                break
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        self._wait_ready(deadline)
        self.client = openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=self.key, max_retries=0)

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("gateway did not become ready:\n" + "".join(self.output))

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.data_dir / "onshore.db") as conn:
            return [json.loads(b) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(15)
        self._drainer.join(5)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("fresh"))
    try:
        yield server
    finally:
        server.stop()


def test_first_run_prints_a_key_once(served: Served) -> None:
    text = "".join(served.output)
    assert served.key.startswith("onsk_"), text
    assert "SmolLM2-135M-Instruct" in text and "built-in defaults" in text


def test_first_run_defaults_route_to_the_local_model(served: Served) -> None:
    completion = served.client.chat.completions.create(model="local", messages=QUESTION, max_tokens=20, temperature=0)
    assert "Tokyo" in (completion.choices[0].message.content or "")
    assert completion.model == "local"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 20
    record = served.records()[-1]
    assert record["decision"]["chosen"]["operator"] == "This organisation"
    assert record["decision"]["chosen"]["jurisdiction"] == "JP"


def test_max_tokens_stop_and_seed(served: Served) -> None:
    story: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Write a long story about a cat."}]
    short = served.client.chat.completions.create(model="local", messages=story, max_tokens=5)
    assert short.choices[0].finish_reason == "length" and short.usage and short.usage.completion_tokens == 5
    a = served.client.chat.completions.create(model="local", messages=story, max_tokens=15, temperature=1.0, seed=7)
    b = served.client.chat.completions.create(model="local", messages=story, max_tokens=15, temperature=1.0, seed=7)
    assert a.choices[0].message.content == b.choices[0].message.content
    stopped = served.client.chat.completions.create(
        model="local", messages=QUESTION, max_tokens=20, temperature=0, stop=["Tokyo"]
    )
    assert "Tokyo" not in (stopped.choices[0].message.content or "")


def test_embeddings(served: Served) -> None:
    result = served.client.embeddings.create(model="local-embeddings", input=["東京は日本の首都です。", "hello"])
    assert len(result.data) == 2
    vector = result.data[0].embedding
    assert len(vector) == 576
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-3)
    assert result.usage.prompt_tokens > 0


def test_count_tokens_uses_the_models_own_tokenizer(served: Served) -> None:
    counted = httpx.post(
        f"http://127.0.0.1:{served.port}/v1/messages/count_tokens",
        json={"model": "local", "messages": QUESTION},
        headers={"x-api-key": served.key, "anthropic-version": "2023-06-01"},
    )
    assert counted.status_code == 200, counted.text
    assert counted.headers["Onshore-Token-Count"] == "tokenizer"
    completion = served.client.chat.completions.create(model="local", messages=QUESTION, max_tokens=1)
    assert completion.usage is not None
    assert counted.json() == {"input_tokens": completion.usage.prompt_tokens}  # exactly what generation reads


def test_legacy_text_completions_continue_the_prompt(served: Served) -> None:
    prompt = "The capital of Japan is"
    completion = served.client.completions.create(model="local", prompt=prompt, max_tokens=6, temperature=0)
    assert completion.object == "text_completion" and completion.model == "local"
    assert completion.choices[0].text.strip()
    assert completion.usage is not None and 0 < completion.usage.prompt_tokens < 12
    assert completion.usage.completion_tokens <= 6
    streamed = served.client.completions.create(
        model="local", prompt=prompt, max_tokens=6, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(streamed)
    assert "Tokyo" in completion.choices[0].text
    assert "Tokyo" in "".join(c.choices[0].text for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == completion.usage.prompt_tokens


def test_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        {"local": {"kind": "embedded", "embedded": {"max_queue": 0, "embeddings": False}}},
        {"local": {"routes": [{"backend": "local", "model": "m"}]}},
        {"t": rules(["JP"])},
    )
    key = add_key(settings, "t")
    gateway = RunningGateway(settings).start()
    try:
        body = {"model": "local", "messages": QUESTION, "max_tokens": 200, "stream": True}
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, headers=headers) as busy:
            assert busy.status_code == 200  # one generating, none waiting (max_queue 0)
            assert next(busy.iter_raw()).startswith(b"data: ")
            second = httpx.post(gateway.url + "/v1/chat/completions", json={**body, "stream": False}, headers=headers)
        assert second.status_code == 429
        assert int(second.headers["Retry-After"]) >= 1
        assert second.json()["error"]["code"] == "upstream_rate_limited"
    finally:
        gateway.stop()


def readme_block(language: str, containing: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(rf"```{language}\n(.*?)```", readme, re.S) if containing in b]
    assert blocks, f"no {language} block with {containing!r} in the README"
    return str(blocks[0])


def test_readme_examples_work_as_printed(served: Served) -> None:
    env = {**os.environ, "KEY": served.key}
    curl = readme_block("sh", "curl ").split("\n", 1)[1].replace("8080", str(served.port))  # skip the `export` line
    result = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Tokyo" in json.loads(result.stdout)["choices"][0]["message"]["content"]
    script = readme_block("python", "OpenAI(").replace("8080", str(served.port))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("576")


def test_closing_the_model_stops_generation_before_freeing_it() -> None:
    """aclose() cancels a running generation at its next token, skips queued ones, joins the
    thread, and only then frees llama.cpp: the model is never freed under a running call."""
    from onshore.route.backends.embedded.model import EmbeddedModel, Generated, GenerationParams, default_model_path
    from onshore.worker import WorkerClosed

    async def main() -> tuple[Generated, Generated, float]:
        model = EmbeddedModel(default_model_path(), threads=2, context_tokens=2048, embeddings=False)
        await model.load()
        params = GenerationParams(max_tokens=1900, temperature=0.0, top_p=1.0, stop=(), seed=1)
        story: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Count from 1 to 1000."}]
        running, queued = Generated(), Generated()
        emitted: list[str] = []
        first = model.worker.submit(model.generate, story, params, threading.Event(), emitted.append, running)
        second = model.worker.submit(model.generate, story, params, threading.Event(), emitted.append, queued)
        while not emitted:
            await asyncio.sleep(0.01)
        began = time.monotonic()
        await model.aclose()
        took = time.monotonic() - began
        first.result(0)
        second.result(0)
        with pytest.raises(WorkerClosed):
            model.worker.submit(model.embed, ["x"])
        return running, queued, took

    running, queued, took = asyncio.run(main())
    assert running.finish_reason == "cancelled" and 0 < running.completion_tokens < 1900
    assert queued.finish_reason == "cancelled" and queued.completion_tokens == 0
    assert took < 5
