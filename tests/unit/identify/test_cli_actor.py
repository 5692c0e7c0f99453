"""Who runs an `onshore` command and with which roles (identify/cli_actor.py), and identity.cli_roles."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from onshore.identify.cli_actor import CliActor, cli_refusal, os_user_name, resolve
from onshore.identify.roles import ROLES, granting
from onshore.settings import IdentityRole, parse_settings
from tests.support.gateway import backend, rules

OWNER = 1000


def test_the_data_directory_owner_is_admin_without_any_config() -> None:
    actor = resolve(OWNER, "onshore", OWNER, "onshore", {})
    assert actor == CliActor("onshore", frozenset({"admin"}), "onshore", True)
    assert actor.actor == "cli:onshore"
    for action in ("keys.write", "config.write", "backends.switch", "audit.export"):
        assert cli_refusal(actor, action, "onshore x", "/d") is None


def test_listed_roles_add_to_the_owners_admin() -> None:
    actor = resolve(OWNER, "onshore", OWNER, "onshore", {"onshore": ["auditor"]})
    assert actor.roles == {"admin", "auditor"}
    assert actor.role_for("audit.export") == "admin"  # the strongest role that grants it is recorded


def test_anyone_else_holds_only_what_cli_roles_lists_and_none_by_default() -> None:
    assert resolve(0, "root", OWNER, "onshore", {}).roles == frozenset()
    assert resolve(0, "root", OWNER, "onshore", {"alice": ["admin"]}).roles == frozenset()  # someone else's entry
    operator = resolve(1001, "alice", OWNER, "onshore", {"alice": ["operator"]})
    assert operator.roles == {"operator"} and not operator.is_owner
    assert operator.role_for("backends.switch") == "operator"
    assert operator.role_for("keys.write") is None


def test_a_uid_without_a_name_is_named_by_its_number() -> None:
    assert os_user_name(1000680000, None) == "uid:1000680000"
    assert os_user_name(1000, "alice") == "alice"
    actor = resolve(1000680000, "uid:1000680000", OWNER, "onshore", {"uid:1000680000": ["auditor"]})
    assert actor.roles == {"auditor"} and actor.actor == "cli:uid:1000680000"


def test_a_refusal_names_the_action_the_roles_the_user_and_how_to_grant_in_both_languages() -> None:
    actor = resolve(0, "root", OWNER, "onshore", {"root": ["operator"]})
    line = cli_refusal(actor, "keys.write", "onshore keys create", "/var/lib/onshore")
    assert line is not None and "\n" not in line
    assert "`onshore keys create` refused" in line and "(keys.write) needs the role admin" in line
    assert "OS user root has roles: operator" in line and "owner of /var/lib/onshore, which is onshore" in line
    assert "identity.cli_roles: {root: [admin]}" in line and "run it as onshore" in line
    assert "拒否しました" in line and "ロール admin が必要" in line and "何も変更していません" in line
    nobody = cli_refusal(resolve(0, "root", OWNER, "onshore", {}), "audit.read", "onshore audit verify", "/d")
    assert nobody is not None and "needs the role admin or auditor" in nobody and "roles: none" in nobody
    assert "のロールはありません" in nobody
    assert "identity.cli_roles: {root: [auditor]}" in nobody  # the least role that suffices


def test_the_configs_roles_are_the_checks_roles() -> None:
    assert get_args(IdentityRole) == ROLES
    assert granting(["auditor", "admin"], "keys.read") == "admin"
    assert granting(["operator"], "keys.read") is None


def config(cli_roles: Any) -> dict[str, Any]:
    return {
        "backends": {"jp": backend("http://127.0.0.1:1/v1")},
        "models": {"chat": {"routes": [{"backend": "jp", "model": "q"}]}},
        "tenants": {"acme": rules(["JP"])},
        "identity": {"cli_roles": cli_roles},
    }


def test_cli_roles_in_the_config() -> None:
    settings = parse_settings(config({"alice": ["operator", "auditor"], "uid:1234": ["auditor"]}), "t", {})
    assert settings.file.identity.cli_roles == {"alice": ["operator", "auditor"], "uid:1234": ["auditor"]}
    assert parse_settings(config({}), "t", {}).file.identity.cli_roles == {}


@pytest.mark.parametrize(
    ("cli_roles", "expected"),
    [
        ({"alice": ["auditr"]}, "Invalid enum value 'auditr'; valid values: admin, operator, auditor; did you mean"),
        ({"alice": []}, "identity.cli_roles.alice: grants no role"),
        ({"bob smith": ["admin"]}, "identity.cli_roles.bob smith: not an OS user name"),
        ({"uid:x": ["admin"]}, "identity.cli_roles.uid:x: not an OS user name"),
        ({"alice": "admin"}, "Expected `array`, got `str`"),
    ],
)
def test_cli_roles_mistakes_are_refused_with_the_key_path(cli_roles: Any, expected: str) -> None:
    from onshore.settings import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_settings(config(cli_roles), "t", {})
    assert expected in str(info.value)
