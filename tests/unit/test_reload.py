"""Which config changes a running gateway can take (reload.restart_needed), and the one line the
CLI prints for each outcome."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from onshore.reload import Result, changed_paths, restart_needed
from onshore.settings import FileSettings, parse_settings

CLASSES = ("public", "internal", "confidential", "personal", "special_care")


def raw() -> dict[str, Any]:
    remote = {
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "jurisdiction": "JP",
        "operator": "Local KK",
        "operator_jurisdiction": "JP",
        "retention_days": 0,
        "trains_on_inputs": False,
    }
    return {
        "gateway": {"data_dir": "/tmp/onshore-reload-unit"},
        "backends": {"jp": remote, "local": {"kind": "embedded", "embedded": {"threads": 2}}},
        "models": {"chat": {"routes": [{"backend": "jp", "model": "m"}, {"backend": "local", "model": "smol"}]}},
        "tenants": {"acme": {"classes": {c: {"jurisdictions": ["JP"]} for c in CLASSES}}},
    }


def file_of(document: dict[str, Any]) -> FileSettings:
    return parse_settings(document, "test", {"ADMIN": "an-admin-key"}).file


def changed(edit: Any) -> list[str]:
    document = raw()
    edited = copy.deepcopy(document)
    edit(edited)
    return restart_needed(file_of(document), file_of(edited))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["tenants"]["acme"]["classes"]["public"].update(jurisdictions=["JP", "US"]),
        lambda d: d["models"].update(other={"routes": [{"backend": "jp", "model": "x"}]}),
        lambda d: d["backends"]["jp"].update(retention_days=30, base_url="http://127.0.0.1:10/v1"),
        lambda d: d["backends"].update(jp2=dict(d["backends"]["jp"])),
        lambda d: d["backends"]["local"].update(region="tokyo-2"),  # an embedded backend's declared facts
        lambda d: d["gateway"].update(protect={"names": False, "allow_list": ["Onshore KK"]}),
        lambda d: d["gateway"].update(upstream={"read_timeout_seconds": 30.0}),
        lambda d: d.update(identity={"api_key_roles": {"0123456789ab": ["operator"]}}),
    ],
    ids=["rule", "model", "backend-facts", "backend-added", "embedded-facts", "protect", "timeouts", "key-roles"],
)
def test_what_a_reload_may_change(edit: Any) -> None:
    assert changed(edit) == []


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["gateway"].update(port=9090, host="0.0.0.0"), ["gateway.host", "gateway.port"]),
        (lambda d: d["gateway"].update(data_dir="/elsewhere"), ["gateway.data_dir"]),
        (lambda d: d["gateway"].update(upstream={"max_connections": 8}), ["gateway.upstream.max_connections"]),
        (lambda d: d["gateway"].update(audit={"durability": "full"}), ["gateway.audit.durability"]),
        (lambda d: d["gateway"].update(admin_key_env="ADMIN"), ["gateway.admin_key_env"]),
        (lambda d: d["backends"]["local"].update(embedded={"threads": 4}), ["backends.local.embedded"]),
        (lambda d: d["backends"].update(local2={"kind": "embedded"}), ["backends.local2"]),
    ],
    ids=["listener", "data-dir", "pool", "audit", "admin-key", "embedded-model", "embedded-added"],
)
def test_what_needs_a_restart_is_named(edit: Any, named: list[str]) -> None:
    assert changed(edit) == named


def test_a_removed_embedded_backend_needs_a_restart() -> None:
    def drop(d: dict[str, Any]) -> None:
        del d["backends"]["local"]
        d["models"]["chat"]["routes"] = d["models"]["chat"]["routes"][:1]

    assert changed(drop) == ["backends.local"]


def test_changed_paths_name_keys_added_removed_and_changed() -> None:
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": 1}
    new = {"a": {"b": 2, "c": [1, 2]}, "new": {"x": 1}}
    assert changed_paths(old, new) == ["a.b", "gone", "new"]


def test_each_outcome_is_one_line_in_both_languages_with_the_hash_serving() -> None:
    old, new = "a" * 64, "b" * 64
    applied = Result("applied", new, old, "cli:sre", "gw.yaml")
    refused = Result("refused", old, old, "cli:sre", "gw.yaml", problems=["gw.yaml:3: models: x", "gw.yaml:9: y"])
    restart = Result("refused", old, old, "cli:sre", "gw.yaml", restart_needed=["gateway.port"])
    for result, hash_serving in ((applied, new), (refused, old), (restart, old)):
        line = result.line()
        assert "\n" not in line and hash_serving in line
        assert any("\u3040" <= ch <= "\u30ff" for ch in line)  # and in Japanese
    assert "2 problems" in refused.line()
    assert "restart needed for: gateway.port" in restart.line()
    assert Result.from_json(applied.to_json()) == applied
