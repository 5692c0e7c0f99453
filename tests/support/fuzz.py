"""Hypothesis strategies for fuzzing the two chat endpoints with raw HTTP.

Valid requests are derived from JSON schemas (OpenAI's CreateChatCompletionRequest from its OpenAPI
document; a compact Anthropic Messages schema written here from what the gateway accepts) by a small
schema-to-strategy walker. Invalid ones are mutations of those, raw byte bodies and bad headers.
The walker covers the keywords these schemas use (type, enum, properties, required,
additionalProperties, items, min/maxItems, maxLength, minimum/maximum, allOf/anyOf/oneOf, $ref).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.openapi import _spec

Json = Any
Resolve = Callable[[str], dict[str, Any]]

# Values that exercise the personal-data stage (detection, placeholders, restoration) and text that
# looks like the gateway's own placeholders.
PERSONAL = [
    "鈴木花子様の電話は090-1234-5678です。",
    "マイナンバーは123456789018です",
    "mail hanako.suzuki@example.co.jp now",
    "東京都千代田区千代田1-1 山田太郎",
    "法人番号 7000012050002",
    "[[PHONE_1]] and [[PERSON_NAME_1]]",
    "PERSON_NAME_1 [[MY_NUMBER_99]] [[",
]
# The values above that must never reach a backend that may see personal data only pseudonymised
# (a corporate number is public: it raises the data class but is not replaced, by design).
PERSONAL_VALUES = ["090-1234-5678", "123456789018", "hanako.suzuki@example.co.jp", "鈴木花子"]
ODD = [
    "",
    " ",
    "\x00",
    "\u202e\u200b\ufeff",
    "e\u0301\u0301\u0301",
    "😀" * 50,
    "\U0010ffff",
    "電話" * 3000,
    "\\u0000\\",
    "{{}}[[]]",
    # Last, and only in mutations: echoed back one character per event it makes a 20,000-event stream
    # (a pathological upstream, slow enough here to break the deadline under load).
    "a" * 20_000,  # beyond the inline scan size: the large-body scan path
]
# Lone surrogates: encodable only as a JSON escape (refused as such) or as bytes that are not UTF-8.
SURROGATES = ["\ud800", "\udfff\ud800", "ok\udcff"]


def texts(max_size: int | None = None) -> st.SearchStrategy[str]:
    plain = st.text(max_size=40 if max_size is None else min(40, max_size))
    if max_size is not None:
        return plain
    return st.one_of(plain, plain, st.sampled_from(PERSONAL), st.sampled_from(ODD[:-1]))


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Json]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=max_leaves,
    )


_URLS = st.sampled_from(
    [
        "https://example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "http://127.0.0.1:1/x",
        "file:///etc/passwd",
        "not a url",
    ]
)


@dataclass(frozen=True)
class Walker:
    """Turns a JSON schema into a strategy. `overrides` replace a property's values by name;
    `skip` names properties never generated (fields a gateway rightly refuses, to reach 2xx)."""

    resolve: Resolve
    overrides: dict[str, st.SearchStrategy[Json]] = field(default_factory=dict)
    skip: frozenset[str] = frozenset()

    def of(self, node: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Json]:
        if "$ref" in node:
            return st.deferred(lambda: self.of(self.resolve(node["$ref"]), depth + 1))
        if "allOf" in node:
            return self._object(self._merge(node["allOf"]), depth)
        for key in ("anyOf", "oneOf"):
            if key in node:
                return st.one_of([self.of(option, depth + 1) for option in node[key]])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        kind = node.get("type")
        if isinstance(kind, list):
            return st.one_of([self.of({**node, "type": k}, depth) for k in kind])
        if kind == "object" or "properties" in node:
            return self._object(node, depth)
        if kind == "array":
            low = node.get("minItems", 0)
            high = min(node.get("maxItems", low + 3), low + 3)
            return st.lists(self.of(node.get("items", {}), depth + 1), min_size=low, max_size=high)
        if kind == "string":
            return _URLS if node.get("format") == "uri" else texts(node.get("maxLength"))
        if kind == "integer":
            return st.integers(node.get("minimum"), node.get("maximum"))
        if kind == "number":
            low, high = node.get("minimum"), node.get("maximum")
            return st.one_of(
                st.floats(low, high, allow_nan=False, allow_infinity=False),
                st.integers(None if low is None else int(low), None if high is None else int(high)),
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return json_values()  # no constraint: any JSON (e.g. a function's parameters schema)

    def _merge(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for part in parts:
            while "$ref" in part:
                part = self.resolve(part["$ref"])
            if "allOf" in part:
                part = self._merge(part["allOf"])
            for name, schema in part.get("properties", {}).items():
                # allOf means every part holds: of two definitions keep the one refusing null.
                if name not in properties or not _accepts_null(schema):
                    properties[name] = schema
            required += part.get("required", [])
        return {"type": "object", "properties": properties, "required": required}

    def _object(self, node: dict[str, Any], depth: int) -> st.SearchStrategy[Json]:
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        if not properties:
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                return st.dictionaries(st.text(max_size=12), self.of(extra, depth + 1), max_size=3)
            return st.dictionaries(st.text(max_size=8), json_values(), max_size=3)

        def value(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Json]:
            return self.overrides[name] if name in self.overrides else self.of(schema, depth + 1)

        must = {n: value(n, s) for n, s in properties.items() if n in required}
        may = {n: value(n, s) for n, s in properties.items() if n not in required and n not in self.skip}
        return st.fixed_dictionaries(must, optional=may)


def _accepts_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    options = schema.get("anyOf", []) + schema.get("oneOf", [])
    return kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or any(map(_accepts_null, options))


def openai_resolve(ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = _spec()["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


# --- the Anthropic Messages request, as src/onshore/translate/anthropic/inbound.py accepts it ------------
_TEXT_BLOCK = {"type": "object", "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}}}
_TEXT_BLOCK["required"] = ["type", "text"]
ANTHROPIC_DEFS: dict[str, dict[str, Any]] = {
    "Text": _TEXT_BLOCK,
    "Image": {
        "type": "object",
        "required": ["type", "source"],
        "properties": {
            "type": {"enum": ["image"]},
            "source": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "media_type", "data"],
                        "properties": {
                            "type": {"enum": ["base64"]},
                            "media_type": {"enum": ["image/png", "image/jpeg"]},
                            "data": {"enum": ["iVBORw0KGgo=", ""]},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["type", "url"],
                        "properties": {"type": {"enum": ["url"]}, "url": {"type": "string", "format": "uri"}},
                    },
                ]
            },
        },
    },
    "ToolResult": {
        "type": "object",
        "required": ["type", "tool_use_id"],
        "properties": {
            "type": {"enum": ["tool_result"]},
            "tool_use_id": {"enum": ["toolu_1", "call_1"]},
            "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/Text"}}]},
            "is_error": {"type": "boolean"},
        },
    },
    "ToolUse": {
        "type": "object",
        "required": ["type", "id", "name", "input"],
        "properties": {
            "type": {"enum": ["tool_use"]},
            "id": {"enum": ["toolu_1"]},
            "name": {"enum": ["lookup"]},
            "input": {"type": "object"},
        },
    },
    "Thinking": {
        "type": "object",
        "required": ["type", "thinking"],
        "properties": {"type": {"enum": ["thinking"]}, "thinking": {"type": "string"}},
    },
    "UserMessage": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["user"]},
            "content": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": [{"$ref": "#/$defs/Text"}, {"$ref": "#/$defs/Image"}]},
                    },
                    {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/ToolResult"}},
                ]
            },
        },
    },
    "AssistantMessage": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["assistant"]},
            "content": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "oneOf": [
                                {"$ref": "#/$defs/Text"},
                                {"$ref": "#/$defs/ToolUse"},
                                {"$ref": "#/$defs/Thinking"},
                            ]
                        },
                    },
                ]
            },
        },
    },
    "Tool": {
        "type": "object",
        "required": ["name", "input_schema"],
        "properties": {
            "name": {"enum": ["lookup", "search", "東京"]},
            "description": {"type": "string"},
            "input_schema": {"type": "object"},
            "type": {"enum": ["custom"]},
        },
    },
    "MessagesRequest": {
        "type": "object",
        "required": ["model", "max_tokens", "messages"],
        "properties": {
            "model": {"type": "string"},
            "max_tokens": {"type": "integer", "minimum": 1},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [{"$ref": "#/$defs/UserMessage"}, {"$ref": "#/$defs/AssistantMessage"}]},
            },
            "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/Text"}}]},
            "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}},
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "stream": {"type": "boolean"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "tools": {"type": "array", "items": {"$ref": "#/$defs/Tool"}},
            "tool_choice": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"enum": ["auto", "any", "none"]},
                            "disable_parallel_tool_use": {"type": "boolean"},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["type", "name"],
                        "properties": {"type": {"enum": ["tool"]}, "name": {"enum": ["lookup"]}},
                    },
                ]
            },
        },
    },
}


def anthropic_resolve(ref: str) -> dict[str, Any]:
    return ANTHROPIC_DEFS[ref.rsplit("/", 1)[-1]]


# --- what the gateway answers with, on /v1/messages (Anthropic's documented shapes) -----------------
ANTHROPIC_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {
                    "enum": [
                        "invalid_request_error",
                        "authentication_error",
                        "permission_error",
                        "not_found_error",
                        "request_too_large",
                        "rate_limit_error",
                        "api_error",
                        "overloaded_error",
                    ]
                },
                "message": {"type": "string"},
            },
        },
    },
}
_USAGE = {
    "type": "object",
    "required": ["input_tokens", "output_tokens"],
    "properties": {
        "input_tokens": {"type": "integer", "minimum": 0},
        "output_tokens": {"type": "integer", "minimum": 0},
    },
}
_CONTENT_BLOCK = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "text"],
            "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
        },
        {
            "type": "object",
            "required": ["type", "id", "name", "input"],
            "properties": {
                "type": {"const": "tool_use"},
                "id": {"type": "string"},
                "name": {"type": "string"},
                "input": {"type": "object"},
            },
        },
    ]
}
_STOP_REASON = {"enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", None]}
ANTHROPIC_MESSAGE = {
    "type": "object",
    "required": ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": {"type": "string"},
        "content": {"type": "array", "items": _CONTENT_BLOCK},
        "stop_reason": _STOP_REASON,
        "stop_sequence": {"type": ["string", "null"]},
        "usage": _USAGE,
    },
}
ANTHROPIC_EVENTS: dict[str, dict[str, Any]] = {
    "message_start": {"required": ["message"], "properties": {"message": ANTHROPIC_MESSAGE}},
    "content_block_start": {
        "required": ["index", "content_block"],
        "properties": {"index": {"type": "integer"}, "content_block": _CONTENT_BLOCK},
    },
    "content_block_delta": {
        "required": ["index", "delta"],
        "properties": {
            "index": {"type": "integer"},
            "delta": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {"type": {"const": "text_delta"}, "text": {"type": "string"}},
                    },
                    {
                        "type": "object",
                        "required": ["type", "partial_json"],
                        "properties": {"type": {"const": "input_json_delta"}, "partial_json": {"type": "string"}},
                    },
                ]
            },
        },
    },
    "content_block_stop": {"required": ["index"], "properties": {"index": {"type": "integer"}}},
    "message_delta": {
        "required": ["delta", "usage"],
        "properties": {
            "delta": {"type": "object", "required": ["stop_reason"], "properties": {"stop_reason": _STOP_REASON}},
            "usage": {"type": "object", "required": ["output_tokens"]},
        },
    },
    "message_stop": {},
    "ping": {},
}


# --- whole HTTP requests ------------------------------------------------------------------------------
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
DATA_CLASSES = ["public", "internal", "confidential", "personal", "special_care"]

# Documented OpenAI fields the gateway refuses on purpose (retention/third parties beyond the declared
# facts) or that no backend here serves; left out of the "served" flavour so it mostly reaches 2xx.
REFUSED_OR_UNSERVED = frozenset(
    {"store", "prompt_cache_retention", "web_search_options", "prompt_cache_breakpoint", "moderation"}
)
# Schema-valid values the gateway's stricter ranges accept (the schema leaves these unbounded).
_SERVED_VALUES: dict[str, st.SearchStrategy[Json]] = {
    "max_tokens": st.integers(1, 64),
    "max_completion_tokens": st.integers(1, 64),
    "n": st.integers(1, 2),
    "logit_bias": st.dictionaries(st.integers(0, 50_000).map(str), st.integers(-100, 100), max_size=3),
}


@dataclass(frozen=True)
class HttpCase:
    """One raw HTTP request: exactly these headers and body bytes."""

    label: str
    path: str
    headers: tuple[tuple[str, bytes], ...]
    body: bytes
    chunked: bool = False


def openai_documents(models: list[str], served: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Requests that validate against CreateChatCompletionRequest. `served` keeps to the fields a
    configured model answers (and to its model names); otherwise any field and model name."""
    if served:
        walker = Walker(openai_resolve, {"model": st.sampled_from(models), **_SERVED_VALUES}, REFUSED_OR_UNSERVED)
    else:
        walker = Walker(openai_resolve, {"model": st.one_of(st.sampled_from(models), st.text(max_size=20))})
    return walker.of({"$ref": "#/components/schemas/CreateChatCompletionRequest"})


