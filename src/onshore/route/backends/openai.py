"""Adapter for OpenAI-compatible servers: vLLM, Ollama, llama.cpp server, LM Studio, hosted endpoints."""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.route.backends.base import Endpoint, UpstreamRequest

_PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "embeddings": "/embeddings"}
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class OpenAIAdapter:
    __slots__ = ("_headers", "_urls")

    def __init__(self, base_url: str, api_key: str | None) -> None:
        base = base_url.rstrip("/")
        self._urls = {endpoint: base + path for endpoint, path in _PATHS.items()}
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        return UpstreamRequest(self._urls[endpoint], self._headers, _encoder.encode({**body, "model": upstream_model}))

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        try:
            document = _decoder.decode(raw)
        except msgspec.DecodeError:
            raise ValueError("the backend's response is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the backend's response is not a JSON object")
        expected = "choices" if endpoint == "chat" else "data"
        if not isinstance(document.get(expected), list):
            raise ValueError(f"the backend's response has no '{expected}' list")
        return document

    def parse_event(self, payload: bytes) -> dict[str, Any] | None:
        if payload.strip() == b"[DONE]":
            return None
        try:
            document = _decoder.decode(payload)
        except msgspec.DecodeError:
            raise ValueError("the backend sent a stream event that is not JSON") from None
        if not isinstance(document, dict):
            raise ValueError("the backend sent a stream event that is not a JSON object")
        return document

    def error_message(self, raw: bytes) -> str | None:
        try:
            document = _decoder.decode(raw)
        except msgspec.DecodeError:
            return None
        if isinstance(document, dict):
            error = document.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])
            if isinstance(error, str):  # Ollama and llama.cpp sometimes send a bare string
                return error
            if isinstance(document.get("message"), str):
                return str(document["message"])
        return None
