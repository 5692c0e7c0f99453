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
# JSON-schema keywords that appear in tool definitions; with the request format's own field names
# (passed in by the caller, from the wire models) they are structure, not text.
SCHEMA_KEYWORDS = frozenset(
    {"json_schema", "schema", "properties", "required", "items", "enum", "additionalProperties"}
)


def walk(node: Any, fn: Replace, field_names: frozenset[str], key: str | None = None) -> Any:
    """A copy of `node` with `fn` applied to every scannable string: values, and keys that are not
    field names of the request format (schema property names, metadata keys)."""
    if isinstance(node, str):
        return node if key in VERBATIM_VALUES else fn(node)
    if isinstance(node, list):
        return [walk(item, fn, field_names, key) for item in node]
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            structural = k in field_names or k in SCHEMA_KEYWORDS
            new_key = k if structural or not isinstance(k, str) else fn(k)
            out[new_key] = walk(v, fn, field_names, k if isinstance(k, str) else None)
        return out
    return node


def collect(body: dict[str, Any], field_names: frozenset[str]) -> list[str]:
    texts: list[str] = []

    def keep(text: str) -> str:
        texts.append(text)
        return text

    walk(body, keep, field_names)
    return texts


def has_token_input(body: dict[str, Any]) -> bool:
    """Token-id input (embeddings' input, a text completion's prompt) cannot be scanned for personal data."""
    value = body.get("input", body.get("prompt"))
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
