"""Adapter for OpenAI-compatible servers: vLLM, Ollama, llama.cpp server, LM Studio, hosted endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from onshore.route.backends.base import Endpoint, UpstreamRequest

# OpenAI-compatible servers (vLLM, llama.cpp, Ollama) serve legacy completions too; none counts tokens.
_PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "embeddings": "/embeddings", "completions": "/completions"}
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class OpenAIAdapter:
    __slots__ = ("_headers", "_urls")

    def __init__(self, base_url: str, api_key: str | None, paths: Mapping[Endpoint, str] | None = None) -> None:
        """`paths`: the endpoints this server has, if not OpenAI's (e.g. the embedded backend's)."""
        base = base_url.rstrip("/")
        self._urls = {endpoint: base + path for endpoint, path in (_PATHS if paths is None else paths).items()}
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers

    def serves(self, endpoint: Endpoint) -> bool:
        return endpoint in self._urls

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        url = self._urls.get(endpoint)
        if url is None:
            raise ValueError(f"OpenAI-compatible backends have no '{endpoint}' endpoint")
        return UpstreamRequest(url, self._headers, _encoder.encode({**body, "model": upstream_model}))

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        try:
            document = _decoder.decode(raw)
        except msgspec.DecodeError:
            raise ValueError("the backend's response is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the backend's response is not a JSON object")
        if endpoint == "count_tokens":
            if not isinstance(document.get("input_tokens"), int):
                raise ValueError("the backend's token count has no integer 'input_tokens'")
            return document
        expected = "data" if endpoint == "embeddings" else "choices"
        if not isinstance(document.get(expected), list):
            raise ValueError(f"the backend's response has no '{expected}' list")
        if endpoint == "chat":
            _complete_chat(document)
        elif endpoint == "completions":
            _complete_text(document)
        else:
            _complete_embeddings(document)
        return document

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return _STREAM_DECODER

    def error_message(self, raw: bytes) -> str | None:
        return error_message(raw)


class OpenAIStreamDecoder:
    """Stateless: each SSE payload is one OpenAI chunk, and `[DONE]` ends the stream."""

    __slots__ = ()

    def decode(self, payload: bytes) -> list[dict[str, Any]] | None:
        try:
            document = _decoder.decode(payload)
        except msgspec.DecodeError:
            if payload.strip() == b"[DONE]":  # not JSON: checked only once JSON fails, once per stream
                return None
            raise ValueError("the backend sent a stream event that is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the backend sent a stream event that is not a JSON object")
        if "error" not in document:
            _complete_chunk(document)
        return [document]


_STREAM_DECODER = OpenAIStreamDecoder()


def error_message(raw: bytes) -> str | None:
    """The error message in an OpenAI-style (or Ollama/llama.cpp-style) error body."""
    try:
        document = _decoder.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):  # Ollama and llama.cpp sometimes send a bare string
        return error
    if isinstance(document.get("message"), str):
        return str(document["message"])
    return None


# Servers differ in which of OpenAI's required fields they send (vLLM omits `refusal`, llama.cpp
# omits `logprobs`, some omit `created`). Fill the gaps with the documented null values so clients
# that validate strictly see OpenAI's shape.
def _complete_chat(document: dict[str, Any]) -> None:
    document.setdefault("object", "chat.completion")
    document.setdefault("id", "chatcmpl-onshore")
    document.setdefault("created", 0)
    for index, choice in enumerate(document["choices"]):
        if not isinstance(choice, dict):
            raise ValueError("the backend's response has a choice that is not an object")
        choice.setdefault("index", index)
        choice.setdefault("finish_reason", "stop")
        choice.setdefault("logprobs", None)
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ValueError("the backend's response has a choice without a message")
        message.setdefault("role", "assistant")
        message.setdefault("content", None)
        message.setdefault("refusal", None)


def _complete_text(document: dict[str, Any], *, chunk: bool = False) -> None:
    """A legacy text completion, or one of its stream chunks (the same shape; a chunk's finish_reason
    stays null until its last)."""
    document.setdefault("object", "text_completion")
    document.setdefault("id", "cmpl-onshore")
    document.setdefault("created", 0)
    for index, choice in enumerate(document["choices"]):
        if not isinstance(choice, dict):
            raise ValueError("the backend's response has a choice that is not an object")
        choice.setdefault("index", index)
        choice.setdefault("text", "")
        choice.setdefault("finish_reason", None if chunk else "stop")
        choice.setdefault("logprobs", None)


def _complete_chunk(document: dict[str, Any]) -> None:
    """Runs on every streamed chunk: plain loops and membership tests, no generators."""
    if "x_groq" in document:
        groq = document["x_groq"]
        if document.get("usage") is None and isinstance(groq, dict) and isinstance(groq.get("usage"), dict):
            document["usage"] = groq.pop("usage")  # Groq reports stream usage there, not in `usage`
    choices = document.setdefault("choices", [])
    if not isinstance(choices, list):
        raise ValueError("the backend sent a chunk whose choices are not a list")
    if document.get("object") == "text_completion" or _has_text_choice(choices):
        _complete_text(document, chunk=True)  # a legacy text completion streams chunks shaped like its answer
        return
    document.setdefault("object", "chat.completion.chunk")
    document.setdefault("id", "chatcmpl-onshore")
    document.setdefault("created", 0)
    for index, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise ValueError("the backend sent a chunk with a choice that is not an object")
        choice.setdefault("index", index)
        choice.setdefault("delta", {})
        choice.setdefault("finish_reason", None)


def _has_text_choice(choices: list[Any]) -> bool:
    for choice in choices:  # noqa: SIM110 - a loop: any() over a generator costs more, on every chunk
        if isinstance(choice, dict) and "text" in choice:
            return True
    return False


def _complete_embeddings(document: dict[str, Any]) -> None:
    document.setdefault("object", "list")
    for index, item in enumerate(document["data"]):
        if not isinstance(item, dict):
            raise ValueError("the backend's embedding item is not an object")
        item.setdefault("object", "embedding")
        item.setdefault("index", index)
