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


class AnthropicAdapter:
    __slots__ = ("_default_max_tokens", "_headers", "_url")

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
    ) -> None:
        base = base_url.rstrip("/")
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        headers = {"content-type": "application/json", "anthropic-version": anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        self._headers = headers
        self._default_max_tokens = default_max_tokens

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        """The request for the backend; Untranslatable (a ValueError) if Anthropic cannot express it."""
        if endpoint != "chat":
            raise ValueError(f"Anthropic backends have no '{endpoint}' endpoint")
        request = to_messages_request(body, upstream_model, self._default_max_tokens)
        return UpstreamRequest(self._url, dict(self._headers), _encoder.encode(request))

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        if endpoint != "chat":
            raise ValueError(f"Anthropic backends have no '{endpoint}' endpoint")
        return to_chat_completion(raw)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def error_message(self, raw: bytes) -> str | None:
        """The message in an Anthropic error body: {"type": "error", "error": {"type": ..., "message": ...}},
        the same place OpenAI puts it."""
        return openai_error_message(raw)
