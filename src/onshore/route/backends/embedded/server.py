"""An OpenAI-compatible HTTP app in front of the embedded model (served on a Unix socket).

One generation runs at a time (llama.cpp uses every thread it is given); up to `max_queue` requests
wait their turn, and beyond that the answer is 429 with Retry-After. Streaming sends text as the
model produces it; if the reader goes away, generation stops at the next token.

With `stream_options.include_usage` (the gateway always asks), every text chunk also carries the
running token counts from the model's tokenizer (like vLLM's `continuous_usage_stats`), so a stream
cut short is still counted exactly up to the cut; the usage-only chunk closes a finished stream.

Legacy text completions (/v1/completions) run the same way, the prompt continued as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from onshore.route.backends.base import Endpoint
from onshore.route.backends.embedded.model import EmbeddedModel, Generated, GenerationParams

_UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "response_format", "logprobs", "audio")
MODEL_KEY = web.AppKey("embedded_model", EmbeddedModel)
# What the embedded backend serves, under /v1: OpenAI's chat and embeddings, and a prompt's token count
# by its own tokenizer (no legacy completions: those go to a backend that has them).
EMBEDDED_PATHS: dict[Endpoint, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "count_tokens": "/count_tokens",
}
# A legacy text completion's options the embedded model does not have.
_UNSUPPORTED_TEXT = ("echo", "suffix", "logprobs", "logit_bias")


class _Shape:
    """How one answer kind is written: a chat completion or a legacy text completion."""

    def __init__(self, text: bool) -> None:
        self.text = text
        self.prefix = "cmpl-" if text else "chatcmpl-"
        self.answer_object = "text_completion" if text else "chat.completion"
        self.chunk_object = "text_completion" if text else "chat.completion.chunk"

    def answer_choice(self, content: str) -> dict[str, Any]:
        if self.text:
            return {"text": content}
        return {"message": {"role": "assistant", "content": content, "refusal": None}}

    def chunk_choice(self, content: str | None) -> dict[str, Any]:
        """A chunk carrying `content` (None: the chat stream's opening chunk, which names the role)."""
        if self.text:
            return {"text": content or ""}
        return {"delta": {"role": "assistant", "content": ""} if content is None else {"content": content}}

    def closing_choice(self) -> dict[str, Any]:
        """The last chunk's choice, which carries only the finish_reason."""
        return {"text": ""} if self.text else {"delta": {}}


_CHAT, _TEXT = _Shape(text=False), _Shape(text=True)


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error" if status < 500 else "api_error",
            "param": None,
            "code": code,
        }
    }
    return web.json_response(body, status=status, headers=headers)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _params(body: dict[str, Any]) -> GenerationParams:
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 512
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    return GenerationParams(
        max_tokens=int(max_tokens),
        temperature=0.8 if temperature is None else float(temperature),
        top_p=0.95 if top_p is None else float(top_p),
        stop=stops,
        seed=body.get("seed"),
    )


