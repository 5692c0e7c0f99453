"""Responses API requests -> OpenAI chat requests, for chat-completions backends.

What Onshore translates: text (and image-URL) input, earlier answers and function calls as history,
instructions, function tools, tool_choice, sampling and length limits, text.format. What it forces:
`store` is always false upstream. What it refuses, by name, with the rule: anything that keeps
state or runs at the provider (background, conversation, item references, hosted tools and their
items), documented fields it does not translate, and fields OpenAI does not document.

`store` and `previous_response_id` are Onshore's own business: the turn is kept (and an earlier one
re-assembled) by the gateway, in its own encrypted store (service/conversations.py), never upstream.
`metadata` is kept by Onshore (echoed in the Response object), never forwarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from onshore.refusal import Kind, Refusal
from onshore.translate.responses import wire

# Tools OpenAI runs itself, at the provider: a request using one would send data outside the route
# Onshore's residency policy decided for it.
HOSTED_TOOLS = frozenset(
    {
        "web_search",
        "web_search_2025_08_26",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "file_search",
        "code_interpreter",
        "computer",
        "computer_use_preview",
        "mcp",
        "image_generation",
        "tool_search",
    }
)
# Input items that are the calls and results of hosted tools, and items that point into state kept at
# the provider: refused for the same reasons.
HOSTED_ITEMS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "tool_search_call",
        "tool_search_output",
    }
)
_RESIDENCY = "a hosted tool runs at the provider, outside the route Onshore's residency policy decided"
_NO_STATE = (
    "it points into state kept at the provider; Onshore keeps conversations itself: chain turns with "
    "'previous_response_id', or send the whole conversation in 'input'"
)
_NO_CONVERSATIONS = (
    "Onshore does not serve the Conversations API; chain turns with 'previous_response_id' (kept by Onshore, "
    "encrypted, in its own store), or send the whole conversation in 'input'"
)
# Documented fields Onshore does not translate: refused by name whenever they are set.
UNSUPPORTED_FIELDS = frozenset(
    {
        "context_management",
        "include",
        "max_tool_calls",
        "moderation",
        "prompt",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "service_tier",
        "top_logprobs",
    }
)
_PATH = re.compile(r"(.*) - at `\$(.*)`")
S = TypeVar("S", bound=msgspec.Struct)


def _refused(param: str, message: str) -> Refusal:
    return Refusal(Kind.UNSUPPORTED_PARAMETER, message, param=param)


def _convert(value: Any, kind: type[S], where: str) -> S:
    """Decode into a wire struct; a problem becomes a Refusal naming the full field path."""
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        match = _PATH.fullmatch(str(exc))
        problem, path = (match[1], match[2].lstrip(".")) if match else (str(exc), "")
        full = ".".join(p for p in (where, path) if p).replace(".[", "[")
        if problem.startswith(("Object missing required field", "Object contains unknown field")):
            field = problem.split("`")[1]
            full = f"{full}.{field}" if full else field
            if problem.startswith("Object missing"):
                raise Refusal(Kind.MISSING_PARAMETER, f"Missing required parameter: '{full}'.", param=full) from None
            message = f"Unrecognized field '{full}': not part of OpenAI's documented request format."
            raise _refused(full, message) from None
        raise Refusal(Kind.INVALID_VALUE, f"Invalid value for '{full}': {problem}.", param=full or None) from None


def _check_fields(body: dict[str, Any]) -> None:
    for field, value in body.items():
        if field not in wire.DOCUMENTED_FIELDS:
            raise _refused(field, f"Unrecognized field '{field}': not part of OpenAI's documented request format.")
        if field == "background" and value is True:
            raise _refused(field, "'background' is refused: a background response is kept at the provider.")
        if field == "conversation" and value is not None:
            raise _refused(field, f"'conversation' is refused: {_NO_CONVERSATIONS}.")
        if field == "truncation" and value == "auto":
            raise _refused(field, "truncation 'auto' is not supported by this gateway (it cannot drop input safely).")
        if field in UNSUPPORTED_FIELDS and value not in (None, []):
            raise _refused(field, f"'{field}' is not supported by this gateway's Responses API.")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A Responses request as the chat path takes it."""

    request: dict[str, Any]  # the chat request (store forced false)
    echo: dict[str, Any]  # the request's fields the Response object echoes
    store: bool  # the client asks Onshore to keep this turn (the API's default: true)
    previous_response_id: str | None  # the earlier turn this one continues
    instructions: int  # leading messages made from `instructions`: never carried into a later turn
    items: tuple[wire.Item, ...]  # the input as items (a string input is one user message)


