"""Adapter for Anthropic's Messages API: an HTTP envelope over onshore.translate.anthropic.

The translation (and its refusals of what Anthropic cannot express) is in the translate package;
this module knows the URL, the headers and the endpoints Anthropic has.
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.route.backends.base import Endpoint, UpstreamRequest
from onshore.route.backends.openai import error_message as openai_error_message
from onshore.translate.anthropic import AnthropicStreamDecoder, to_chat_completion, to_messages_request

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
_SERVED = frozenset({"chat", "count_tokens"})
_COUNTED = frozenset({"model", "messages", "system", "tools", "tool_choice"})  # what count_tokens takes


class AnthropicAdapter:
    __slots__ = ("_count_url", "_default_max_tokens", "_headers", "_url")

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
    ) -> None:
        base = base_url.rstrip("/")
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._count_url = self._url + "/count_tokens"
        headers = {"content-type": "application/json", "anthropic-version": anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        self._headers = headers
        self._default_max_tokens = default_max_tokens

    def serves(self, endpoint: Endpoint) -> bool:
        return endpoint in _SERVED

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        """The request for the backend; Untranslatable (a ValueError) if Anthropic cannot express it."""
        if endpoint not in _SERVED:
            raise ValueError(f"Anthropic backends have no '{endpoint}' endpoint")
        request = to_messages_request(body, upstream_model, self._default_max_tokens)
        if endpoint == "count_tokens":  # the prompt only: nothing is generated
            request = {key: value for key, value in request.items() if key in _COUNTED}
            return UpstreamRequest(self._count_url, dict(self._headers), _encoder.encode(request))
        return UpstreamRequest(self._url, dict(self._headers), _encoder.encode(request))

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        if endpoint not in _SERVED:
            raise ValueError(f"Anthropic backends have no '{endpoint}' endpoint")
        if endpoint == "count_tokens":
            try:
                document = _decoder.decode(raw)
            except msgspec.DecodeError:
                raise ValueError("the backend's token count is not JSON") from None
            if not isinstance(document, dict) or not isinstance(document.get("input_tokens"), int):
                raise ValueError("the backend's token count has no integer 'input_tokens'")
            return {"input_tokens": document["input_tokens"]}
        return to_chat_completion(raw)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def error_message(self, raw: bytes) -> str | None:
        """The message in an Anthropic error body: {"type": "error", "error": {"type": ..., "message": ...}},
        the same place OpenAI puts it."""
        return openai_error_message(raw)
