"""Responses API for a backend that speaks it natively: the upstream body, and its answer as the client gets it.

The upstream body is made from the chat request the route was planned with (inbound.py's translation,
the conversation re-assembled, pseudonymised for a less trusted backend), never from the client's
raw body: so every string it forwards is one the scan saw and the plan replaced, and a field the
translation did not carry cannot reach the provider. Anything in the chat request that has no
mapping here is refused (ValueError: the router moves on to the next compliant route).

`store` is always false, and there is no `previous_response_id`: the provider keeps nothing, Onshore
sends the whole conversation as input items.

The answer keeps the backend's status, output and usage; everything the Response echoes of the
request (instructions, tools, metadata, ...) is Onshore's, as for a translated answer, so the client
never sees the pseudonymised instructions the backend got back, and the id is Onshore's own (the one
`previous_response_id` names).
"""

from __future__ import annotations

from typing import Any

# Chat request keys a native body carries over unchanged, and those it renames.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier", "prompt_cache_key")
# Keys that need no counterpart: the model is the adapter's, store is forced, usage always comes.
_DROPPED = frozenset({"model", "store", "stream_options"})
_HANDLED = frozenset(
    {
        "messages",
        "tools",
        "tool_choice",
        "max_tokens",
        "response_format",
        "verbosity",
        "stream",
        *_SAME,
        *_DROPPED,
    }
)
# What the client's Response takes from the backend's; the rest is the request's echo.
_FROM_BACKEND = ("object", "status", "completed_at", "error", "incomplete_details", "output", "usage")
# Output items a later turn can send back as history (reasoning items and the like are not kept).
HISTORY_ITEMS = frozenset({"message", "function_call"})


def to_responses_request(chat: dict[str, Any], instructions: int) -> dict[str, Any]:
    """The Responses request for a planned chat request; the first `instructions` messages came from
    `instructions`. ValueError naming what cannot be expressed."""
    unknown = sorted(key for key in chat if key not in _HANDLED)
    if unknown:
        raise ValueError(f"the Responses API body would not carry '{unknown[0]}'")
    messages: list[dict[str, Any]] = list(chat.get("messages") or [])
    body: dict[str, Any] = {"store": False}
    lead = messages[:instructions]
    if lead:
        body["instructions"] = "\n\n".join(_text_of(m.get("content"), "instructions") for m in lead)
    body["input"] = [item for position, m in enumerate(messages[instructions:]) for item in _items(m, position)]
    tools = chat.get("tools")
    if tools:
        body["tools"] = [_tool(tool) for tool in tools]
    choice = chat.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise ValueError("tool_choice has no function name")
        body["tool_choice"] = {"type": "function", "name": name}
    elif choice is not None:
        body["tool_choice"] = choice
    if chat.get("max_tokens") is not None:
        body["max_output_tokens"] = chat["max_tokens"]
    for key in _SAME:
        if chat.get(key) is not None:
            body[key] = chat[key]
    text: dict[str, Any] = {}
    fmt = _format(chat.get("response_format"))
    if fmt is not None:
        text["format"] = fmt
    if chat.get("verbosity") is not None:
        text["verbosity"] = chat["verbosity"]
    if text:
        body["text"] = text
    if chat.get("stream"):
        body["stream"] = True
    return body


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise ValueError(f"{where} must be text")


def _items(message: dict[str, Any], position: int) -> list[dict[str, Any]]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": _text_of(content, f"messages[{position}]"),
            }
        ]
    if role == "assistant":
        items: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        if content:
            parts.append({"type": "output_text", "text": _text_of(content, f"messages[{position}]"), "annotations": []})
        if message.get("refusal"):
            parts.append({"type": "refusal", "refusal": message["refusal"]})
        if parts:
            items.append({"type": "message", "role": "assistant", "content": parts})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments", ""),
                }
            )
        return items
    if role not in ("user", "system", "developer"):
        raise ValueError(f"messages[{position}] has a role the Responses API has no item for")
    if isinstance(content, str):
        return [{"type": "message", "role": role, "content": content}]
    return [{"type": "message", "role": role, "content": [_part(part, position) for part in content or []]}]


def _part(part: dict[str, Any], position: int) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url") or {}
        converted: dict[str, Any] = {"type": "input_image", "image_url": image.get("url")}
        converted["detail"] = image.get("detail") or "auto"
        return converted
    raise ValueError(f"messages[{position}] has a content part the Responses API body would not carry")


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        raise ValueError("only function tools are carried")
    flat: dict[str, Any] = {"type": "function", "name": function.get("name")}
    for key in ("description", "parameters", "strict"):
        if key in function:
            flat[key] = function[key]
    return flat


def _format(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = response_format.get("json_schema") or {}
        return {"type": "json_schema", **schema}
    return None


def present(
    upstream: dict[str, Any], model: str, echo: dict[str, Any], created_at: int, resp_id: str
) -> dict[str, Any]:
    """The backend's Response (already restored) as the client gets it: Onshore's id, the public model
    name, and the request's own echo; never the backend's view of the request."""
    response: dict[str, Any] = {"id": resp_id, "object": "response", "created_at": created_at}
    for key in _FROM_BACKEND:
        if key in upstream:
            response[key] = upstream[key]
    response.setdefault("output", [])
    response.setdefault("error", None)
    response.setdefault("incomplete_details", None)
    response.setdefault("completed_at", None)
    response["model"] = model
    if isinstance(response.get("usage"), dict):
        response["usage"] = _complete_usage(response["usage"])
    else:
        response.pop("usage", None)  # the schema has no null usage: absent until known
    response.update(echo)
    return response


def history_items(output: Any) -> list[dict[str, Any]]:
    """The output items a later turn sends back (assistant messages and function calls), with only the
    fields history needs: a backend's extra fields never make a kept turn unreadable."""
    items: list[dict[str, Any]] = []
    for item in output or []:
        if not isinstance(item, dict) or item.get("type") not in HISTORY_ITEMS:
            continue
        if item["type"] == "function_call":
            items.append({k: item[k] for k in ("type", "call_id", "name", "arguments") if k in item})
            continue
        parts = []
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                parts.append({"type": "output_text", "text": part["text"]})
            elif isinstance(part, dict) and part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                parts.append({"type": "refusal", "refusal": part["refusal"]})
        items.append({"type": "message", "role": "assistant", "content": parts})
    return items


def _complete_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Servers differ in which of the usage's required details they send: fill the gaps with zeros, so
    a client that validates strictly sees OpenAI's shape (the counts themselves are the backend's)."""
    completed = dict(usage)
    for key in ("input_tokens", "output_tokens"):
        if not isinstance(completed.get(key), int):
            completed[key] = 0
    if not isinstance(completed.get("total_tokens"), int):
        completed["total_tokens"] = completed["input_tokens"] + completed["output_tokens"]
    details = completed.get("input_tokens_details")
    details = dict(details) if isinstance(details, dict) else {}
    details.setdefault("cached_tokens", 0)
    details.setdefault("cache_write_tokens", 0)
    completed["input_tokens_details"] = details
    output = completed.get("output_tokens_details")
    output = dict(output) if isinstance(output, dict) else {}
    output.setdefault("reasoning_tokens", 0)
    completed["output_tokens_details"] = output
    return completed
