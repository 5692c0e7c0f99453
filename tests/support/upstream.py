"""A real OpenAI-compatible HTTP server on loopback, for tests and the benchmark.

It records every request it receives, and its behaviour (status, delay, streaming shape, a broken
stream) is set per test. It runs on its own thread and event loop, like a separate process would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.loopback import LoopbackServer


@dataclass
class Behaviour:
    status: int = 200
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    reply: str = "Hello from upstream"
    chunks: int = 3  # stream: content chunks
    chunk_delay: float = 0.0  # stream: seconds between chunks
    send_done: bool = True
    # "separate" (OpenAI/vLLM, if asked), "last_chunk" (llama.cpp), "every_chunk" (running counts, as
    # vLLM's continuous_usage_stats and the embedded model), "x_groq" (Groq), "none" (ignores include_usage)
    usage_in_stream: str = "separate"
    cut_after: int | None = None  # stream: drop the connection after this many content chunks
    usage_in_response: bool = True  # non-streaming: some servers omit usage
    transform: Callable[[str], str] | None = None  # with echo: what the "model" does to the text
    tool_call: bool = False
    echo: bool = False  # reply with the user's own text (to test restoration of placeholders)
    chunk_chars: int = 0  # stream: with echo, split the reply every N characters
    fail_response: bool = False  # Responses stream: response.failed (naming an internal URL) after one delta


class FakeUpstream(LoopbackServer):
    def __init__(self, name: str = "upstream") -> None:
        super().__init__(f"fake-{name}")
        self.name = name
        self.behaviour = Behaviour()
        self.received: list[dict[str, Any]] = []
        self.received_headers: list[dict[str, str]] = []
        self.received_paths: list[str] = []
        self.token_requests: list[dict[str, str]] = []
        self.streams_closed_early = 0
        self.streams_finished = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._chat),
            web.post("/v1/embeddings", self._embeddings),
            # Azure OpenAI: deployment in the path, api-version in the query.
            web.post("/openai/deployments/{deployment}/chat/completions", self._chat),
            web.post("/openai/deployments/{deployment}/embeddings", self._embeddings),
            # Entra ID token endpoint (client-credentials grant).
            web.post("/{tenant}/oauth2/v2.0/token", self._token),
            # Anthropic Messages API.
            web.post("/v1/messages", self._anthropic),
            web.post("/v1/messages/count_tokens", self._count_tokens),
            # Legacy text completions (vLLM, llama.cpp and Ollama serve them).
            web.post("/v1/completions", self._completions),
            # OpenAI's Responses API, for a backend that speaks it natively (and Azure's v1 path).
            web.post("/v1/responses", self._responses),
            web.post("/openai/v1/responses", self._responses),
        ]

    # handlers ---------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.token_requests.append({k: str(v) for k, v in form.items()})
        if form.get("client_secret") != "entra-secret":
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": f"entra-token-{len(self.token_requests)}", "expires_in": 3600})

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._common(request)
        if failed is not None:
            return failed
        b = self.behaviour
        text = (
            " ".join(
                block["text"] if isinstance(block, dict) else str(block)
                for m in body["messages"]
                if m["role"] == "user"
                for block in (m["content"] if isinstance(m["content"], list) else [m["content"]])
                if not isinstance(block, dict) or block.get("type") == "text"
            )
            if b.echo
            else b.reply
        )
        if b.echo and b.transform is not None:
            text = b.transform(text)
        usage = {"input_tokens": 7, "output_tokens": len(text.split())}
        if not body.get("stream"):
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            stop = "end_turn"
            if b.tool_call:
                content.append({"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": text}})
                stop = "tool_use"
            return web.json_response(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(name: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        size = b.chunk_chars or max(1, len(text) // max(1, b.chunks))
        try:
            await send(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_fake",
                        "type": "message",
                        "role": "assistant",
                        "model": body["model"],
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 7, "output_tokens": 1},
                    },
                },
            )
            await send(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            await send("ping", {"type": "ping"})
            for n, i in enumerate(range(0, len(text), size)):
                if b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                if n == b.cut_after:
                    return self._cut(request, response)
                await send(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text[i : i + size]},
                    },
                )
            await send("content_block_stop", {"type": "content_block_stop", "index": 0})
            await send(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
            await send("message_stop", {"type": "message_stop"})
            await response.write_eof()
            self.streams_finished += 1
        except (ConnectionResetError, asyncio.CancelledError):
            self.streams_closed_early += 1
            raise
        return response

    async def _common(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.json()
        if "deployment" in request.match_info:  # Azure: the model is the deployment in the path
            body.setdefault("model", request.match_info["deployment"])
        self.received.append(body)
        self.received_headers.append(dict(request.headers))
        self.received_paths.append(request.path_qs)
        b = self.behaviour
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.status != 200:
            error = b.error_body or {"error": {"message": f"upstream says {b.status}", "type": "server_error"}}
            if request.path == "/v1/messages" and b.error_body is None:
                error = {"type": "error", "error": {"type": "api_error", "message": f"upstream says {b.status}"}}
            return body, web.json_response(error, status=b.status, headers=b.headers)
        return body, None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._common(request)
        if failed is not None:
            return failed
        b = self.behaviour
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        reply = self._reply(body)
        if body.get("stream"):
            return await self._stream(request, body, prompt_tokens)
        message: dict[str, Any] = {"role": "assistant", "content": reply}
        finish = "stop"
        if b.tool_call:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": json.dumps({"q": reply if b.echo else "weather"})},
                    }
                ],
            }
            finish = "tool_calls"
        completion_tokens = len(reply.split())
        document: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        }
        if b.usage_in_response:
            document["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return web.json_response(document)

    async def _stream(self, request: web.Request, body: dict[str, Any], prompt_tokens: int) -> web.StreamResponse:
        b = self.behaviour
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        words = [f"w{i} " for i in range(b.chunks)]
        if b.echo:
            text = self._reply(body)
            size = b.chunk_chars or max(1, len(text))  # an empty echo is one empty piece, not range(0, 0, 0)
            words = [text[i : i + size] for i in range(0, len(text), size)]
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        try:
            first = {
                **base,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            }
            await response.write(f"data: {json.dumps(first)}\n\n".encode())
            for n, word in enumerate(words):
                if b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                if n == b.cut_after:
                    return self._cut(request, response)
                chunk: dict[str, Any] = {
                    **base,
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                if b.usage_in_stream == "every_chunk":
                    chunk["usage"] = {**usage, "completion_tokens": n + 1, "total_tokens": prompt_tokens + n + 1}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            last: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            if b.usage_in_stream in ("last_chunk", "every_chunk"):
                last["usage"] = usage
            if b.usage_in_stream == "x_groq":
                last["x_groq"] = {"id": "req_fake", "usage": usage}
            await response.write(f"data: {json.dumps(last)}\n\n".encode())
            if b.usage_in_stream == "separate" and wants_usage:
                await response.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
            if b.send_done:
                await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            self.streams_finished += 1
        except (ConnectionResetError, asyncio.CancelledError):
            self.streams_closed_early += 1
            raise
        return response

    def _cut(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Drop the connection mid-stream, without the chunked encoding's end: a broken stream."""
        self.streams_closed_early += 1
        if request.transport is not None:
            request.transport.close()
        return response

    def _reply(self, body: dict[str, Any]) -> str:
        if not self.behaviour.echo:
            return self.behaviour.reply
        text = " ".join(str(m.get("content")) for m in body["messages"] if m.get("role") == "user")
        return text if self.behaviour.transform is None else self.behaviour.transform(text)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        """Anthropic's token count: one per word of every string in the messages and system prompt."""
        body, failed = await self._common(request)
        if failed is not None:
            return failed
        words = len(json.dumps([body.get("system"), body["messages"]], ensure_ascii=False).split())
        return web.json_response({"input_tokens": words})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._common(request)
        if failed is not None:
            return failed
        prompt = body["prompt"] if isinstance(body["prompt"], str) else " ".join(map(str, body["prompt"]))
        text = prompt if self.behaviour.echo else self.behaviour.reply
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            return web.json_response({**base, "choices": [choice], "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = [f"{word} " for word in text.split()]
        for n, piece in enumerate(pieces):
            finish = "stop" if n == len(pieces) - 1 else None
            chunk = {**base, "choices": [{"index": 0, "text": piece, "finish_reason": finish, "logprobs": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            await response.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        self.streams_finished += 1
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body, failed = await self._common(request)
        if failed is not None:
            return failed
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, float(i)]} for i in range(len(inputs))]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )

    # --- the Responses API (a backend that speaks it natively) -------------------------------------------
    async def _responses(self, request: web.Request) -> web.StreamResponse:
        """A Responses answer: the reply (or, with echo, the user's input text) as one message, and with
        tool_call a function call; streamed as the typed events when asked."""
        body, failed = await self._common(request)
        if failed is not None:
            return failed
        b = self.behaviour
        text = self._responses_text(body)
        arguments = json.dumps({"q": text if b.echo else "weather"}, ensure_ascii=False)
        usage = {
            "input_tokens": 11,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 16,
        }
        message: dict[str, Any] = {
            "id": "msg_upstream",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        call: dict[str, Any] = {
            "id": "fc_upstream",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_up",
            "name": "lookup",
            "arguments": arguments,
        }
        output: list[dict[str, Any]] = [message, call] if b.tool_call else [message]

        def snapshot(status: str, items: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
            # The provider's echo of the request (its view: what Onshore sent): the client must not see it.
            return {
                "id": "resp_upstream",
                "object": "response",
                "created_at": int(time.time()),
                "status": status,
                "model": body.get("model"),
                "output": items,
                "instructions": body.get("instructions"),
                "metadata": {"seen_by": "upstream"},
                "store": body.get("store"),
                "tools": body.get("tools", []),
                **({"usage": usage} if with_usage else {}),
            }

        if not body.get("stream"):
            return web.json_response(snapshot("completed", output, True))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        sequence = 0

        async def send(data: dict[str, Any]) -> None:
            nonlocal sequence
            data["sequence_number"] = sequence
            sequence += 1
            await response.write(f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

        size = b.chunk_chars or max(1, len(text) // max(1, b.chunks))
        pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        try:
            await send({"type": "response.created", "response": snapshot("in_progress", [], False)})
            await send({"type": "response.in_progress", "response": snapshot("in_progress", [], False)})
            empty = {**message, "status": "in_progress", "content": []}
            await send({"type": "response.output_item.added", "output_index": 0, "item": empty})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            where = {"item_id": "msg_upstream", "output_index": 0, "content_index": 0}
            await send({"type": "response.content_part.added", **where, "part": part})
            for n, piece in enumerate(pieces):
                if b.chunk_delay:
                    await asyncio.sleep(b.chunk_delay)
                if n == b.cut_after:
                    return self._cut(request, response)
                await send({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
                if b.fail_response:
                    broken = snapshot("failed", [], False)
                    broken["error"] = {"code": "server_error", "message": "shard http://10.0.0.7:8000/x failed"}
                    await send({"type": "response.failed", "response": broken})
                    await response.write_eof()
                    return response
            await send({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            await send({"type": "response.content_part.done", **where, "part": {**part, "text": text}})
            await send({"type": "response.output_item.done", "output_index": 0, "item": message})
            if b.tool_call:
                added = {**call, "status": "in_progress", "arguments": ""}
                await send({"type": "response.output_item.added", "output_index": 1, "item": added})
                at = {"item_id": "fc_upstream", "output_index": 1}
                half = len(arguments) // 2
                for piece in (arguments[:half], arguments[half:]):
                    await send({"type": "response.function_call_arguments.delta", **at, "delta": piece})
                await send(
                    {"type": "response.function_call_arguments.done", **at, "name": "lookup", "arguments": arguments}
                )
                await send({"type": "response.output_item.done", "output_index": 1, "item": call})
            await send({"type": "response.completed", "response": snapshot("completed", output, True)})
            await response.write_eof()
            self.streams_finished += 1
        except (ConnectionResetError, asyncio.CancelledError):
            self.streams_closed_early += 1
            raise
        return response

    def _responses_text(self, body: dict[str, Any]) -> str:
        if not self.behaviour.echo:
            return self.behaviour.reply
        items = body.get("input")
        if isinstance(items, str):
            return items
        texts: list[str] = []
        for item in items or []:
            if item.get("type", "message") != "message" or item.get("role") != "user":
                continue
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            else:
                texts.extend(p["text"] for p in content if p.get("type") == "input_text")
        return " ".join(texts[-1:])  # the newest user turn (the history is the test's to check)
