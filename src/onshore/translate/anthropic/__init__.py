"""OpenAI <-> Anthropic Messages API, both directions, over one set of tables (tables.py).

- inbound: clients that speak Claude (`POST /v1/messages` at the edge) -> OpenAI chat requests, and
  OpenAI answers and streams back as Anthropic messages and events (inbound_stream).
- outbound: OpenAI chat requests -> Anthropic backends, refusing what Anthropic cannot express
  (Untranslatable); their answers and streams back as OpenAI shapes (outbound_response).
- wire: Anthropic's formats as msgspec structs; errors: what each side raises, and error shapes.
"""

from onshore.translate.anthropic.errors import InboundError, Untranslatable, error_body, error_event, error_type
from onshore.translate.anthropic.inbound import (
    message_id,
    stop_reason,
    to_anthropic_response,
    to_openai_count_request,
    to_openai_request,
)
from onshore.translate.anthropic.inbound_stream import AnthropicStreamEncoder, event
from onshore.translate.anthropic.outbound import check_fields, to_messages_request
from onshore.translate.anthropic.outbound_response import AnthropicStreamDecoder, finish_reason, to_chat_completion

__all__ = [
    "AnthropicStreamDecoder",
    "AnthropicStreamEncoder",
    "InboundError",
    "Untranslatable",
    "check_fields",
    "error_body",
    "error_event",
    "error_type",
    "event",
    "finish_reason",
    "message_id",
    "stop_reason",
    "to_anthropic_response",
    "to_chat_completion",
    "to_messages_request",
    "to_openai_count_request",
    "to_openai_request",
]
