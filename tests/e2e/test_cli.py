"""The `onshore` command as an operator uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest
import yaml

from onshore.cli import main
from tests.support.gateway import RunningGateway, backend, rules
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
    assert "Config error: backends.jp" in err and "retention_dayz" in err


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


def test_serve_refuses_a_bad_config_with_the_key_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("backends: {}\nmodels: {}\ntenants: {}\nsurprise: 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "onshore", "serve", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown field `surprise`" in result.stderr
