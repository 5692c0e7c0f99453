"""The parts of OpenAI's chat format the translations read, as lenient msgspec structs.

Bodies reaching a translation were already checked against OpenAI's schema by the edge (requests)
or come from a backend adapter (answers), so these structs only type what is read: keys they do not
name are ignored here, and the outbound side refuses top-level fields it does not translate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec


class _Open(msgspec.Struct):
    pass


class FunctionCall(_Open):
    name: str | None = None
    arguments: str | None = None


class ToolCall(_Open):
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


class ImageUrl(_Open):
    url: str | None = None
    detail: str | None = None


class Part(_Open):
    type: str | None = None
    text: str | None = None
    refusal: str | None = None
    image_url: ImageUrl | None = None


class ChatMessage(_Open):
    role: str | None = None
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    function_call: Any = None
    audio: Any = None


class FunctionDef(_Open):
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open):
    type: str | None = None
    function: FunctionDef | None = None


class ChosenFunction(_Open):
    name: str | None = None


class ToolChoice(_Open):
    type: str | None = None
    function: ChosenFunction | None = None


class ChatRequest(_Open):
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: int | float | None = None
    top_p: int | float | None = None
    stop: str | list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    stream: bool | None = None
    user: str | None = None
    safety_identifier: str | None = None


class CompletionMessage(_Open):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(_Open):
    message: CompletionMessage | None = None
    finish_reason: str | None = None


class CompletionUsage(_Open):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Completion(_Open):
    id: str | None = None
    choices: list[Choice] | None = None
    usage: CompletionUsage | None = None


def first_answer(chunk: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """What one streamed chat chunk adds to its first answer (choice 0), in order: ("text", str),
    ("tool_call", dict) and ("finish", reason). Dialects with one answer per request (Anthropic's
    Messages, the Responses API) encode these; other choices are never asked for by them."""
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for text in (delta.get("content"), delta.get("refusal")):
                if isinstance(text, str) and text:
                    yield "text", text
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    yield "tool_call", call
        if isinstance(choice.get("finish_reason"), str):
            yield "finish", choice["finish_reason"]