def to_chat_request(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chat request for a Responses request, and the request fields the Response object echoes.

    Raises Refusal naming the field for anything refused or malformed.
    """
    inbound = to_chat_turn(body)
    return inbound.request, inbound.echo


def to_chat_turn(body: dict[str, Any]) -> Inbound:
    """A Responses request translated, with what Onshore keeps or continues for it."""
    _check_fields(body)
    _check_tool_choice(body.get("tool_choice"))
    parsed = _convert(body, wire.CreateResponse, "")
    messages: list[dict[str, Any]] = []
    if parsed.instructions:
        messages.append({"role": "system", "content": parsed.instructions})
    items: list[wire.Item] = []
    if isinstance(parsed.input, str):
        messages.append({"role": "user", "content": parsed.input})
        items.append(wire.Message(role="user", content=[wire.InputText(parsed.input)]))
    else:
        for position, item in enumerate(parsed.input):
            items.append(_add_item(messages, item, f"input[{position}]"))

    # Forced false: a stored completion would be kept at the provider (the chat field means the same).
    request: dict[str, Any] = {"model": parsed.model, "messages": messages, "store": False}
    tools = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(parsed.tools or [])]
    if tools:
        request["tools"] = [_chat_tool(tool) for tool in tools]
    choice = _tool_choice(parsed.tool_choice)
    if choice is not None:
        request["tool_choice"] = choice
    for ours, theirs in (
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("user", "user"),
        ("safety_identifier", "safety_identifier"),
        ("prompt_cache_key", "prompt_cache_key"),
    ):
        value = getattr(parsed, ours)
        if value is not None:
            request[theirs] = value
    text = parsed.text or wire.TextParam()
    response_format = _response_format(text.format)
    if response_format is not None:
        request["response_format"] = response_format
    if text.verbosity is not None:
        request["verbosity"] = text.verbosity
    if parsed.stream:
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}  # response.completed carries usage
    echo: dict[str, Any] = {
        "instructions": parsed.instructions,
        "tools": [_echo_tool(tool) for tool in tools],
        "tool_choice": _echo_tool_choice(parsed.tool_choice),
        "temperature": parsed.temperature if parsed.temperature is not None else 1.0,
        "top_p": parsed.top_p if parsed.top_p is not None else 1.0,
        "max_output_tokens": parsed.max_output_tokens,
        "parallel_tool_calls": parsed.parallel_tool_calls is not False,
        "metadata": dict(parsed.metadata or {}),
        "text": {"format": _echo_format(text.format), **({"verbosity": text.verbosity} if text.verbosity else {})},
        "truncation": "disabled",
        "store": False,  # until the service says it keeps the turn (ResponsesDialect.begin)
        "background": False,
        "previous_response_id": None,
        **({"user": parsed.user} if parsed.user is not None else {}),
        **({"safety_identifier": parsed.safety_identifier} if parsed.safety_identifier is not None else {}),
        **({"prompt_cache_key": parsed.prompt_cache_key} if parsed.prompt_cache_key is not None else {}),
    }
    store = parsed.store is not False
    instructions = 1 if parsed.instructions else 0
    return Inbound(request, echo, store, parsed.previous_response_id, instructions, tuple(items))


def history_of(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Response's output items as the chat messages a later turn sends back (they are valid input
    items: the assistant message and its function calls)."""
    messages: list[dict[str, Any]] = []
    for position, item in enumerate(output):
        _add_item(messages, item, f"output[{position}]")
    return messages


# --- input items -----------------------------------------------------------------------------------


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> wire.Item:
    kind = item.get("type", "message")
    if kind in HOSTED_ITEMS:
        raise _refused(f"{where}.type", f"Input item type '{kind}' is refused: {_RESIDENCY}.")
    if kind == "item_reference":
        raise _refused(f"{where}.type", f"Input item type 'item_reference' is refused: {_NO_STATE}.")
    struct = wire.ITEMS.get(kind) if isinstance(kind, str) else None
    if struct is None:
        raise _refused(f"{where}.type", f"Input item type {msgspec.json.encode(kind).decode()} is not supported.")
    parsed: wire.Item = _convert(item, struct, where)  # type: ignore[assignment] # one of ITEMS' structs
    if isinstance(parsed, wire.Message):
        messages.append(_message(parsed, where))
    elif isinstance(parsed, wire.FunctionCall):
        function = {"name": parsed.name, "arguments": parsed.arguments}
        call = {"id": parsed.call_id, "type": "function", "function": function}
        last = messages[-1] if messages else None
        # Chat carries an answer's calls on its assistant message: join the turn they belong to.
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    else:
        assert isinstance(parsed, wire.FunctionCallOutput)
        output = parsed.output if isinstance(parsed.output, str) else _texts(parsed.output, f"{where}.output")
        messages.append({"role": "tool", "tool_call_id": parsed.call_id, "content": output})
    return parsed


def _texts(parts: list[wire.Part], where: str) -> str:
    texts: list[str] = []
    for i, part in enumerate(parts):
        if not isinstance(part, wire.InputText | wire.OutputText):
            raise _refused(f"{where}[{i}].type", "Only text parts are supported here.")
        texts.append(part.text)
    return "".join(texts)


def _message(message: wire.Message, where: str) -> dict[str, Any]:
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    if message.role == "assistant":
        texts: list[str] = []
        refusals: list[str] = []
        for i, part in enumerate(message.content):
            if isinstance(part, wire.RefusalText):
                refusals.append(part.refusal)
            elif isinstance(part, wire.InputImage):
                raise _refused(f"{where}.content[{i}].type", "An assistant message cannot hold an image.")
            else:
                texts.append(part.text)
        assistant: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not refusals else None}
        if refusals:
            assistant["refusal"] = "".join(refusals)
        return assistant
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(message.content):
        at = f"{where}.content[{i}]"
        if isinstance(part, wire.RefusalText):
            raise _refused(f"{at}.type", "A refusal part belongs in an assistant message.")
        if isinstance(part, wire.InputImage):
            parts.append(_image(part, at, message.role))
        else:
            parts.append({"type": "text", "text": part.text})
    return {"role": message.role, "content": parts}


