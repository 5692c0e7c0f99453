"""The attributes OCSF 1.3.0 requires per class (https://schema.ocsf.io/1.3.0/classes/...), written
from the schema: the base event's required attributes, then each class's own, as dotted paths."""

from __future__ import annotations

from typing import Any

BASE = ("activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid")
METADATA = ("metadata.product", "metadata.version")
REQUIRED: dict[int, tuple[str, ...]] = {
    6003: ("actor", "api", "api.operation", "src_endpoint"),  # API Activity
    3002: ("user",),  # Authentication (and at least one of service, dst_endpoint)
    3001: ("user",),  # Account Change
    2004: ("finding_info", "finding_info.uid"),  # Detection Finding
    2006: ("finding_info", "finding_info.uid"),  # Data Security Finding
}
CATEGORY = {6003: 6, 3002: 3, 3001: 3, 2004: 2, 2006: 2}
AT_LEAST_ONE = {3002: ("service", "dst_endpoint")}


def _get(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def missing(document: dict[str, Any]) -> list[str]:
    """Every required attribute the document lacks (empty: it is a valid event of its class)."""
    class_uid = document.get("class_uid")
    if class_uid not in REQUIRED:
        return [f"class_uid {class_uid!r} is not one of {sorted(REQUIRED)}"]
    gaps = [p for p in (*BASE, *METADATA, *REQUIRED[class_uid]) if _get(document, p) in (None, "", [], {})]
    if document.get("category_uid") != CATEGORY[class_uid]:
        gaps.append("category_uid (wrong category for the class)")
    if document.get("type_uid") != class_uid * 100 + document.get("activity_id", -1):
        gaps.append("type_uid (must be class_uid * 100 + activity_id)")
    if not isinstance(document.get("time"), int):
        gaps.append("time (timestamp_t: integer milliseconds)")
    if class_uid in AT_LEAST_ONE and not any(_get(document, p) for p in AT_LEAST_ONE[class_uid]):
        gaps.append(f"at least one of {AT_LEAST_ONE[class_uid]}")
    return gaps