def anthropic_documents(models: list[str], served: bool) -> st.SearchStrategy[dict[str, Any]]:
    model = st.sampled_from(models) if served else st.one_of(st.sampled_from(models), st.text(max_size=20))
    walker = Walker(anthropic_resolve, {"model": model, "max_tokens": st.integers(1, 64) if served else st.integers()})
    return walker.of({"$ref": "#/$defs/MessagesRequest"})


def _paths(node: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _at(node: Json, path: tuple[Any, ...]) -> Json:
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid document with one thing wrong: a value of the wrong type, a field removed, an unknown
    field added, or an odd string."""
    document = draw(documents)
    path = draw(st.sampled_from(_paths(document)[1:] or [()]))
    operation = draw(st.sampled_from(["replace", "remove", "add", "odd"]))
    if not path:
        document[draw(st.text(max_size=10))] = draw(json_values())
        return document
    parent, last = _at(document, path[:-1]), path[-1]
    if operation == "replace":
        parent[last] = draw(json_values())
    elif operation == "odd":
        parent[last] = draw(st.sampled_from(ODD + PERSONAL + SURROGATES))
    elif operation == "remove":
        parent.pop(last)
    else:
        target = _at(document, path)
        if isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=10))] = draw(json_values())
        elif isinstance(target, list):
            target.append(draw(json_values()))
        else:
            parent[last] = {"unexpected": target}
    return document


def encode(document: Json, ascii_only: bool) -> bytes:
    """JSON as a client could send it: escaped (\\uXXXX, surrogates included) or raw UTF-8, where a
    lone surrogate becomes bytes that are not UTF-8 at all."""
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _deep(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


@st.composite
def raw_bodies(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> tuple[str, bytes]:
    """Bodies that are not a well-formed JSON object, or are one only barely."""
    kind = draw(
        st.sampled_from(
            [
                "empty",
                "binary",
                "truncated",
                "scalar",
                "deep_array",
                "deep_object",
                "deep_in_request",
                "bom",
                "utf16",
                "nan",
                "huge_number",
                "duplicate_keys",
                "oversized",
            ]
        )
    )
    valid = encode(draw(documents), ascii_only=False)
    depth = draw(st.sampled_from([50, 200, 900, 990, 1000, 5000, 100_000]))
    body = {
        "empty": b"",
        "binary": draw(st.binary(max_size=64)),
        "truncated": valid[: draw(st.integers(0, max(0, len(valid) - 1)))],
        "scalar": encode(draw(st.one_of(json_values(), st.lists(json_values()))), True),
        "deep_array": b"[" * depth + b"]" * depth,
        "deep_object": _deep(depth),
        "deep_in_request": valid[:-1]
        + b', "tools": [{"type": "function", "function": {"name": "f", "parameters": '
        + _deep(depth, b"{}")
        + b"}}]}",
        "bom": b"\xef\xbb\xbf" + valid,
        "utf16": valid.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass"),
        "nan": valid[:-1] + b', "temperature": NaN}',
        "huge_number": valid[:-1] + b', "temperature": 1e400, "seed": 123456789012345678901234567890}',
        "duplicate_keys": valid[:-1] + b', "model": 1, "model": "chat"}',
        "oversized": valid[:-1] + b', "user": "' + b"x" * 300_000 + b'"}',
    }[kind]
    return kind, body


_BAD_AUTH = st.sampled_from(
    [
        b"",
        b"Bearer",
        b"Bearer ",
        b"Bearer onsk_nope_nope",
        b"Basic dXNlcjpwYXNz",
        b"bearer onsk_",
        "Bearer 鍵".encode(),
        b"Bearer \xff\xfe",
        b"Bearer " + b"A" * 4000,
    ]
)


def field_value(raw: bytes) -> bytes:
    """Keep to what HTTP allows in a field value (RFC 9110 5.5: no controls but tab; obs-text 0x80-0xFF
    stays). A value with a NUL or a newline is not an HTTP request at all: the server's parser answers it
    before the gateway sees anything (tested on its own)."""
    return bytes(b for b in raw if b == 0x09 or 0x20 <= b != 0x7F)


@st.composite
def headers(draw: st.DrawFn, path: str, keys: list[str]) -> tuple[tuple[str, bytes], ...]:
    out: list[tuple[str, bytes]] = []
    auth = draw(st.sampled_from(["good"] * 8 + ["none", "bad", "x-api-key"]))
    key = draw(st.sampled_from(keys)).encode()
    if auth == "good":
        out.append(("Authorization", b"Bearer " + key))
    elif auth == "bad":
        out.append(("Authorization", draw(_BAD_AUTH)))
    elif auth == "x-api-key":
        out.append(("x-api-key", key if path == MESSAGES_PATH else draw(_BAD_AUTH)))
    content_type = draw(
        st.sampled_from(
            [b"application/json"] * 6
            + [b"text/plain", b"", b"application/json; charset=utf-16", b"multipart/form-data; boundary=x", b"\xff"]
        )
    )
    if content_type or draw(st.booleans()):
        out.append(("Content-Type", content_type))
    data_class = draw(st.sampled_from(["absent"] * 8 + ["valid", "padded", "garbage", "bytes", "long", "empty"]))
    if data_class != "absent":
        value = {
            "valid": draw(st.sampled_from(DATA_CLASSES)).encode(),
            "padded": b"  " + draw(st.sampled_from(DATA_CLASSES)).upper().encode() + b"\t",
            "garbage": field_value(draw(st.text(max_size=30)).encode("utf-8", "surrogatepass")),
            "bytes": b"\xe6\x9c\xba\xffpersonal\xed\xa0\x80",
            "long": b"special_care" * 500,
            "empty": b"",
        }[data_class]
        out.append(("Onshore-Data-Class", value))
    return tuple(out)


@st.composite
def http_cases(draw: st.DrawFn, models: list[str], keys: list[str]) -> HttpCase:
    path = draw(st.sampled_from([CHAT_PATH, CHAT_PATH, MESSAGES_PATH]))
    chat_models = [m for m in models if m != "embed"]  # "embed" is an embeddings model: a 400 here
    if path == CHAT_PATH:
        flavour = draw(st.sampled_from(["served", "served", "served", "schema", "mutated", "raw"]))
        served = openai_documents(chat_models, served=True)
        documents = {
            "served": served,
            "schema": openai_documents(models, served=False),
            "mutated": mutated(openai_documents(models, served=False)),
        }.get(flavour, served)
    else:
        flavour = draw(st.sampled_from(["served", "served", "served", "mutated", "raw"]))
        documents = anthropic_documents(chat_models, served=True)
        if flavour == "mutated":
            documents = mutated(anthropic_documents(models, served=False))
    if flavour == "raw":
        kind, body = draw(raw_bodies(documents))
        label = f"{path} raw:{kind}"
    else:
        document = draw(documents)
        if flavour == "served" and draw(st.integers(0, 2)) == 0:
            document["stream"] = True  # the schema alone makes streams rare
        body = encode(document, ascii_only=draw(st.booleans()))
        label = f"{path} {flavour}"
    return HttpCase(label, path, draw(headers(path, keys)), body, chunked=draw(st.booleans()))
