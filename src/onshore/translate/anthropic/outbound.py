"""Anthropic backends: OpenAI chat requests become Anthropic Messages requests.

Every top-level OpenAI field is either translated (tables.TRANSLATED_FIELDS) or refused with
Untranslatable naming it (tables.REFUSED_FIELDS; null and neutral values pass as absent), and so
is every nested field Anthropic has no place for: nothing is dropped. Answers and streams come back
through outbound_response.py.
"""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.translate import openai
from onshore.translate.anthropic.errors import Untranslatable
from onshore.translate.anthropic.tables import (
    ASSISTANT_TEXT_PARTS,
    MAX_TEMPERATURE,
    NEUTRAL_VALUES,
    OPENAI_TOOL_CHOICE_MODES,
    OUTBOUND_ROLES,
    REFUSED_FIELDS,
    TRANSLATED_FIELDS,
    USER_PART_BLOCKS,
)
from onshore.translate.anthropic.wire import problem_at

_decoder = msgspec.json.Decoder()
_UNKNOWN_FIELD = "it is not an OpenAI chat field this translation knows"


def check_fields(body: dict[str, Any]) -> None:
    """Refuse the first top-level field that would not reach the backend."""
    for field, value in body.items():
        if field in TRANSLATED_FIELDS or value is None or value in NEUTRAL_VALUES.get(field, ()):
            continue
        raise Untranslatable(field, REFUSED_FIELDS.get(field, _UNKNOWN_FIELD))


