"""OpenAI chat answers -> Responses API `Response` objects (the non-streamed answer, and the
snapshots a stream's lifecycle events carry)."""

from __future__ import annotations

from typing import Any

import msgspec

from onshore.translate import openai

# Chat finish reasons that leave a Response incomplete, and why (Response.incomplete_details.reason).
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id(source: Any) -> str:
    """A Responses id ("resp_...") from a request or completion id."""
    if not isinstance(source, str) or not source:
        return "resp_onshore"
    if source.startswith("resp_"):
        return source
    return "resp_" + source.removeprefix("chatcmpl-")


def message_item_id(resp_id: str) -> str:
    return "msg_" + resp_id.removeprefix("resp_")


def call_item_id(resp_id: str, position: int) -> str:
    return f"fc_{resp_id.removeprefix('resp_')}_{position}"


def usage(chat_usage: dict[str, Any] | None) -> dict[str, Any]:
    """Responses usage (input/output/total tokens, with their required details) from chat usage."""
    chat_usage = chat_usage or {}

    def count(mapping: Any, key: str) -> int:
        value = mapping.get(key) if isinstance(mapping, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    prompt, completion = count(chat_usage, "prompt_tokens"), count(chat_usage, "completion_tokens")
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": count(chat_usage.get("prompt_tokens_details"), "cached_tokens"),
            "cache_write_tokens": 0,
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": count(chat_usage.get("completion_tokens_details"), "reasoning_tokens")
        },
        "total_tokens": count(chat_usage, "total_tokens") or prompt + completion,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [text_part(text)]
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def response_object(
    resp_id: str,
    model: str,
    echo: dict[str, Any],
    created_at: int,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """A Response object: `echo` holds the request's fields as inbound.to_chat_request reported them."""
    reason = INCOMPLETE.get(finish_reason or "")
    if status == "completed" and reason is not None:
        status = "incomplete"
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": completed_at if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": reason} if status == "incomplete" else None,
        "model": model,
        "output": output,
        **({"usage": usage} if usage is not None else {}),  # the schema has no null usage: absent until known
        **echo,
    }


def to_response(
    completion: dict[str, Any],
    model: str,
    echo: dict[str, Any],
    created_at: int,
    completed_at: int,
    resp_id: str | None = None,
) -> dict[str, Any]:
    """The Response object for a chat.completion, under `resp_id` (default: from the completion's id);
    ValueError if the completion is malformed."""
    try:
        parsed = msgspec.convert(completion, openai.Completion, strict=True)
    except msgspec.ValidationError as exc:
        raise ValueError(f"the completion is malformed: {exc}") from None
    if not parsed.choices or parsed.choices[0].message is None:
        raise ValueError("the completion has no message")
    choice = parsed.choices[0]
    message = choice.message
    assert message is not None
    resp_id = resp_id or response_id(parsed.id)
    output: list[dict[str, Any]] = []
    text = message.content or message.refusal
    if text:
        output.append(message_item(message_item_id(resp_id), text, "completed"))
    for position, call in enumerate(message.tool_calls or []):
        function = call.function
        if function is None or not function.name:
            raise ValueError("the completion has a tool call without a function name")
        call_id = call.id or call_item_id(resp_id, position).replace("fc_", "call_", 1)
        output.append(
            call_item(call_item_id(resp_id, position), call_id, function.name, function.arguments or "", "completed")
        )
    return response_object(
        resp_id,
        model,
        echo,
        created_at,
        status="completed",
        output=output,
        usage=usage(completion.get("usage")),
        finish_reason=choice.finish_reason,
        completed_at=completed_at,
    )
