"""Verifiable by anyone: a real gateway's exported log checks out in Node.js (tools/verify-audit.mjs)
without Onshore, and the checkpoint witness outside the database catches a truncated tail."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NotRequired, TypedDict

import httpx2 as httpx
import pytest

from tests.e2e.test_audit import MESSAGES, Rig

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify-audit.mjs"
NODE = shutil.which("node")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "gw")
    try:
        yield r
    finally:
        r.close()


def witness(rig: Rig) -> Path:
    return rig.settings.data_dir / "audit-witness.jsonl"


def traffic_then_stop(rig: Rig, requests: int = 5) -> None:
    """Requests, then a clean stop: the final checkpoint covers the whole chain and is witnessed."""
    for _ in range(requests):
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
    list(rig.client.chat.completions.create(model="chat", messages=MESSAGES, stream=True))
    rig.gateway.stop()


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    """`onshore audit ...` as an operator runs it: a separate process."""
    command = [sys.executable, "-m", "onshore", "audit", *args, "--data-dir", str(rig.settings.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)


def node_verify(rig: Rig, tmp: Path, *, with_witness: bool = True) -> subprocess.CompletedProcess[str]:
    exported, keys = tmp / "audit.jsonl", tmp / "jwks.json"
    result = cli(rig, "export", "--with-checkpoints", "--jwks", str(keys), "--output", str(exported))
    assert result.returncode == 0, result.stderr
    assert NODE is not None
    command = [NODE, str(VERIFIER), str(exported), "--jwks", str(keys)]
    if with_witness:
        command += ["--witness", str(witness(rig))]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def last_seq(rig: Rig) -> int:
    with sqlite3.connect(rig.db) as conn:
        return int(conn.execute("SELECT MAX(seq) FROM audit_records").fetchone()[0])


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_verifier_accepts_the_exported_log_of_a_real_gateway(rig: Rig, tmp_path: Path) -> None:
    served_jwks = httpx.get(rig.gateway.url + "/.well-known/jwks.json").json()
    traffic_then_stop(rig)
    result = node_verify(rig, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    seq = last_seq(rig)
    assert f"OK: {seq} records, chain intact to seq {seq}" in result.stdout
    assert f"{seq} records in RFC 8785 form, 0 in the earlier form" in result.stdout
    assert " 0 signed checkpoints" not in result.stdout and " 0 witnessed" not in result.stdout
    # The key as the gateway serves it verifies the same export.
    assert json.loads((tmp_path / "jwks.json").read_text()) == served_jwks


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("tamper", ["changed_byte", "deleted_record", "truncated_tail", "edited_export"])
def test_node_verifier_names_the_tampered_record(rig: Rig, tmp_path: Path, tamper: str) -> None:
    traffic_then_stop(rig)
    with sqlite3.connect(rig.db) as conn:
        if tamper == "changed_byte":
            conn.execute(
                "UPDATE audit_records SET body = replace(body, '\"status\":200', '\"status\":201') WHERE seq = 3"
            )
            expected = ["record seq 3", "altered"]
        elif tamper == "deleted_record":
            conn.execute("DELETE FROM audit_records WHERE seq = 3")
            expected = ["record seq 3: missing"]
        elif tamper == "truncated_tail":  # the records and the checkpoints that covered them
            conn.execute("DELETE FROM audit_records WHERE seq > 3")
            conn.execute("DELETE FROM audit_checkpoints WHERE seq > 3")
            expected = ["record seq 4: missing", "witness", "truncated"]
        else:
            expected = ["record seq 2", "fields differ from its raw body"]
    if tamper == "edited_export":
        # The readable fields of an export line are checked against the hashed bytes too.
        exported, keys = tmp_path / "audit.jsonl", tmp_path / "jwks.json"
        assert cli(rig, "export", "--with-checkpoints", "--jwks", str(keys), "-o", str(exported)).returncode == 0
        lines = exported.read_text().splitlines()
        line = json.loads(lines[1])
        line["status"] = 201
        lines[1] = json.dumps(line, ensure_ascii=False)
        exported.write_text("\n".join(lines) + "\n")
        assert NODE is not None
        result = subprocess.run(
            [NODE, str(VERIFIER), str(exported), "--jwks", str(keys)], capture_output=True, text=True, check=False
        )
    else:
        result = node_verify(rig, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stderr and all(e in result.stderr for e in expected), result.stderr


def test_truncation_after_the_last_database_checkpoint_is_caught_by_the_witness(rig: Rig) -> None:
    traffic_then_stop(rig)
    assert "witnessed checkpoints verified" in cli(rig, "verify").stdout
    with sqlite3.connect(rig.db) as conn:
        conn.execute("DELETE FROM audit_records WHERE seq > 4")
        conn.execute("DELETE FROM audit_checkpoints WHERE seq > 4")
    # Without the witness the shortened chain looks whole: that is the attack.
    moved = rig.settings.data_dir.parent / "elsewhere.jsonl"
    witness(rig).rename(moved)
    alone = cli(rig, "verify")
    assert alone.returncode == 0 and "no witness file" in alone.stdout, alone.stderr
    # With the witness, default location or --witness FILE, it is named.
    result = cli(rig, "verify", "--witness", str(moved))
    assert result.returncode == 1
    assert "BROKEN: record seq 5: missing" in result.stderr and "truncated" in result.stderr, result.stderr
    moved.rename(witness(rig))
    assert "record seq 5: missing" in cli(rig, "verify").stderr
    # Every checkpoint gone along with every record after the first: still named.
    with sqlite3.connect(rig.db) as conn:
        conn.execute("DELETE FROM audit_records WHERE seq > 1")
        conn.execute("DELETE FROM audit_checkpoints")
    result = cli(rig, "verify")
    assert result.returncode == 1 and "record seq 2: missing" in result.stderr, result.stderr


def test_a_rewritten_witness_line_is_caught(rig: Rig) -> None:
    traffic_then_stop(rig)
    lines = witness(rig).read_text().splitlines()
    line = json.loads(lines[-1])
    line["seq"] -= 1  # point the checkpoint at an earlier record...
    with sqlite3.connect(rig.db) as conn:
        (line["hash"],) = conn.execute("SELECT hash FROM audit_records WHERE seq = ?", (line["seq"],)).fetchone()
    lines[-1] = json.dumps(line)  # ...with that record's real hash: only the signature gives it away
    witness(rig).write_text("\n".join(lines) + "\n")
    result = cli(rig, "verify")
    assert result.returncode == 1
    assert "witness's checkpoint signature is invalid" in result.stderr, result.stderr
    assert f"record seq {line['seq']}" in result.stderr


def test_a_failing_witness_shows_in_readiness_and_recovers(tmp_path: Path) -> None:
    """Requests go on (they are in the chain); /readyz says the witness is behind until it catches up."""
    blocked = tmp_path / "gw" / "audit-witness.jsonl"
    blocked.mkdir(parents=True)  # a directory where the file should be: every append fails
    rig = Rig(tmp_path / "gw")
    try:
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)
        body = wait_ready(rig, 503)
        assert "witness" in body["problems"] and "is not in the witness" in body["problems"]["witness"], body
        rig.client.chat.completions.create(model="chat", messages=MESSAGES)  # still served
        blocked.rmdir()
        wait_ready(rig, 200)
        rig.gateway.stop()
        seqs = [json.loads(line)["seq"] for line in blocked.read_text().splitlines()]
        assert seqs and seqs[-1] == last_seq(rig)
        result = cli(rig, "verify")
        assert result.returncode == 0, result.stderr
    finally:
        rig.close()


class Readiness(TypedDict):
    """The /readyz body."""

    status: str
    problems: NotRequired[dict[str, str]]  # component -> why, only when not ready


def wait_ready(rig: Rig, status: int, timeout: float = 10) -> Readiness:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(rig.gateway.url + "/readyz")
        if response.status_code == status:
            readiness: Readiness = response.json()
            return readiness
        assert time.monotonic() < deadline, f"/readyz stayed {response.status_code}: {response.text}"
        time.sleep(0.05)


def test_export_without_checkpoints_keeps_its_meaning(rig: Rig, tmp_path: Path) -> None:
    traffic_then_stop(rig, requests=2)
    out = tmp_path / "plain.jsonl"
    assert cli(rig, "export", "-o", str(out)).returncode == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, last_seq(rig) + 1))
    # The fields as before, plus the exact stored body, whose SHA-256 is the record's hash.
    assert all(hashlib.sha256(line["raw_body"].encode()).hexdigest() == line["hash"] for line in lines)
    assert all(json.loads(line.pop("raw_body")) == {k: v for k, v in line.items() if k != "hash"} for line in lines)