def to_messages_request(body: dict[str, Any], model: str, default_max_tokens: int = 4096) -> dict[str, Any]:
    """Translate an OpenAI chat request into an Anthropic Messages request; Untranslatable if impossible."""
    check_fields(body)
    try:
        parsed = msgspec.convert(body, openai.ChatRequest, strict=True)
    except msgspec.ValidationError as exc:
        path, problem = problem_at(exc)
        if path == "messages" or problem.startswith("Object missing required field `messages`"):
            raise Untranslatable("messages", "'messages' must be a list") from None
        raise Untranslatable(path, problem) from None

    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for position, message in enumerate(parsed.messages):
        where = f"messages[{position}]"
        placement = OUTBOUND_ROLES.get(message.role or "")
        if placement is None:
            raise Untranslatable(f"{where}.role", f"role '{message.role}' is not supported for Anthropic backends")
        _refuse_unplaced(message, where)
        if placement == "system":
            text = _plain_text(message.content, where)
            if text:
                system.append(text)
        elif message.role == "user":
            _append(messages, placement, _user_blocks(message.content, where))
        elif message.role == "assistant":
            _append(messages, placement, _assistant_blocks(message, where))
        else:
            _append(messages, placement, [_tool_result(message, where)])

    request: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        request["system"] = "\n\n".join(system)
    max_tokens = parsed.max_completion_tokens if parsed.max_completion_tokens is not None else parsed.max_tokens
    request["max_tokens"] = max_tokens if max_tokens is not None else default_max_tokens
    if parsed.temperature is not None:
        request["temperature"] = min(float(parsed.temperature), MAX_TEMPERATURE)
    if parsed.top_p is not None:
        request["top_p"] = parsed.top_p
    if isinstance(parsed.stop, str):
        request["stop_sequences"] = [parsed.stop]
    elif parsed.stop:
        request["stop_sequences"] = list(parsed.stop)

    tool_choice = _tool_choice(parsed.tool_choice)
    if parsed.tools:
        request["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(parsed.tools)]
        if parsed.parallel_tool_calls is False:
            tool_choice = tool_choice or {"type": "auto"}
            if tool_choice["type"] != "none":
                tool_choice["disable_parallel_tool_use"] = True
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
    elif tool_choice is not None and tool_choice["type"] not in ("auto", "none"):
        # Without tools, "auto" and "none" ask for what happens anyway; forcing a tool cannot be sent.
        raise Untranslatable("tool_choice", "a tool is forced but no tools are given")

    if parsed.stream:
        request["stream"] = True
    user = parsed.user or parsed.safety_identifier
    if parsed.user and parsed.safety_identifier and parsed.safety_identifier != parsed.user:
        raise Untranslatable("safety_identifier", "Anthropic's metadata carries one user id, and 'user' differs")
    if user:
        request["metadata"] = {"user_id": user}
    return request


def _refuse_unplaced(message: openai.ChatMessage, where: str) -> None:
    """Message fields with no place in an Anthropic turn."""
    if message.name:
        raise Untranslatable(f"{where}.name", "Anthropic messages carry no participant name")
    if message.function_call is not None:
        raise Untranslatable(f"{where}.function_call", "legacy function calls are not translated; use tool_calls")
    if message.audio is not None:
        raise Untranslatable(f"{where}.audio", "Anthropic has no audio")


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic wants user and assistant turns to alternate: merge a turn into the previous one of its role."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _plain_text(content: str | list[openai.Part] | None, where: str) -> str:
    """Text of a system/developer/tool message: a string or a list of text parts."""
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for i, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise Untranslatable(f"{where}.content[{i}]", "only text parts are supported here")
        texts.append(part.text)
    return "\n\n".join(t for t in texts if t)


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _user_blocks(content: str | list[openai.Part] | None, where: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [_text_block(content)] if content else []
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        here = f"{where}.content[{i}]"
        kind = USER_PART_BLOCKS.get(part.type or "")
        if kind == "text" and part.text is not None:
            if part.text:
                blocks.append(_text_block(part.text))
        elif kind == "image":
            blocks.append(_image_block(part.image_url, here))
        else:
            raise Untranslatable(here, f"content part type '{part.type}' is not supported for Anthropic backends")
    return blocks


def _image_block(image_url: openai.ImageUrl | None, where: str) -> dict[str, Any]:
    if image_url is None or image_url.url is None:
        raise Untranslatable(f"{where}.image_url.url", "image_url.url must be a string")
    if image_url.detail not in (None, "auto"):
        raise Untranslatable(f"{where}.image_url.detail", "Anthropic has no image detail setting")
    url = image_url.url
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not media_type:
            raise Untranslatable(where, "image data URLs must look like data:<media type>;base64,<data>")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise Untranslatable(where, "image URLs must be data: or http(s): URLs")


def _assistant_blocks(message: openai.ChatMessage, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    content = message.content
    if isinstance(content, list):
        for i, part in enumerate(content):
            text = part.text if part.type == "text" else part.refusal if part.type == "refusal" else None
            if part.type not in ASSISTANT_TEXT_PARTS or text is None:
                raise Untranslatable(f"{where}.content[{i}]", "assistant content parts must be text or refusal")
            if text:
                blocks.append(_text_block(text))
    elif content:
        blocks.append(_text_block(content))
    elif content is None and message.refusal:
        blocks.append(_text_block(message.refusal))
    for i, call in enumerate(message.tool_calls or []):
        here = f"{where}.tool_calls[{i}]"
        function = call.function
        if function is None or function.name is None:
            raise Untranslatable(here, "a tool call needs function.name")
        if not call.id:
            raise Untranslatable(here, "a tool call needs an id")
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": function.name, "input": _arguments(function.arguments, here)}
        )
    return blocks


def _arguments(arguments: str | None, where: str) -> dict[str, Any]:
    if arguments is None or not arguments.strip():
        return {}
    try:
        parsed = _decoder.decode(arguments)
    except msgspec.DecodeError:
        raise Untranslatable(
            f"{where}.function.arguments", "not valid JSON, so it cannot become tool_use input"
        ) from None
    if not isinstance(parsed, dict):
        raise Untranslatable(f"{where}.function.arguments", "must be a JSON object for Anthropic tool_use input")
    return parsed


def _tool_result(message: openai.ChatMessage, where: str) -> dict[str, Any]:
    if not message.tool_call_id:
        raise Untranslatable(f"{where}.tool_call_id", "a tool message needs tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    text = _plain_text(message.content, where)
    if text:
        block["content"] = text
    return block


def _tool(tool: openai.Tool, where: str) -> dict[str, Any]:
    function = tool.function if tool.type == "function" else None
    if function is None or function.name is None:
        raise Untranslatable(f"{where}.type", "only function tools are supported for Anthropic backends")
    result: dict[str, Any] = {"name": function.name}
    if function.description is not None:
        result["description"] = function.description
    result["input_schema"] = function.parameters or {"type": "object"}
    if function.strict:
        # Anthropic's strict tool use (structured outputs) is the same guarantee: arguments that match
        # the schema. The OpenAI Agents SDK sends it by default; a backend without it refuses, visibly.
        result["strict"] = True
    return result


def _tool_choice(choice: str | openai.ToolChoice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in OPENAI_TOOL_CHOICE_MODES:
            return {"type": OPENAI_TOOL_CHOICE_MODES[choice]}
    elif choice.type == "function" and choice.function is not None and choice.function.name is not None:
        return {"type": "tool", "name": choice.function.name}
    raise Untranslatable(
        "tool_choice", "tool_choice must be 'auto', 'required', 'none' or a function choice for Anthropic backends"
    )
