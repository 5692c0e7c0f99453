"""A backend that speaks OpenAI's Responses API natively (`backends.X.responses: native`).

It serves everything its kind's adapter serves (chat, embeddings, ...) through that adapter, and one
more thing: a chat body marked with `NATIVE` (by the Responses service, for this route only) goes to
the backend's Responses endpoint instead, as the Responses request translate/responses/native.py
makes of it. The marker's value is how many leading messages are the request's `instructions`.

Its answer is the backend's Response object, and its stream the backend's typed events, both as
they came (checked for shape): restoring and presenting them is the Responses service's job.
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.route.backends.base import Endpoint, StreamDecoder, UpstreamRequest
from onshore.route.backends.openai import OpenAIAdapter
from onshore.translate.responses.native import to_responses_request

# The body key that asks for the Responses endpoint; a client's body never has it (its fields are
# checked against OpenAI's documented set before they are translated).
NATIVE = "\x00onshore.responses"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class ResponsesNativeAdapter:
    """Wraps an OpenAI or Azure OpenAI adapter; `url` and `headers` are its Responses endpoint's."""

    __slots__ = ("_headers", "_inner", "_url")

    def __init__(self, inner: OpenAIAdapter, url: str, headers: dict[str, str]) -> None:
        self._inner = inner
        self._url = url
        self._headers = headers

    @classmethod
    def openai(cls, inner: OpenAIAdapter, base_url: str, api_key: str | None) -> ResponsesNativeAdapter:
        """An OpenAI-compatible server's `<base_url>/responses`."""
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return cls(inner, base_url.rstrip("/") + "/responses", headers)

    @classmethod
    def azure(cls, inner: OpenAIAdapter, base_url: str, api_key: str | None) -> ResponsesNativeAdapter:
        """Azure OpenAI's v1 Responses path (`/openai/v1/responses`, no api-version; the body's
        `model` is the deployment name)."""
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["api-key"] = api_key
        return cls(inner, base_url.rstrip("/") + "/openai/v1/responses", headers)

    def serves(self, endpoint: Endpoint) -> bool:
        return endpoint == "responses" or self._inner.serves(endpoint)

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        if NATIVE not in body:
            return self._inner.build(endpoint, body, upstream_model)
        chat = {key: value for key, value in body.items() if key != NATIVE}
        native = to_responses_request(chat, body[NATIVE])
        return UpstreamRequest(self._url, self._headers, _encoder.encode({"model": upstream_model, **native}))

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        try:
            document = _decoder.decode(raw)
        except msgspec.DecodeError:
            raise ValueError("the backend's response is not JSON") from None
        if isinstance(document, dict) and document.get("object") == "response":
            if not isinstance(document.get("output"), list):
                raise ValueError("the backend's Response has no 'output' list")
            if not isinstance(document.get("status"), str):
                raise ValueError("the backend's Response has no 'status'")
            return document
        return self._inner.parse_response(endpoint, raw)

    def stream_decoder(self) -> StreamDecoder:
        return _NativeStreamDecoder(self._inner.stream_decoder())

    def error_message(self, raw: bytes) -> str | None:
        return self._inner.error_message(raw)


class _NativeStreamDecoder:
    """A Responses event (it has a `type`) as it came; anything else is a chat chunk for the inner decoder."""

    __slots__ = ("_inner",)

    def __init__(self, inner: StreamDecoder) -> None:
        self._inner = inner

    def decode(self, payload: bytes) -> list[dict[str, Any]] | None:
        if payload.startswith(b"{") and b'"type"' in payload:
            try:
                document = _decoder.decode(payload)
            except msgspec.DecodeError:
                raise ValueError("the backend sent a stream event that is not JSON") from None
            if isinstance(document, dict) and isinstance(document.get("type"), str):
                return [document]
        return self._inner.decode(payload)


def is_native_event(document: dict[str, Any]) -> bool:
    """Whether a decoded stream document is a Responses event (a chat chunk has no `type`)."""
    return isinstance(document.get("type"), str)
