"""Anthropic-speaking clients: Messages requests become OpenAI chat requests, answers go back.

The request is decoded into the wire structs (which name the field of any problem); what the
structs accept but OpenAI cannot express is refused with InboundError naming the field, never
dropped. Streams are encoded in inbound_stream.py.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from onshore.translate import openai
from onshore.translate.anthropic import wire
from onshore.translate.anthropic.errors import InboundError
from onshore.translate.anthropic.tables import (
    DEFAULT_STOP_REASON,
    INBOUND_NEUTRAL_VALUES,
    INBOUND_REFUSED_FIELDS,
    INBOUND_ROLES,
    STOP_REASONS,
    TOOL_CHOICE_MODES,
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

# What a field must be, said the way clients read it (other fields get msgspec's own description).
# Keys are paths with list positions removed.
_EXPECTED: dict[str, str] = {
    "model": "'model' is required and must be a non-empty string",
    "max_tokens": "'max_tokens' is required and must be a positive integer",
    "messages": "'messages' is required and must be a non-empty list",
    "messages[]": "a message must be an object",
    "messages[].role": "role must be 'user' or 'assistant'",
    "messages[].content": "content must be a string or a list of content blocks",
    "messages[].content[]": "a content block must be an object with a 'type'",
    "temperature": "'temperature' must be a number between 0 and 1",
    "top_p": "'top_p' must be a number between 0 and 1",
    "stop_sequences": "'stop_sequences' must be a list of strings",
    "stop_sequences[]": "'stop_sequences' must be a list of strings",
    "stream": "'stream' must be a boolean",
    "metadata": "'metadata' must be an object",
    "metadata.user_id": "'user_id' must be a string",
    "system": "'system' must be a string or a list of text blocks",
    "system[]": "system blocks must be text blocks",
    "messages[].content[].text": "a text block needs a string 'text'",
    "messages[].content[].tool_use_id": "a tool_result block needs a tool_use_id",
    "messages[].content[].input": "tool_use input must be an object",
    "tools": "'tools' must be a list",
    "tools[]": "a tool must be an object",
    "tools[].name": "a tool needs a name",
    "tools[].input_schema": "a tool needs an input_schema object",
    "tool_choice": "'tool_choice' must be an object",
    "tool_choice.type": "tool_choice type must be 'auto', 'any', 'tool' or 'none'",
    "tool_choice.name": "a 'tool' choice needs the tool's name",
    "tool_choice.disable_parallel_tool_use": "must be a boolean",
    "cache_control": "'cache_control' must be {\"type\": \"ephemeral\"} with an optional ttl of '5m' or '1h'",
    "cache_control.type": "cache_control type must be 'ephemeral'",
    "cache_control.ttl": "cache_control ttl must be '5m' or '1h'",
}
# The same for a value that is not one of a field's kinds ({kind} is the value, quoted).
_UNKNOWN_KIND: dict[str, str] = {
    "tools[].type": "tool type {kind} (a server tool) is not supported",
    "messages[].content[].source.type": "image source type {kind} is not supported",
}
_POSITIONS = re.compile(r"\[\d+\]")
_INVALID = re.compile(r"Invalid (?:enum )?value (.*)")
_BLOCK_TYPE = re.compile(r"messages\[(\d+)\]\.content\[\d+\]\.type")


def _role(body: dict[str, Any], position: str) -> str:
    """The role of the message at `position`, which msgspec read as a user or an assistant turn."""
    return str(body["messages"][int(position)]["role"])


def _inbound_error(exc: msgspec.ValidationError, body: dict[str, Any]) -> InboundError:
    path, problem = wire.problem_at(exc)
    if problem.startswith("Object contains unknown field"):
        field = problem.split("`")[1]
        return InboundError(wire.join(path, field), f"unknown field '{field}'")
    if problem.startswith("Object missing required field"):
        field = problem.split("`")[1]
        if field != wire.TAG_FIELD or not path:
            path = wire.join(path, field)
        problem = f"'{field}' is required"
    elif (invalid := _INVALID.fullmatch(problem)) and (block := _BLOCK_TYPE.fullmatch(path)):
        role = _role(body, block[1])
        return InboundError(path, f"content block type {invalid[1]} is not supported in {role} messages")
    shape = _POSITIONS.sub("[]", path)
    if (invalid := _INVALID.fullmatch(problem)) and shape in _UNKNOWN_KIND:
        return InboundError(path, _UNKNOWN_KIND[shape].format(kind=invalid[1]))
    return InboundError(path, _EXPECTED.get(shape, problem))


# --- request: Anthropic Messages request -> OpenAI chat request --------------------------------------


def _check_top_level(body: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """The body to translate. A documented field Onshore refuses is refused naming its rule (unless its
    value asks for what happens anyway: then it is left out); only an undocumented field is "unknown"."""
    kept: dict[str, Any] = {}
    for field, value in body.items():
        if field in INBOUND_REFUSED_FIELDS:
            if value is None or value in INBOUND_NEUTRAL_VALUES.get(field, ()):
                continue
            raise InboundError(field, f"'{field}' is not supported by this gateway: {INBOUND_REFUSED_FIELDS[field]}")
        if field not in fields:
            raise InboundError(field, f"unknown field '{field}'")
        kept[field] = value
    return kept


def to_openai_request(body: dict[str, Any]) -> dict[str, Any]:
    """Translate an Anthropic Messages request into an OpenAI chat request; InboundError if it is invalid."""
    body = _check_top_level(body, wire.REQUEST_FIELDS)
    try:
        parsed = msgspec.convert(body, wire.MessagesRequest, strict=True)
    except msgspec.ValidationError as exc:
        raise _inbound_error(exc, body) from None

    messages = _chat_messages(parsed.system, parsed.messages)
    request: dict[str, Any] = {"model": parsed.model, "messages": messages, "max_tokens": parsed.max_tokens}
    if parsed.temperature is not None:
        request["temperature"] = parsed.temperature
    if parsed.top_p is not None:
        request["top_p"] = parsed.top_p
    if parsed.stop_sequences:
        request["stop"] = list(parsed.stop_sequences)
    if parsed.tools:
        request["tools"] = [_tool(tool) for tool in parsed.tools]
    if parsed.tool_choice is not None:
        request["tool_choice"] = _tool_choice(parsed.tool_choice)
        if parsed.tool_choice.disable_parallel_tool_use is True:
            request["parallel_tool_calls"] = False
    if parsed.stream:
        request["stream"] = True
        # The stream encoder needs the token counts for message_delta.
        request["stream_options"] = {"include_usage": True}
    if parsed.metadata is not None and parsed.metadata.user_id is not None:
        request["user"] = parsed.metadata.user_id
    return request


def to_openai_count_request(body: dict[str, Any]) -> dict[str, Any]:
    """Translate an Anthropic token-count request into the OpenAI chat request whose prompt it counts
    (no max_tokens: nothing is generated); InboundError if it is invalid."""
    body = _check_top_level(body, wire.COUNT_FIELDS)
    try:
        parsed = msgspec.convert(body, wire.CountTokensRequest, strict=True)
    except msgspec.ValidationError as exc:
        raise _inbound_error(exc, body) from None
    request: dict[str, Any] = {"model": parsed.model, "messages": _chat_messages(parsed.system, parsed.messages)}
    if parsed.tools:
        request["tools"] = [_tool(tool) for tool in parsed.tools]
    if parsed.tool_choice is not None:
        request["tool_choice"] = _tool_choice(parsed.tool_choice)
    return request


def _chat_messages(
    system: str | list[wire.SystemBlock] | None, turns: list[wire.UserMessage | wire.AssistantMessage]
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    text = _system(system)
    if text:
        messages.append({"role": "system", "content": text})
    for position, message in enumerate(turns):
        messages.extend(_messages(message, f"messages[{position}]"))
    return messages


def _system(system: str | list[wire.SystemBlock] | None) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    texts = []
    for i, block in enumerate(system):
        if block.type != "text" or block.text is None:
            raise InboundError(f"system[{i}]", _EXPECTED["system[]"])
        texts.append(block.text)
    return "\n\n".join(t for t in texts if t)


def _messages(message: wire.UserMessage | wire.AssistantMessage, where: str) -> list[dict[str, Any]]:
    """One Anthropic message becomes one OpenAI message, or tool messages plus a user message."""
    if isinstance(message, wire.AssistantMessage):
        blocks: list[Any] = [wire.TextBlock(message.content)] if isinstance(message.content, str) else message.content
        return [_assistant(blocks)]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    user_blocks = [wire.TextBlock(message.content)] if isinstance(message.content, str) else message.content
    for i, block in enumerate(user_blocks):
        if isinstance(block, wire.ToolResultBlock):
            results.append(_tool_message(block, f"{where}.content[{i}]"))
        elif isinstance(block, wire.TextBlock):
            parts.append({"type": "text", "text": block.text})
        else:
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block)}})
    # OpenAI wants tool answers right after the assistant turn that called the tools.
    if len(parts) == 1 and parts[0]["type"] == "text":
        results.append({"role": INBOUND_ROLES["user"], "content": parts[0]["text"]})
    elif parts:
        results.append({"role": INBOUND_ROLES["user"], "content": parts})
    elif not results:
        results.append({"role": INBOUND_ROLES["user"], "content": ""})
    return results


def _image_url(block: wire.ImageBlock) -> str:
    source = block.source
    if isinstance(source, wire.Base64Source):
        return f"data:{source.media_type};base64,{source.data}"
    return source.url


def _tool_message(block: wire.ToolResultBlock, where: str) -> dict[str, Any]:
    content = block.content
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        texts = []
        for i, item in enumerate(content):
            if not isinstance(item, wire.TextBlock):
                raise InboundError(f"{where}.content[{i}]", "only text is supported in tool results")
            texts.append(item.text)
        text = "\n\n".join(texts)
    if block.is_error:
        text = "Error: " + text
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}


def _assistant(blocks: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, wire.TextBlock):
            texts.append(block.text)
        elif isinstance(block, wire.ToolUseBlock):
            arguments = _encoder.encode(block.input or {}).decode()
            calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}})
        # else a reasoning block (tables.REASONING_BLOCKS): nothing in OpenAI's format carries it
    message: dict[str, Any] = {
        "role": INBOUND_ROLES["assistant"],
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = calls
    return message


def _tool(tool: wire.Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description is not None:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _tool_choice(choice: wire.ToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, wire.ToolChoiceTool):
        return {"type": "function", "function": {"name": choice.name}}
    tag = choice.__struct_config__.tag
    assert isinstance(tag, str)
    return TOOL_CHOICE_MODES[tag]


# --- response: OpenAI chat.completion -> Anthropic message -----------------------------------------


def message_id(completion_id: Any) -> str:
    """An Anthropic-style id ("msg_...") derived from an OpenAI completion id."""
    if not isinstance(completion_id, str) or not completion_id:
        return "msg_onshore"
    if completion_id.startswith("msg_"):
        return completion_id
    return "msg_" + completion_id.removeprefix("chatcmpl-")


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason, DEFAULT_STOP_REASON) if finish_reason is not None else DEFAULT_STOP_REASON


def to_anthropic_response(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """Translate an OpenAI chat.completion into an Anthropic message; ValueError if it is malformed."""
    try:
        parsed = msgspec.convert(completion, openai.Completion, strict=True)
    except msgspec.ValidationError as exc:
        raise ValueError(f"the completion is malformed: {exc}") from None
    if not parsed.choices:
        raise ValueError("the completion has no choices")
    choice = parsed.choices[0]
    message = choice.message
    if message is None:
        raise ValueError("the completion's choice has no message")
    content: list[dict[str, Any]] = []
    text = message.content or message.refusal
    if text:
        content.append({"type": "text", "text": text})
    for call in message.tool_calls or []:
        content.append(_tool_use(call))
    usage = parsed.usage or openai.CompletionUsage()
    return {
        "id": message_id(parsed.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.finish_reason),
        "stop_sequence": None,
        "usage": {"input_tokens": usage.prompt_tokens or 0, "output_tokens": usage.completion_tokens or 0},
    }


def _tool_use(call: openai.ToolCall) -> dict[str, Any]:
    function = call.function
    if function is None or function.name is None:
        raise ValueError("the completion has a tool call without a function name")
    tool_input: Any = {}
    if function.arguments and function.arguments.strip():
        try:
            tool_input = _decoder.decode(function.arguments)
        except msgspec.DecodeError:
            raise ValueError(f"the arguments of tool call '{function.name}' are not valid JSON") from None
    if not isinstance(tool_input, dict):
        raise ValueError(f"the arguments of tool call '{function.name}' are not a JSON object")
    return {"type": "tool_use", "id": call.id or "toolu_onshore", "name": function.name, "input": tool_input}
