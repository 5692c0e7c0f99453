"""Roles for `onshore` commands, run as a subprocess the way an operator runs them.

The data directory's owner is admin; anyone else holds what identity.cli_roles lists. Tests run as
root, which owns the directories it creates: to be someone else, a directory is handed to `nobody`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_cli import run, write_config

REDIS = {"TEST_REDIS_URL": "redis://127.0.0.1:6379/0"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="hands a directory to another user: needs root")


def gateway_config(tmp_path: Path, cli_roles: dict[str, list[str]] | None, prefix: str) -> Path:
    path = write_config(tmp_path / f"gw-{uuid.uuid4().hex[:6]}.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    raw = yaml.safe_load(path.read_text())
    raw["gateway"]["redis"] = {"url_env": "TEST_REDIS_URL", "prefix": prefix}
    if cli_roles is not None:
        raw["identity"] = {"cli_roles": cli_roles}
    path.write_text(yaml.safe_dump(raw))
    return path


def onshore(config: Path, *args: str) -> Any:
    return run(*args, "--config", str(config), cwd=config.parent, env=REDIS)


def snapshot(directory: Path) -> dict[str, str]:
    """Every file's digest: a refused command must leave each byte as it was (WAL and journal included)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def records(data: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data / "onshore.db") as conn:
        return [json.loads(bytes(b)) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]


def give_away(directory: Path, uid: int) -> None:
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, uid, -1)


def refused(result: Any, action: str) -> str:
    assert result.returncode == 77, (result.returncode, result.stderr)
    [line] = [line for line in result.stderr.splitlines() if "refused" in line]
    assert f"({action})" in line and "OS user root" in line and "identity.cli_roles" in line and "拒否" in line
    assert "Traceback" not in result.stderr
    return str(line)


