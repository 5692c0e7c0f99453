"""A turn's input as the items `GET /v1/responses/{id}/input_items` lists (OpenAI's ItemResource
objects: each with an id and a status), from the input items as inbound.py parsed them."""

from __future__ import annotations

from typing import Any

from onshore.translate.responses import wire


def input_items(items: tuple[wire.Item, ...], resp_id: str) -> list[dict[str, Any]]:
    """Ids are the Response's own and the item's position ("msg_<response>_<n>"), unless the client
    gave the item one."""
    base = resp_id.removeprefix("resp_")
    return [_item(item, f"{base}_{n}") for n, item in enumerate(items)]


def _item(item: wire.Item, suffix: str) -> dict[str, Any]:
    if isinstance(item, wire.FunctionCall):
        return {
            "id": item.id or f"fc_{suffix}",
            "type": "function_call",
            "status": item.status or "completed",
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments,
        }
    if isinstance(item, wire.FunctionCallOutput):
        output = item.output if isinstance(item.output, str) else [_part(p) for p in item.output]
        return {
            "id": item.id or f"fco_{suffix}",
            "type": "function_call_output",
            "status": item.status or "completed",
            "call_id": item.call_id,
            "output": output,
        }
    parts = item.content
    if item.role == "assistant":
        content = (
            [{"type": "output_text", "text": parts, "annotations": [], "logprobs": []}]
            if isinstance(parts, str)
            else parts
        )
        return {
            "id": item.id or f"msg_{suffix}",
            "type": "message",
            "role": "assistant",
            "status": item.status or "completed",
            "content": [c if isinstance(c, dict) else _output_part(c) for c in content],
        }
    content_in = [{"type": "input_text", "text": parts}] if isinstance(parts, str) else [_part(p) for p in parts]
    return {
        "id": item.id or f"msg_{suffix}",
        "type": "message",
        "role": item.role,
        "status": item.status or "completed",
        "content": content_in,
    }


def _part(part: wire.Part) -> dict[str, Any]:
    if isinstance(part, wire.InputImage):
        return {"type": "input_image", "image_url": part.image_url, "file_id": None, "detail": part.detail or "auto"}
    if isinstance(part, wire.RefusalText):
        return {"type": "input_text", "text": part.refusal}
    return {"type": "input_text", "text": part.text}


def _output_part(part: wire.Part) -> dict[str, Any]:
    if isinstance(part, wire.RefusalText):
        return {"type": "refusal", "refusal": part.refusal}
    if isinstance(part, wire.InputImage):  # refused for assistant messages by inbound.py
        raise ValueError("an assistant message cannot hold an image")
    annotations = list(part.annotations or []) if isinstance(part, wire.OutputText) else []
    logprobs = list(part.logprobs or []) if isinstance(part, wire.OutputText) else []
    return {"type": "output_text", "text": part.text, "annotations": annotations, "logprobs": logprobs}
