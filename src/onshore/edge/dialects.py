"""Wire dialects a client may speak to Onshore: OpenAI's (native) and Anthropic's Messages API.

Internally every request is an OpenAI chat request; a dialect parses the client's body into one and
encodes answers back, so receipts and audit digests cover the exact bytes the client received.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from onshore.edge import sse
from onshore.edge.errors import ApiError, bad_request
from onshore.edge.wire import decode_json_object
from onshore.translate import anthropic

_encoder = msgspec.json.Encoder()


class StreamEncoder(Protocol):
    def start(self, request_id: str) -> bytes: ...

    def chunk(self, document: dict[str, Any]) -> bytes: ...

    def finish(self) -> bytes:
        """Bytes that end the answer, before the final receipt comment."""
        ...

    def done(self) -> bytes:
        """Bytes after the final receipt comment."""
        ...

    def error(self, status: int, code: str, message: str) -> bytes: ...


class Dialect(Protocol):
    name: str

    def parse(self, raw: bytes) -> dict[str, Any]: ...

    def encode_response(self, document: dict[str, Any], model: str) -> bytes: ...

    def encode_error(self, error: ApiError) -> bytes: ...

    def stream_encoder(self, model: str) -> StreamEncoder: ...


class _OpenAIStream:
    __slots__ = ()

    def start(self, request_id: str) -> bytes:
        return b""

    def chunk(self, document: dict[str, Any]) -> bytes:
        return sse.frame(_encoder.encode(document))

    def finish(self) -> bytes:
        return b""

    def done(self) -> bytes:
        return sse.frame(sse.DONE)

    def error(self, status: int, code: str, message: str) -> bytes:
        error = {"error": {"message": message, "type": "api_error", "param": None, "code": code}}
        return sse.frame(_encoder.encode(error))


class OpenAIDialect:
    name = "openai"

    def parse(self, raw: bytes) -> dict[str, Any]:
        return decode_json_object(raw)

    def encode_response(self, document: dict[str, Any], model: str) -> bytes:
        return _encoder.encode(document)

    def encode_error(self, error: ApiError) -> bytes:
        return error.body()

    def stream_encoder(self, model: str) -> StreamEncoder:
        return _OpenAIStream()


class _AnthropicStream:
    def __init__(self, model: str) -> None:
        self._encoder = anthropic.AnthropicStreamEncoder(model)

    def start(self, request_id: str) -> bytes:
        return self._encoder.start(anthropic.message_id(request_id))

    def chunk(self, document: dict[str, Any]) -> bytes:
        return self._encoder.chunk(document)

    def finish(self) -> bytes:
        return self._encoder.finish()

    def done(self) -> bytes:
        return b""

    def error(self, status: int, code: str, message: str) -> bytes:
        return anthropic.error_event(status, message)


class AnthropicDialect:
    name = "anthropic"

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            return anthropic.to_openai_request(decode_json_object(raw))
        except anthropic.InboundError as exc:
            raise bad_request(exc.message, param=exc.param) from None

    def encode_response(self, document: dict[str, Any], model: str) -> bytes:
        return _encoder.encode(anthropic.to_anthropic_response(document, model))

    def encode_error(self, error: ApiError) -> bytes:
        return anthropic.error_body(error.status, error.message)

    def stream_encoder(self, model: str) -> StreamEncoder:
        return _AnthropicStream(model)


OPENAI = OpenAIDialect()
ANTHROPIC = AnthropicDialect()