def _image(part: wire.InputImage, where: str, role: str) -> dict[str, Any]:
    if role != "user":
        raise _refused(f"{where}.type", "Images are supported only in user messages.")
    if part.file_id is not None or part.image_url is None:
        raise _refused(
            f"{where}.file_id", "An image by file_id refers to a file kept at the provider; send image_url instead."
        )
    image: dict[str, Any] = {"url": part.image_url}
    if part.detail in ("auto", "low", "high"):
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


# --- tools, tool choice, text format ---------------------------------------------------------------


def _tool(tool: dict[str, Any], where: str) -> wire.FunctionTool:
    kind = tool.get("type")
    if kind is None:
        raise Refusal(Kind.MISSING_PARAMETER, f"Missing required parameter: '{where}.type'.", param=f"{where}.type")
    if kind in HOSTED_TOOLS:
        raise _refused(f"{where}.type", f"Tool type '{kind}' is refused: {_RESIDENCY}.")
    if kind != "function":
        raise _refused(f"{where}.type", f"Tool type {msgspec.json.encode(kind).decode()} is not supported.")
    return _convert(tool, wire.FunctionTool, where)


def _chat_tool(tool: wire.FunctionTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    for field in ("description", "parameters", "strict"):
        value = getattr(tool, field)
        if value is not None:
            function[field] = value
    return {"type": "function", "function": function}


def _echo_tool(tool: wire.FunctionTool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "strict": tool.strict,
    }


def _check_tool_choice(raw: Any) -> None:
    """A tool_choice naming a hosted tool is refused with the rule, one of another kind by name."""
    kind = raw.get("type") if isinstance(raw, dict) else "function"
    if kind in HOSTED_TOOLS:
        raise _refused("tool_choice.type", f"tool_choice type '{kind}' is refused: {_RESIDENCY}.")
    if isinstance(kind, str) and kind != "function":
        raise _refused("tool_choice.type", f"tool_choice type '{kind}' is not supported.")


def _tool_choice(parsed: str | wire.ToolChoiceFunction | None) -> str | dict[str, Any] | None:
    if isinstance(parsed, wire.ToolChoiceFunction):
        return {"type": "function", "function": {"name": parsed.name}}
    return parsed


def _echo_tool_choice(parsed: str | wire.ToolChoiceFunction | None) -> str | dict[str, Any]:
    if isinstance(parsed, wire.ToolChoiceFunction):
        return {"type": "function", "name": parsed.name}
    return parsed or "auto"


Format = wire.FormatText | wire.FormatJsonObject | wire.FormatJsonSchema | None


def _response_format(fmt: Format) -> dict[str, Any] | None:
    if isinstance(fmt, wire.FormatJsonObject):
        return {"type": "json_object"}
    if isinstance(fmt, wire.FormatJsonSchema):
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        return {"type": "json_schema", "json_schema": schema}
    return None


def _echo_format(fmt: Format) -> dict[str, Any]:
    if isinstance(fmt, wire.FormatJsonSchema):
        echoed: dict[str, Any] = {"type": "json_schema", "name": fmt.name, "schema": fmt.schema}
        if fmt.description is not None:
            echoed["description"] = fmt.description
        echoed["strict"] = fmt.strict
        return echoed
    if isinstance(fmt, wire.FormatJsonObject):
        return {"type": "json_object"}
    return {"type": "text"}
