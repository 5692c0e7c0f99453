"""A first start cannot lose its key: `onshore serve` run as a user runs it, with the port taken or a
model file missing first, then a good start in the same directory."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

from tests.support.gateway import rules

ONSHORE = [sys.executable, "-m", "onshore"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`onshore serve` expected to stop on its own (a failed start)."""
    return subprocess.run([*ONSHORE, "serve", *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def key_count(data_dir: Path) -> int:
    database = data_dir / "onshore.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM api_keys").fetchone()[0])


def good_start_prints_a_key(cwd: Path, data_dir: Path) -> None:
    """Start with the built-in defaults, read the key it prints, and use it at once."""
    port = free_port()
    process = subprocess.Popen(
        [*ONSHORE, "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    key = ""
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if match := re.match(r"\s+(onsk_\S+)$", line):
                key = match.group(1)
            if line.startswith("Listening on"):
                break
        text = "".join(lines)
        assert key, text
        assert "onshore keys create --tenant default" in text
        # The key was created after every part started, and works from the first request.
        response = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        assert key_count(data_dir) == 1
    finally:
        process.terminate()
        process.wait(30)
        process.stdout.close()


def test_port_in_use_creates_no_key_and_says_how_to_change_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(tmp_path, "--data-dir", str(data_dir), "--port", str(port))
    assert result.returncode != 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert f"127.0.0.1:{port}" in errors[0] and "already in use" in errors[0]
    assert "--port" in errors[0] and "gateway.port" in errors[0]
    assert "使用中" in errors[0]
    assert "onsk_" not in result.stdout + result.stderr
    assert key_count(data_dir) == 0
    good_start_prints_a_key(tmp_path, data_dir)


def test_port_in_use_with_a_config_names_that_file(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "gateway: {data_dir: data}\n"
        "backends:\n  jp: {kind: openai, base_url: 'http://127.0.0.1:1/v1', jurisdiction: JP, operator: A,\n"
        "       operator_jurisdiction: JP, retention_days: 0, trains_on_inputs: false}\n"
        "models: {chat: {routes: [{backend: jp, model: m}]}}\n"
        f"tenants: {{acme: {rules(['JP'])}}}\n",
        encoding="utf-8",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(tmp_path, "--config", str(config), "--port", str(port))
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert f"set gateway.port in {config}" in line


def embedded_config(path: Path, model_path: Path) -> Path:
    classes = rules(["JP"])
    path.write_text(
        "gateway: {data_dir: data}\n"
        f"backends:\n  local:\n    kind: embedded\n    embedded: {{model_path: '{model_path}'}}\n"
        "models: {chat: {routes: [{backend: local, model: m}]}}\n"
        f"tenants: {{default: {classes}}}\n",
        encoding="utf-8",
    )
    return path


def test_missing_model_file_is_one_line_naming_backend_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "absent.gguf"
    config = embedded_config(tmp_path / "gw.yaml", missing)
    result = serve(tmp_path, "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Config error: {config}:5: backends.local.embedded.model_path: model file not found")
    assert str(missing) in line and "モデルファイル" in line
    assert "Traceback" not in result.stderr
    assert key_count(tmp_path / "data") == 0
    # check-config reports the same, so "Config OK" never precedes a start that fails.
    checked = subprocess.run([*ONSHORE, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 2 and "model file not found" in checked.stderr
    good_start_prints_a_key(tmp_path, tmp_path / "data")


def test_unloadable_model_file_is_one_line_and_no_key(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a GGUF file")
    config = embedded_config(tmp_path / "gw.yaml", junk)
    result = serve(tmp_path, "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("Start-up failed")]
    assert len(lines) == 1, result.stderr
    assert f"backends.local: cannot load {junk}" in lines[0]
    assert "Traceback" not in result.stderr
    assert key_count(tmp_path / "data") == 0
