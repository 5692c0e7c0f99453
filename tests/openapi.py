"""OpenAI's published OpenAPI document (../shared beside the repo) as a JSON-schema validator."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).resolve().parents[2] / "shared" / "openai-openapi" / "openapi.json"


@cache
def _spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"OpenAI's OpenAPI document is not at {SPEC}")
    spec: dict[str, Any] = _honour_nullable(json.loads(SPEC.read_text(encoding="utf-8")))
    return spec


def _honour_nullable(node: Any) -> Any:
    """The document is OpenAPI 3.1 but still marks some fields `nullable: true` (a 3.0 keyword that
    JSON Schema ignores); OpenAI's own API sends null there, e.g. a stream chunk's finish_reason."""
    if isinstance(node, list):
        return [_honour_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _honour_nullable(value) for key, value in node.items()}
    if node.pop("nullable", False) is True:
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    return node


def schema_properties(name: str) -> set[str]:
    schemas = _spec()["components"]["schemas"]
    schema = schemas[name]
    props: set[str] = set()
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            props |= schema_properties(part["$ref"].rsplit("/", 1)[-1])
        else:
            props |= set(part.get("properties", {}))
    return props


@cache
def _registry() -> Registry[Any]:
    # with_resources, not with_resource: the same call, but the one referencing annotates.
    return Registry().with_resources([("openapi.json", DRAFT202012.create_resource(_spec()))])


def validate(instance: Any, schema_name: str) -> None:
    """Raise jsonschema.ValidationError if `instance` does not match OpenAI's schema."""
    schema = {"$ref": f"openapi.json#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(instance)