class _Busy(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("model busy")
        self.retry_after = retry_after

    def response(self) -> web.Response:
        return _error(
            429, "The embedded model is busy; retry later.", "model_busy", {"Retry-After": str(self.retry_after)}
        )


class EmbeddedServer:
    def __init__(self, model: EmbeddedModel, max_queue: int) -> None:
        self._model = model
        self._max_queue = max_queue
        self._turn = asyncio.Lock()  # FIFO: asyncio locks wake waiters in order
        self._in_flight = 0
        self._seconds_per_request = 2.0  # running estimate, for Retry-After

    def app(self) -> web.Application:
        app = web.Application()
        app[MODEL_KEY] = self._model
        app.add_routes(
            [
                web.post("/v1" + EMBEDDED_PATHS["chat"], self.chat),
                web.post("/v1" + EMBEDDED_PATHS["completions"], self.completions),
                web.post("/v1" + EMBEDDED_PATHS["embeddings"], self.embeddings),
                web.post("/v1" + EMBEDDED_PATHS["count_tokens"], self.count_tokens),
            ]
        )
        return app

    @contextlib.asynccontextmanager
    async def _model_turn(self) -> AsyncIterator[None]:
        """Wait for the model (FIFO); with one running and `max_queue` waiting, refuse with _Busy."""
        self._in_flight += 1
        try:
            if self._in_flight > self._max_queue + 1:
                raise _Busy(max(1, round(self._seconds_per_request * self._in_flight)))
            async with self._turn:
                started = time.monotonic()
                try:
                    yield
                finally:
                    elapsed = time.monotonic() - started
                    self._seconds_per_request = 0.8 * self._seconds_per_request + 0.2 * elapsed
        finally:
            self._in_flight -= 1

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        for field in _UNSUPPORTED:
            if body.get(field) not in (None, False, [], "none"):
                return _error(400, f"The embedded model does not support '{field}'.", "unsupported_parameter")
        if (body.get("n") or 1) != 1:
            return _error(400, "The embedded model returns one choice (n must be 1).", "unsupported_parameter")
        messages = [{"role": str(m.get("role")), "content": _text_of(m.get("content"))} for m in body["messages"]]
        return await self._generate(request, body, messages, _CHAT)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        """A legacy text completion: the prompt continued as it is (no chat template)."""
        body = await request.json()
        for field in _UNSUPPORTED_TEXT:
            if body.get(field) not in (None, False, 0, {}):
                return _error(400, f"The embedded model does not support '{field}'.", "unsupported_parameter")
        if (body.get("n") or 1) != 1 or (body.get("best_of") or 1) != 1:
            return _error(
                400, "The embedded model returns one choice (n and best_of must be 1).", "unsupported_parameter"
            )
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            return _error(400, "The embedded model takes one text prompt (no token ids).", "unsupported_parameter")
        return await self._generate(request, body, prompt, _TEXT)

    async def _generate(
        self, request: web.Request, body: dict[str, Any], prompt: list[dict[str, str]] | str, shape: _Shape
    ) -> web.StreamResponse:
        params = _params(body)
        try:
            async with self._model_turn():
                if body.get("stream"):
                    return await self._stream(request, body, prompt, params, shape)
                return await self._complete(prompt, params, shape)
        except _Busy as busy:
            return busy.response()

    async def count_tokens(self, request: web.Request) -> web.Response:
        """{"input_tokens": n}: the chat prompt as the model would read it (its chat template), counted."""
        body = await request.json()
        messages = [{"role": str(m.get("role")), "content": _text_of(m.get("content"))} for m in body["messages"]]
        count = await self._model.worker.run(self._model.count_prompt, messages)
        return web.json_response({"input_tokens": count})

    def _start(
        self, messages: list[dict[str, str]] | str, params: GenerationParams, queue: asyncio.Queue[str | None]
    ) -> tuple[asyncio.Future[None], threading.Event, Generated]:
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()
        result = Generated()

        def emit(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        def run() -> None:
            try:
                self._model.generate(messages, params, cancelled, emit, result)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        return asyncio.wrap_future(self._model.worker.submit(run)), cancelled, result

    async def _complete(
        self, messages: list[dict[str, str]] | str, params: GenerationParams, shape: _Shape
    ) -> web.Response:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        future, _, result = self._start(messages, params, queue)
        parts: list[str] = []
        while (text := await queue.get()) is not None:
            parts.append(text)
        try:
            await future
        except ValueError as exc:
            return _error(400, str(exc), "context_length_exceeded")
        usage = _usage(result)
        return web.json_response(
            {
                "id": f"{shape.prefix}{uuid.uuid4().hex}",
                "object": shape.answer_object,
                "created": int(time.time()),
                "model": self._model.name,
                "choices": [
                    {
                        "index": 0,
                        **shape.answer_choice("".join(parts)),
                        "finish_reason": result.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        messages: list[dict[str, str]] | str,
        params: GenerationParams,
        shape: _Shape,
    ) -> web.StreamResponse:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        future, cancelled, result = self._start(messages, params, queue)
        base = {
            "id": f"{shape.prefix}{uuid.uuid4().hex}",
            "object": shape.chunk_object,
            "created": int(time.time()),
            "model": self._model.name,
        }

        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def event(choice: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {**base, "choices": [{"index": 0, **choice, "finish_reason": finish, "logprobs": None}]}
            if wants_usage and result.prompt_tokens:  # counts so far, written by the model thread
                chunk["usage"] = _usage(result)
            return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            if not shape.text:
                await response.write(event(shape.chunk_choice(None)))
            while (text := await queue.get()) is not None:
                await response.write(event(shape.chunk_choice(text)))
            try:
                await future
            except ValueError as exc:
                error = {
                    "error": {"message": str(exc), "type": "invalid_request_error", "code": "context_length_exceeded"}
                }
                await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
                return response
            await response.write(event(shape.closing_choice(), result.finish_reason))
            if wants_usage:
                usage_chunk = {**base, "choices": [], "usage": _usage(result)}
                await response.write(b"data: " + json.dumps(usage_chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            cancelled.set()  # the reader is gone: stop generating at the next token
            with contextlib.suppress(Exception):
                await asyncio.shield(future)
            raise
        return response

    async def embeddings(self, request: web.Request) -> web.Response:
        if not self._model.serves_embeddings:
            return _error(404, "This embedded backend does not serve embeddings.", "not_found")
        body = await request.json()
        if body.get("dimensions") is not None:  # never silently ignored: its vectors have one size
            return _error(400, "The embedded model does not support 'dimensions'.", "unsupported_parameter")
        value = body["input"]
        texts = [value] if isinstance(value, str) else value
        if not all(isinstance(t, str) for t in texts):
            return _error(400, "The embedded model accepts text input only.", "unsupported_parameter")
        try:
            async with self._model_turn():
                vectors, tokens = await self._model.worker.run(self._model.embed, texts)
        except _Busy as busy:
            return busy.response()
        return web.json_response(
            {
                "object": "list",
                "model": self._model.name,
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _usage(result: Generated) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }
