"""The `onshore` command as an operator uses it."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from onshore.cli import main
from tests.support.gateway import RunningGateway, add_key, backend, rules
from tests.support.upstream import FakeUpstream


def write_config(path: Path, base_url: str, data_dir: Path) -> Path:
    config = {
        "gateway": {"data_dir": str(data_dir)},
        "backends": {
            "jp": backend(base_url, "JP", region="tokyo-1"),
            "jp-us-operator": backend(base_url, "JP", operator="Hyperscaler Inc", operator_jurisdiction="US"),
        },
        "models": {"chat": {"routes": [{"backend": "jp-us-operator", "model": "m"}, {"backend": "jp", "model": "m"}]}},
        "tenants": {"acme": rules(["JP"], public={"jurisdictions": ["JP"], "operator_jurisdictions": ["*"]})},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_check_config_prints_the_resolved_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "onshore.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Policy hash:" in out
    lines = {tuple(line.split()[:4]) for line in out.splitlines()}
    assert ("acme", "public", "chat", "jp-us-operator,") in lines
    assert ("acme", "personal", "chat", "jp") in lines
    assert "jp-us-operator: operator Hyperscaler Inc is under US law, not in [JP]" in out


def test_check_config_refuses_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "onshore.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    config.write_text(config.read_text().replace("retention_days", "retention_dayz", 1))
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "retention_dayz" in line)
    assert re.match(rf"Config error: {re.escape(str(config))}:\d+: backends\.jp: ", line), line
    assert "did you mean `retention_days`?" in line


def test_keys_receipt_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    upstream = FakeUpstream().start()
    config = write_config(tmp_path / "onshore.yaml", upstream.base_url, tmp_path / "data")
    try:
        assert main(["keys", "create", "--tenant", "acme", "--floor", "internal", "--config", str(config)]) == 0
        key = capsys.readouterr().out.strip()
        assert key.startswith("onsk_")
        assert main(["keys", "create", "--tenant", "nobody", "--config", str(config)]) == 2
        assert main(["keys", "list", "--config", str(config)]) == 0
        listing = capsys.readouterr().out
        assert "acme" in listing and "internal" in listing and key not in listing
        from onshore.settings import load_settings

        gateway = RunningGateway(load_settings(config)).start()
        try:
            with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client:
                raw = client.chat.completions.with_raw_response.create(
                    model="chat", messages=[{"role": "user", "content": "hi"}]
                )
            receipt = raw.headers["onshore-receipt"]
            jwks = tmp_path / "jwks.json"
            import httpx2

            jwks.write_bytes(httpx2.get(gateway.url + "/.well-known/jwks.json").content)
        finally:
            gateway.stop()
        capsys.readouterr()
        assert main(["receipt", "verify", receipt, "--jwks", str(jwks)]) == 0
        out = capsys.readouterr().out
        assert "VALID" in out and '"jurisdiction": "JP"' in out and '"region": "tokyo-1"' in out
        assert main(["receipt", "verify", receipt, "--config", str(config)]) == 0  # offline, from the data dir
        tampered = receipt[:-6] + ("AAAAAA" if not receipt.endswith("AAAAAA") else "BBBBBB")
        assert main(["receipt", "verify", tampered, "--jwks", str(jwks)]) == 1
    finally:
        upstream.stop()


def test_key_changes_from_the_cli_are_in_the_audit_chain_with_their_actor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sqlite3

    config = write_config(tmp_path / "onshore.yaml", "http://127.0.0.1:9/v1", tmp_path / "data")
    assert main(["keys", "create", "--tenant", "acme", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--config", str(config)]) == 0
    key_id = capsys.readouterr().out.splitlines()[1].split()[0]
    assert main(["keys", "revoke", key_id, "--config", str(config)]) == 0
    assert main(["keys", "revoke", key_id, "--config", str(config)]) == 1  # nothing to revoke: nothing recorded
    with sqlite3.connect(tmp_path / "data" / "onshore.db") as conn:
        rows = [json.loads(bytes(b)) for (b,) in conn.execute("SELECT body FROM audit_records ORDER BY seq")]
    assert [(r["kind"], r["action"], r["key_id"], r["tenant"]) for r in rows] == [
        ("admin", "key_create", key_id, "acme"),
        ("admin", "key_revoke", key_id, "acme"),
    ]
    assert all(r["actor"].startswith("cli") for r in rows)
    # (`audit verify` over a chain that began with CLI key records: tests/cluster/test_cluster.py.)


def test_serve_refuses_a_bad_config_with_the_key_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("backends: {}\nmodels: {}\ntenants: {}\nsurprise: 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "onshore", "serve", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown field `surprise`" in result.stderr


# --- The CLI never acts on the wrong data quietly ------------------------------------------------------

ONSHORE = [sys.executable, "-m", "onshore"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "ONSHORE_CONFIG"}
    return subprocess.run(
        [*ONSHORE, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env={**environ, **(env or {})}
    )


STATE_COMMANDS = [
    ["keys", "list"],
    ["keys", "revoke", "abc123"],
    ["audit", "verify"],
    ["audit", "export"],
    ["receipt", "verify", "eyJhbGciOiJFZERTQSJ9.e30.sig"],
]


@pytest.mark.parametrize("command", STATE_COMMANDS, ids=" ".join)
def test_state_commands_refuse_an_empty_directory(tmp_path: Path, command: list[str]) -> None:
    result = run(*command, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"in {tmp_path / 'onshore-data'}" in line  # where it looked
    assert "--data-dir" in line and "--config" in line and "ONSHORE_CONFIG" in line  # how to point elsewhere
    assert "指定してください" in line
    assert "Config error" not in line
    assert not (tmp_path / "onshore-data").exists()  # nothing was created


def test_backends_disable_refuses_before_acting(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    raw = yaml.safe_load(config.read_text())
    raw["gateway"]["redis"] = {"url_env": "TEST_REDIS_URL", "prefix": f"onshore-cli-{os.getpid()}:"}
    config.write_text(yaml.safe_dump(raw))
    env = {"TEST_REDIS_URL": "redis://127.0.0.1:6379/0"}
    result = run("backends", "disable", "jp", "--reason", "test", "--config", str(config), cwd=tmp_path, env=env)
    assert result.returncode == 2 and "no Onshore database" in result.stderr
    assert not (tmp_path / "data").exists()
    typo = run("backends", "disable", "jpp", "--reason", "test", "--config", str(config), cwd=tmp_path, env=env)
    assert typo.returncode == 2
    assert "NAME: unknown backend 'jpp'; valid: jp, jp-us-operator; did you mean 'jp'?" in typo.stderr


def test_config_is_found_from_env_then_the_current_directory(tmp_path: Path) -> None:
    here = write_config(tmp_path / "onshore.yaml", "http://127.0.0.1:1/v1", tmp_path / "here-data")
    elsewhere = write_config(tmp_path / "other.yaml", "http://127.0.0.1:1/v1", tmp_path / "other-data")
    created = run("keys", "create", "--tenant", "acme", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (
        f"data: {tmp_path / 'here-data'}" in created.stderr and "onshore.yaml (found in the current" in created.stderr
    )
    assert "a new database" in created.stderr
    listed = run("keys", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "acme" in listed.stdout
    assert f"data: {tmp_path / 'here-data'}" in listed.stderr
    from_env = run("keys", "list", cwd=tmp_path, env={"ONSHORE_CONFIG": str(elsewhere)})
    assert from_env.returncode == 2 and str(tmp_path / "other-data") in from_env.stderr
    explicit = run("keys", "list", "--config", str(here), cwd=tmp_path, env={"ONSHORE_CONFIG": str(elsewhere)})
    assert explicit.returncode == 0 and "(--config)" in explicit.stderr


def test_version_on_every_command() -> None:
    from onshore import __version__
    from onshore.cli import _parser

    def paths(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
        found = [prefix]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += paths(child, [*prefix, name])
        return found

    commands = paths(_parser(), [])
    assert ["keys", "create"] in commands and ["audit", "verify"] in commands and len(commands) > 20
    for command in commands:
        with pytest.raises(SystemExit) as info, contextlib.redirect_stdout(io.StringIO()) as out:
            main([*command, "--version"])
        assert info.value.code == 0
        assert out.getvalue().strip() == f"onshore {__version__}", command


def test_usage_mistakes_list_the_valid_values_and_are_not_config_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    floor = run("keys", "create", "--tenant", "acme", "--floor", "personnal", "--config", str(config), cwd=tmp_path)
    assert floor.returncode == 2
    assert floor.stderr.strip() == (
        "onshore keys create: error: --floor: unknown data class 'personnal'; "
        "valid: public, internal, confidential, personal, special_care; did you mean 'personal'?"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was opened
    tenant = run("keys", "create", "--tenant", "acmee", "--config", str(config), cwd=tmp_path)
    assert "--tenant: unknown tenant 'acmee'; valid: acme; did you mean 'acme'?" in tenant.stderr
    since = run("audit", "export", "--since", "yesterday", "--config", str(config), cwd=tmp_path)
    assert since.returncode == 2 and "Config error" not in since.stderr and "--since" in since.stderr


def test_every_config_error_in_one_run_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "backends:\n"
        "  jp:\n"
        "    kind: vllm\n"
        "    base_url: http://127.0.0.1:1/v1\n"
        "models:\n"
        "  chat: {routes: [{backend: jp, model: m}]}\n"
        "tenants:\n"
        "  acme:\n"
        "    classes:\n"
        "      public: {jurisdictions: [UK]}\n"
        "      internal: {jurisdictions: [JP]}\n"
        "      confidential: {jurisdictions: [JP], audit_content: full}\n"
        "      personal: {jurisdictions: [NO]}\n"
        "      special_care: {jurisdictions: [JP]}\n",
        encoding="utf-8",
    )
    result = run("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        f"Config error: {config}:3: backends.jp.kind: Invalid enum value 'vllm'; "
        "valid values: openai, azure_openai, anthropic, embedded; did you mean 'openai'?"
    )
    assert lines[1].startswith(f"Config error: {config}:10: tenants.acme.classes.public.jurisdictions[0]: 'UK'")
    assert lines[2].startswith(f"Config error: {config}:12: tenants.acme.classes.confidential.audit_content:")
    assert "valid values: none, digest" in lines[2]
    assert lines[3] == f"3 config errors in {config}."  # NO is Norway, and the route to the bad backend is not blamed


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("backends:\n  jp: [unclosed\nmodels: {}\n", encoding="utf-8")
    result = run("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Config error: {config}:3: not valid YAML")
    assert "<unicode string>" not in line


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    upstream = FakeUpstream().start()
    try:
        config = write_config(tmp_path / "gw.yaml", upstream.base_url, tmp_path / "data")
        assert main(["keys", "create", "--tenant", "acme", "--config", str(config)]) == 0
        from onshore.settings import load_settings

        settings = load_settings(config)
        key = add_key(settings, "acme")
        gateway = RunningGateway(settings).start()
        try:
            with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client:
                for _ in range(3):
                    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        finally:
            gateway.stop()
    finally:
        upstream.stop()
    for command in (["check-config", str(config)], ["audit", "export", "--config", str(config)]):
        # The reader is gone before the first write (`| head -1` after its line, at any size).
        process = subprocess.Popen(
            [*ONSHORE, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read()
        process.stderr.close()
        assert process.wait(60) == 141, stderr  # 128 + SIGPIPE, what the shell reports for `cat` there
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    piped = subprocess.run(
        f"{' '.join(ONSHORE)} audit export --config {config} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert piped.stdout.count("\n") == 1 and "Traceback" not in piped.stderr


def test_check_config_fits_100_columns_and_warns(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", "http://127.0.0.1:1/v1", tmp_path / "data")
    raw = yaml.safe_load(config.read_text())
    raw["backends"]["spare"] = backend("http://127.0.0.1:1/v1", "US")
    for n in range(6):  # an allowed list far wider than a terminal
        raw["backends"][f"jp-secondary-datacentre-{n}"] = backend("http://127.0.0.1:1/v1", "JP")
        raw["models"]["chat"]["routes"].append({"backend": f"jp-secondary-datacentre-{n}", "model": "m"})
    raw["backends"]["far"] = backend("http://127.0.0.1:1/v1", "US")
    raw["models"]["abroad"] = {"routes": [{"backend": "far", "model": "m"}]}
    raw["tenants"]["acme"]["classes"]["special_care"] = {"jurisdictions": ["DE"]}
    raw["backends"]["jp"]["api_key_env"] = "UNSET_IN_CI_KEY"
    config.write_text(yaml.safe_dump(raw))
    strict = run("check-config", str(config), cwd=tmp_path)
    assert strict.returncode == 2 and "UNSET_IN_CI_KEY is not set" in strict.stderr
    result = run("check-config", "--no-secrets", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Config OK: {config} (secrets and model files not checked)"
    assert max(len(line) for line in lines[1:]) <= 100
    assert "jp-secondary-datacentre-5" in result.stdout  # wrapped, not cut
    assert "jp-us-operator: operator Hyperscaler Inc is under US law, not in [JP]" in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert "warning: backends.spare: no model routes to it (unused)" in warnings
    assert any(w.startswith("warning: models.abroad: no tenant can reach it") for w in warnings)
    assert any(w.startswith("warning: tenants.acme.classes.special_care: allows no backend") for w in warnings)
    assert len(warnings) == 3, warnings


# --- The README's examples, as printed ------------------------------------------------------------------


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        old = merged.get(key)
        merged[key] = deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def test_every_readme_config_block_passes_check_config(tmp_path: Path) -> None:
    """Whole configs are checked as printed; fragments (no `backends:`) on top of the first whole one
    and every fragment before them: the README builds one configuration as it is read (the console's
    sign-in names the issuer the identity section configured)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    documents = [yaml.safe_load(block) for block in blocks]
    whole = [d for d in documents if "backends" in d]
    assert whole and len(documents) >= 3
    so_far = whole[0]
    for index, document in enumerate(documents):
        config = tmp_path / f"readme-{index}.yaml"
        if "backends" in document:
            config.write_text(blocks[index], encoding="utf-8")
        else:
            so_far = deep_merge(so_far, document)
            config.write_text(yaml.safe_dump(so_far), encoding="utf-8")
        result = run("check-config", "--no-secrets", str(config), cwd=tmp_path)
        assert result.returncode == 0, f"README yaml block {index + 1}:\n{blocks[index]}\n{result.stderr}"
        assert "warning" not in result.stderr, result.stderr
