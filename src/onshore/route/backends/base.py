"""The adapter interface every provider implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

# What a backend is asked for: chat, embeddings, legacy text completions, or a prompt's token count;
# "responses": only asked of an adapter (serves), by a backend that speaks the Responses API natively.
Endpoint = Literal["chat", "embeddings", "completions", "count_tokens", "responses"]


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes


class StreamDecoder(Protocol):
    def decode(self, payload: bytes) -> list[dict[str, Any]] | None:
        """OpenAI chunks for one SSE data payload (possibly none); None at the end of the stream.
        ValueError if the payload is not what the provider should send."""
        ...


class Adapter(Protocol):
    """Translates between OpenAI's wire format (what Onshore speaks) and one provider's."""

    def serves(self, endpoint: Endpoint) -> bool:
        """Whether this provider has the endpoint (`build` raises ValueError for one it has not)."""
        ...

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest: ...

    def parse_response(self, endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
        """Decode a successful non-streaming response into OpenAI's shape; ValueError if it is not."""
        ...

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed response (providers like Anthropic need per-stream state)."""
        ...

    def error_message(self, raw: bytes) -> str | None:
        """The provider's own error message from an error body, if it has one."""
        ...
