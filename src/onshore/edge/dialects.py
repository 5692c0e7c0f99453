"""Wire dialects a client may speak to Onshore: OpenAI's (native), Anthropic's Messages API, and
OpenAI's Responses API.

Internally every request is an OpenAI chat request; a dialect parses the client's body into one and
encodes answers and refusals back (the service's `Dialect` port), so receipts and audit digests
cover the exact bytes the client received.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from onshore.decide.limits import Quota
from onshore.edge import sse
from onshore.edge.errors import api_error, status_of
from onshore.edge.headers import anthropic_headers, openai_headers
from onshore.edge.wire import decode_json_object
from onshore.refusal import Kind, Refusal
from onshore.service.ports import Reply, StreamEncoder
from onshore.translate import anthropic, responses
from onshore.translate.responses import native

_encoder = msgspec.json.Encoder()


def _receipt(receipt: str) -> bytes:
    return sse.comment(f"onshore-receipt {receipt}")


class _OpenAIStream:
    __slots__ = ()

    def start(self, request_id: str) -> bytes:
        return b""

    def chunk(self, document: dict[str, Any]) -> bytes:
        return sse.frame(_encoder.encode(document))

    def finish(self) -> bytes:
        return b""

    def receipt(self, receipt: str) -> bytes:
        return _receipt(receipt)

    def done(self) -> bytes:
        return sse.frame(sse.DONE)

    def error(self, refusal: Refusal) -> bytes:
        error = {"error": {"message": refusal.detail, "type": "api_error", "param": None, "code": refusal.kind.code}}
        return sse.frame(_encoder.encode(error))


_OPENAI_STREAM = _OpenAIStream()  # stateless: one for every stream


class OpenAIDialect:
    name = "openai"
    chat_endpoint = "chat"  # how a chat request in this dialect is recorded
    streams_usage = False  # a stream carries usage only when the client asks for it

    def parse(self, raw: bytes) -> dict[str, Any]:
        return decode_json_object(raw)

    def encode_response(self, document: dict[str, Any], model: str) -> bytes:
        return _encoder.encode(document)

    def render_refusal(self, refusal: Refusal) -> Reply:
        error = api_error(refusal)
        return Reply(error.status, error.body(), error.headers)

    def stream_encoder(self, model: str) -> StreamEncoder:
        return _OPENAI_STREAM

    def standard_headers(self, request_id: str, quota: Quota | None, now: float) -> dict[str, str]:
        return openai_headers(request_id, quota, now)


class _AnthropicStream:
    def __init__(self, model: str) -> None:
        self._encoder = anthropic.AnthropicStreamEncoder(model)

    def start(self, request_id: str) -> bytes:
        return self._encoder.start(anthropic.message_id(request_id))

    def chunk(self, document: dict[str, Any]) -> bytes:
        return self._encoder.chunk(document)

    def finish(self) -> bytes:
        return self._encoder.finish()

    def receipt(self, receipt: str) -> bytes:
        return _receipt(receipt)

    def done(self) -> bytes:
        return b""

    def error(self, refusal: Refusal) -> bytes:
        return anthropic.error_event(status_of(refusal.kind), refusal.detail)


class AnthropicDialect:
    name = "anthropic"
    chat_endpoint = "anthropic"
    streams_usage = True  # Anthropic's message_delta always carries usage

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            return anthropic.to_openai_request(decode_json_object(raw))
        except anthropic.InboundError as exc:
            raise Refusal(Kind.INVALID_VALUE, exc.message, param=exc.param) from None

    def parse_count(self, raw: bytes) -> dict[str, Any]:
        """A token-count request as the OpenAI chat request whose prompt it counts."""
        try:
            return anthropic.to_openai_count_request(decode_json_object(raw))
        except anthropic.InboundError as exc:
            raise Refusal(Kind.INVALID_VALUE, exc.message, param=exc.param) from None

    def encode_response(self, document: dict[str, Any], model: str) -> bytes:
        return _encoder.encode(anthropic.to_anthropic_response(document, model))

    def render_refusal(self, refusal: Refusal) -> Reply:
        error = api_error(refusal)
        return Reply(error.status, anthropic.error_body(error.status, error.message), error.headers)

    def stream_encoder(self, model: str) -> StreamEncoder:
        return _AnthropicStream(model)

    def standard_headers(self, request_id: str, quota: Quota | None, now: float) -> dict[str, str]:
        return anthropic_headers(request_id, quota, now)


class _ResponsesStream:
    def __init__(self, encoder: responses.ResponsesStreamEncoder) -> None:
        self.encoder = encoder

    def start(self, request_id: str) -> bytes:
        return self.encoder.start(request_id)

    def chunk(self, document: dict[str, Any]) -> bytes:
        return self.encoder.chunk(document)

    def finish(self) -> bytes:
        return self.encoder.finish()

    def receipt(self, receipt: str) -> bytes:
        return _receipt(receipt)

    def done(self) -> bytes:
        return b""  # the Responses stream ends with response.completed, no [DONE]

    def error(self, refusal: Refusal) -> bytes:
        return self.encoder.error(refusal.kind.code or "api_error", refusal.detail)


class ResponsesDialect:
    """OpenAI's Responses API, served by the Responses service (service/responses.py). One per request:
    parsing keeps the request's fields the Response object echoes (instructions, tools, metadata, ...)
    and what the conversation state needs (its ResponsesTurn port); answering keeps the Response sent."""

    name = "responses"
    chat_endpoint = "responses"
    streams_usage = True  # response.completed always carries usage

    def __init__(self) -> None:
        self._echo: dict[str, Any] = {}
        self._created_at = 0
        self._resp_id: str | None = None
        self.store = False
        self.previous_response_id: str | None = None
        self.instructions = 0
        self._sent: dict[str, Any] | None = None
        self._stream: _ResponsesStream | None = None
        self._items: tuple[responses.Item, ...] = ()
        self._answered: dict[str, Any] | None = None  # a native backend's final Response, as presented

    def parse(self, raw: bytes) -> dict[str, Any]:
        self._created_at = int(time.time())
        inbound = responses.to_chat_turn(decode_json_object(raw))
        self._echo = inbound.echo
        self.store, self.previous_response_id, self.instructions = (
            inbound.store,
            inbound.previous_response_id,
            inbound.instructions,
        )
        self._items = inbound.items
        return inbound.request

    def begin(self, response_id: str, stored: bool) -> None:
        self._resp_id = response_id
        self._echo["store"] = stored
        self._echo["previous_response_id"] = self.previous_response_id

    def sent(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None:
        response = self._answered
        if response is None:
            response = self._stream.encoder.final if self._stream is not None else self._sent
        if response is None:
            return None
        history = responses.history_of(native.history_items(response["output"]))
        return response, history, responses.input_items(self._items, response["id"])

    def present(self, upstream: dict[str, Any], model: str, *, final: bool) -> dict[str, Any]:
        """A native backend's Response (restored) as the client gets it; `final`: the one kept."""
        response = native.present(upstream, model, self._echo, self._created_at, self._resp_id or "resp_onshore")
        if final:
            self._answered = response
        return response

    def encode_response(self, document: dict[str, Any], model: str) -> bytes:
        answer = responses.to_response(
            document, model, self._echo, self._created_at, int(time.time()), resp_id=self._resp_id
        )
        self._sent = answer
        return _encoder.encode(answer)

    def render_refusal(self, refusal: Refusal) -> Reply:
        error = api_error(refusal)
        return Reply(error.status, error.body(), error.headers)

    def stream_encoder(self, model: str) -> StreamEncoder:
        encoder = responses.ResponsesStreamEncoder(model, self._echo, self._created_at, time.time)
        self._stream = _ResponsesStream(encoder)
        return self._stream

    def standard_headers(self, request_id: str, quota: Quota | None, now: float) -> dict[str, str]:
        return openai_headers(request_id, quota, now)


EdgeDialect = OpenAIDialect | AnthropicDialect | ResponsesDialect
OPENAI = OpenAIDialect()
ANTHROPIC = AnthropicDialect()
