"""Every text in a request that will leave the gateway, in a fixed order, and a way to replace them.

Walks message contents (string and content-part forms), names, tool-call and function-call
arguments, tool results, and embeddings input. Pure: dicts in, dicts out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Replace = Callable[[str], str]


def _message(message: dict[str, Any], fn: Replace) -> dict[str, Any]:
    out = dict(message)
    content = message.get("content")
    if isinstance(content, str):
        out["content"] = fn(content)
    elif isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                part = {**part, "text": fn(part["text"])}
            elif isinstance(part, dict) and part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                part = {**part, "refusal": fn(part["refusal"])}
            parts.append(part)
        out["content"] = parts
    for key in ("refusal",):
        if isinstance(message.get(key), str):
            out[key] = fn(message[key])
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [_call(call, fn) for call in calls]
    if isinstance(message.get("function_call"), dict):
        out["function_call"] = _function(message["function_call"], fn)
    return out


def _function(function: dict[str, Any], fn: Replace) -> dict[str, Any]:
    if isinstance(function.get("arguments"), str):
        return {**function, "arguments": fn(function["arguments"])}
    return function


def _call(call: Any, fn: Replace) -> Any:
    if isinstance(call, dict) and isinstance(call.get("function"), dict):
        return {**call, "function": _function(call["function"], fn)}
    return call


def map_chat(body: dict[str, Any], fn: Replace) -> dict[str, Any]:
    """A copy of a chat request with `fn` applied to every text that carries user content."""
    return {**body, "messages": [_message(m, fn) if isinstance(m, dict) else m for m in body["messages"]]}


def map_embeddings(body: dict[str, Any], fn: Replace) -> dict[str, Any]:
    value = body["input"]
    if isinstance(value, str):
        return {**body, "input": fn(value)}
    return {**body, "input": [fn(item) if isinstance(item, str) else item for item in value]}


def has_token_input(body: dict[str, Any]) -> bool:
    """Token-id embeddings input cannot be scanned for personal data."""
    value = body.get("input")
    return isinstance(value, list) and any(not isinstance(item, str) for item in value)


def collect(body: dict[str, Any], endpoint: str) -> list[str]:
    texts: list[str] = []

    def keep(text: str) -> str:
        texts.append(text)
        return text

    (map_chat if endpoint == "chat" else map_embeddings)(body, keep)
    return texts
