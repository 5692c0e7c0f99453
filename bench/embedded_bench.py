"""Embedded-model throughput: llama-cpp-python called directly vs the same model through Onshore.

Same GGUF file, same threads, same prompt and sampling (greedy), same token budget. Reports
generated tokens per second (from the first token to the last) and time to first token, and the
ratio gateway/direct. Run: .venv/bin/python bench/embedded_bench.py [--tokens 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from onshore.route.backends.embedded.model import default_model_path

PROMPT = [{"role": "user", "content": "Write a long, detailed story about a lighthouse keeper in Hokkaido."}]


def direct_run(llm: object, formatter: object, tokens: int) -> tuple[float, float, int]:
    """(ttft seconds, tokens/s after the first token, tokens) for llama-cpp-python called directly."""
    formatted = formatter(messages=PROMPT)  # type: ignore[operator]
    prompt = llm.tokenize(formatted.prompt.encode(), add_bos=False, special=True)  # type: ignore[attr-defined]
    start = time.perf_counter()
    first = 0.0
    count = 0
    generator = llm.generate(prompt, temp=0.0, top_p=0.95, reset=True)  # type: ignore[attr-defined]
    for token in generator:
        llm.detokenize([token])  # type: ignore[attr-defined]
        count += 1
        if count == 1:
            first = time.perf_counter()
        if count >= tokens or token == llm.token_eos():  # type: ignore[attr-defined]
            break
    generator.close()
    end = time.perf_counter()
    return first - start, (count - 1) / (end - first), count


async def gateway_run(url: str, key: str, tokens: int) -> tuple[float, float, int]:
    body = {
        "model": "local",
        "messages": PROMPT,
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        first = last = 0.0
        pieces = 0
        usage = 0
        async with session.post(
            url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            async for line in response.content:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    usage = chunk["usage"]["completion_tokens"]
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    pieces += 1
                    last = time.perf_counter()
                    if pieces == 1:
                        first = last
    return first - start, (usage - 1) / (last - first), usage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    path = default_model_path()
    llm = Llama(model_path=str(path), n_threads=args.threads, n_ctx=2048, verbose=False)
    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm.detokenize([llm.token_eos()], special=True).decode(),
        bos_token=llm.detokenize([llm.token_bos()], special=True).decode(),
    )
    data_dir = Path(tempfile.mkdtemp(prefix="onshore-embedded-bench-"))
    port = free_port()
    onshore = Path(sys.executable).with_name("onshore")
    gateway = subprocess.Popen(
        [str(onshore), "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=data_dir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        key = ""
        assert gateway.stdout is not None
        for line in gateway.stdout:
            if line.strip().startswith("onsk_"):
                key = line.strip()
            if line.startswith("Listening on"):
                break
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                asyncio.run(gateway_run(url, key, 4))
                break
            except aiohttp.ClientError:
                time.sleep(0.2)
        direct_run(llm, formatter, 8)  # warm-up
        direct: list[tuple[float, float, int]] = []
        through: list[tuple[float, float, int]] = []
        for _ in range(args.rounds):  # alternate, so drift hits both paths
            direct.append(direct_run(llm, formatter, args.tokens))
            through.append(asyncio.run(gateway_run(url, key, args.tokens)))
    finally:
        gateway.terminate()
        gateway.wait(15)
    d_tps = statistics.median(r[1] for r in direct)
    g_tps = statistics.median(r[1] for r in through)
    d_ttft = statistics.median(r[0] for r in direct) * 1000
    g_ttft = statistics.median(r[0] for r in through) * 1000
    print(f"model {path.name}, {args.threads} threads, {args.tokens} tokens, greedy, median of {args.rounds}")
    print("| path | tokens/s | time to first token |")
    print("|---|---:|---:|")
    print(f"| llama-cpp-python direct | {d_tps:.1f} | {d_ttft:.0f} ms |")
    print(f"| through Onshore (HTTP, SSE, whole pipeline) | {g_tps:.1f} | {g_ttft:.0f} ms |")
    print(f"| ratio | {100 * g_tps / d_tps:.1f}% | +{g_ttft - d_ttft:.0f} ms |")
    print("tokens per run (direct / gateway):", [r[2] for r in direct], [r[2] for r in through])


if __name__ == "__main__":
    main()