def test_the_owner_is_admin_and_their_key_changes_are_audited_with_the_role(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, None, f"onshore-roles-{uuid.uuid4().hex}:")
    created = onshore(config, "keys", "create", "--tenant", "acme")
    assert created.returncode == 0, created.stderr
    key_id = onshore(config, "keys", "list").stdout.splitlines()[1].split()[0]
    revoked = onshore(config, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert [(r["action"], r["key_id"], r["actor"], r["role"]) for r in records(tmp_path / "data")] == [
        ("key_create", key_id, "cli:root", "admin"),
        ("key_revoke", key_id, "cli:root", "admin"),
    ]


def test_someone_other_than_the_owner_holds_only_the_roles_cli_roles_lists(tmp_path: Path) -> None:
    prefix = f"onshore-roles-{uuid.uuid4().hex}:"
    data = tmp_path / "data"
    plain = gateway_config(tmp_path, None, prefix)
    assert onshore(plain, "keys", "create", "--tenant", "acme").returncode == 0  # root owns it: admin
    key_id = onshore(plain, "keys", "list").stdout.splitlines()[1].split()[0]
    give_away(data, pwd.getpwnam("nobody").pw_uid)
    before = snapshot(data)

    # No cli_roles: root is not the owner, so holds no role; every change and every read of the chain is refused.
    line = refused(onshore(plain, "keys", "create", "--tenant", "acme"), "keys.write")
    assert "owner of" in line and "which is nobody" in line and "roles: none" in line
    refused(onshore(plain, "keys", "revoke", key_id), "keys.write")
    refused(onshore(plain, "keys", "list"), "keys.read")
    refused(onshore(plain, "backends", "disable", "jp", "--reason", "drill"), "backends.switch")
    refused(onshore(plain, "audit", "export"), "audit.export")
    refused(onshore(plain, "audit", "verify"), "audit.read")
    assert snapshot(data) == before

    operator = gateway_config(tmp_path, {"root": ["operator"]}, prefix)
    disabled = onshore(operator, "backends", "disable", "jp", "--reason", "maintenance drill")
    assert disabled.returncode == 0, disabled.stderr
    try:
        assert "DISABLED" in onshore(operator, "backends", "list").stdout
        line = refused(onshore(operator, "keys", "create", "--tenant", "acme"), "keys.write")
        assert "roles: operator" in line and "{root: [admin]}" in line
        refused(onshore(operator, "audit", "export"), "audit.export")
        after_disable = snapshot(data)
        refused(onshore(operator, "keys", "revoke", key_id), "keys.write")
        assert snapshot(data) == after_disable

        auditor = gateway_config(tmp_path, {"root": ["auditor"]}, prefix)
        exported = onshore(auditor, "audit", "export")
        assert exported.returncode == 0, exported.stderr
        lines = [json.loads(line) for line in exported.stdout.splitlines()]
        assert [(r["action"], r["actor"], r["role"]) for r in lines] == [
            ("key_create", "cli:root", "admin"),
            ("disable", "cli:root", "operator"),
        ]
        assert lines[1]["backend"] == "jp" and lines[1]["reason"] == "maintenance drill"
        assert lines[1]["outcome"] == "requested"  # recorded before it took effect
        assert onshore(auditor, "keys", "list").returncode == 0  # ids and tenants, never a secret
        refused(onshore(auditor, "backends", "enable", "jp"), "backends.switch")
        assert "DISABLED" in onshore(auditor, "backends", "list").stdout  # the kill switch did not move
    finally:
        assert onshore(operator, "backends", "enable", "jp").returncode == 0
    assert "enabled" in onshore(operator, "backends", "list").stdout


def test_a_refused_key_creation_does_not_make_a_database(tmp_path: Path) -> None:
    """Before the first start the directory may not exist: its parent's owner is who will own it."""
    parent = tmp_path / "srv"
    parent.mkdir()
    os.chown(parent, pwd.getpwnam("nobody").pw_uid, -1)
    config = write_config(tmp_path / "gw.yaml", "http://127.0.0.1:1/v1", parent / "data")
    refused(run("keys", "create", "--tenant", "acme", "--config", str(config), cwd=tmp_path), "keys.write")
    assert not (parent / "data").exists()


@pytest.fixture
def pg_dsn() -> Any:
    import secrets

    import psycopg
    from psycopg.conninfo import make_conninfo

    admin_dsn = os.environ.get("ONSHORE_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {admin_dsn!r}: {exc}")
    name = f"onshore_test_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_a_schema_upgrade_needs_admin_and_is_audited(tmp_path: Path, pg_dsn: str) -> None:
    import psycopg

    path = write_config(tmp_path / "gw.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    raw = yaml.safe_load(path.read_text())
    raw["gateway"].update(storage="postgresql", storage_env="TEST_PG_URL")
    path.write_text(yaml.safe_dump(raw))
    (tmp_path / "data").mkdir()
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(pg_dsn)
    password = f":{parts['password']}" if parts.get("password") else ""
    where = f"{parts['host']}:{parts.get('port', 5432)}/{parts['dbname']}"
    url = f"postgresql://{parts.get('user', 'postgres')}{password}@{where}"
    env = {"TEST_PG_URL": url}

    def db(*args: str) -> Any:
        return run("db", *args, "--config", str(path), cwd=tmp_path, env=env)

    give_away(tmp_path / "data", pwd.getpwnam("nobody").pw_uid)
    refused(db("upgrade"), "config.write")
    assert db("status").returncode == 1  # reading the revision needs no role: none yet
    give_away(tmp_path / "data", 0)
    upgraded = db("upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert db("upgrade").returncode == 0  # already current: nothing changed, nothing recorded
    with psycopg.connect(pg_dsn) as conn:
        rows = [json.loads(bytes(b)) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]
    assert [(r["action"], r["previous_revision"], r["actor"], r["role"]) for r in rows] == [
        ("db_upgrade", None, "cli:root", "admin")
    ]


def test_check_config_warns_of_a_cli_user_this_machine_does_not_have(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, {"root": ["auditor"], "nobdy": ["operator"]}, "unused:")
    checked = run("check-config", str(config), cwd=tmp_path, env=REDIS)
    assert checked.returncode == 0, checked.stderr
    [warning] = [line for line in checked.stderr.splitlines() if "cli_roles" in line]
    assert warning == "warning: identity.cli_roles.nobdy: no OS user 'nobdy' on this machine; did you mean 'nobody'?"
    ci = run("check-config", "--no-secrets", str(config), cwd=tmp_path)  # the file alone: users are elsewhere
    assert ci.returncode == 0 and "cli_roles" not in ci.stderr


def test_reload_needs_config_write_and_asks_no_gateway_without_it(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, {"root": ["operator"]}, f"onshore-roles-{uuid.uuid4().hex}:")
    assert onshore(config, "keys", "create", "--tenant", "acme").returncode == 0
    data = tmp_path / "data"
    (data / "onshore.pid").write_text(str(os.getpid()))  # a pid the command must never signal
    give_away(data, pwd.getpwnam("nobody").pw_uid)
    before = snapshot(data)
    line = refused(onshore(config, "reload"), "config.write")
    assert "admin" in line
    assert snapshot(data) == before  # no request file written, no signal sent


def test_a_refused_command_is_a_security_event(tmp_path: Path) -> None:
    config = gateway_config(tmp_path, None, f"onshore-roles-{uuid.uuid4().hex}:")
    raw = yaml.safe_load(config.read_text())
    events = tmp_path / "events.ndjson"
    raw["gateway"]["security_events"] = {"ndjson": {"path": str(events)}}
    config.write_text(yaml.safe_dump(raw))
    assert onshore(config, "keys", "create", "--tenant", "acme").returncode == 0
    give_away(tmp_path / "data", pwd.getpwnam("nobody").pw_uid)
    refused(onshore(config, "keys", "create", "--tenant", "acme"), "keys.write")
    found = [json.loads(x) for x in events.read_text().splitlines()]
    [event] = [e for e in found if e["metadata"]["event_code"] == "admin_action_refused"]
    assert event["class_uid"] == 6003 and event["action_id"] == 2 and event["status"] == "Failure"
    assert event["actor"]["user"]["uid"] == "cli:root" and event["api"]["operation"] == "keys.write"
    assert event["src_endpoint"]["name"] == "cli"
