"""OpenAI's Responses API (`POST /v1/responses`) onto chat-completions backends.

- inbound: Responses requests -> OpenAI chat requests, with the residency rules (store forced false;
  hosted tools, background and provider-kept state refused by name) and what the Response echoes.
- response: chat answers -> Response objects; stream: chat chunks -> the typed Responses events.
- items: a turn's input as the items GET /v1/responses/{id}/input_items lists.
- wire: the request's formats as msgspec structs.
"""

from onshore.translate.responses.inbound import HOSTED_TOOLS, Inbound, history_of, to_chat_request, to_chat_turn
from onshore.translate.responses.items import input_items
from onshore.translate.responses.response import response_id, to_response
from onshore.translate.responses.stream import ResponsesStreamEncoder
from onshore.translate.responses.wire import Item

__all__ = [
    "HOSTED_TOOLS",
    "Inbound",
    "Item",
    "ResponsesStreamEncoder",
    "history_of",
    "input_items",
    "response_id",
    "to_chat_request",
    "to_chat_turn",
    "to_response",
]
