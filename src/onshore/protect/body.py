"""Every text in a request that will leave the gateway, in a fixed order, and a way to replace them.

Walks the whole request body: every string value and every free-form dict key (message contents,
names, tool and function definitions and their JSON schemas, tool-call arguments, tool results,
metadata, user, stop sequences, predictions, embeddings input, …). Only values that select from a
fixed vocabulary (`role`, `type`, `model`, …) pass verbatim. Binary parts (data: URLs, files, audio)
cannot be scanned and are reported as opaque, so the caller can treat them as personal data.
Pure: dicts in, dicts out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Replace = Callable[[str], str]

# Values under these keys come from a fixed vocabulary (or name the public model): never scanned.
VERBATIM_VALUES = frozenset(
    {
        "model",
        "role",
        "type",
        "detail",
        "format",
        "reasoning_effort",
        "service_tier",
        "verbosity",
        "encoding_format",
        "modalities",
        "include_usage",
        "include_obfuscation",
        "strict",
    }
)
# Keys that are part of OpenAI's request format; any other key (schema properties, metadata keys,
# extra fields) is free-form text and is scanned like a value.
FIELD_NAMES = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
        "dimensions",
        "encoding_format",
        "input",
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "refusal",
        "type",
        "text",
        "image_url",
        "url",
        "detail",
        "input_audio",
        "data",
        "format",
        "file",
        "file_data",
        "file_id",
        "filename",
        "id",
        "function",
        "arguments",
        "include_usage",
        "include_obfuscation",
        "description",
        "parameters",
        "strict",
        "custom",
        "json_schema",
        "schema",
        "properties",
        "required",
        "items",
        "enum",
        "additionalProperties",
    }
)


def walk(node: Any, fn: Replace, key: str | None = None) -> Any:
    """A copy of `node` with `fn` applied to every scannable string (values, then free-form keys)."""
    if isinstance(node, str):
        return node if key in VERBATIM_VALUES else fn(node)
    if isinstance(node, list):
        return [walk(item, fn, key) for item in node]
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            new_key = fn(k) if isinstance(k, str) and k not in FIELD_NAMES else k
            out[new_key] = walk(v, fn, k if isinstance(k, str) else None)
        return out
    return node


def collect(body: dict[str, Any]) -> list[str]:
    texts: list[str] = []

    def keep(text: str) -> str:
        texts.append(text)
        return text

    walk(body, keep)
    return texts


def has_token_input(body: dict[str, Any]) -> bool:
    """Token-id embeddings input cannot be scanned for personal data."""
    value = body.get("input")
    return isinstance(value, list) and any(not isinstance(item, str) for item in value)


def has_opaque_parts(body: dict[str, Any]) -> bool:
    """Images sent inline, files and audio cannot be scanned: treat them as personal data."""
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        if message.get("audio"):
            return True
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("input_audio", "file"):
                return True
            url = (part.get("image_url") or {}).get("url") if kind == "image_url" else None
            if isinstance(url, str) and url.startswith("data:"):
                return True
    return False
