"""Record bodies and checkpoint messages are RFC 8785 (JCS): checked against ECMAScript itself."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
import subprocess

import msgspec
import pytest

from onshore.prove.chain import (
    GENESIS_HASH,
    ChainedRecord,
    ChainHead,
    Checkpoint,
    canonical,
    checkpoint_message,
    checkpoint_messages,
    is_canonical,
    jcs_number,
    link,
    verify,
)

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

# RFC 8785 appendix B: IEEE 754 bit patterns and how JCS writes them.
APPENDIX_B = {
    0x0000000000000000: "0",
    0x8000000000000000: "0",
    0x0000000000000001: "5e-324",
    0x8000000000000001: "-5e-324",
    0x7FEFFFFFFFFFFFFF: "1.7976931348623157e+308",
    0x4340000000000000: "9007199254740992",
    0x4430000000000000: "295147905179352830000",
    0x44B52D02C7E14AF6: "1e+23",
    0x444B1AE4D6E2EF50: "1e+21",
    0x3EB0C6F7A0B5ED8D: "0.000001",
    0x41B3DE4355555555: "333333333.3333333",
    0x43143FF3C1CB0959: "1424953923781206.2",
}


def double(bits: int) -> float:
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B.items(), ids=[f"{b:016x}" for b in APPENDIX_B])
def test_rfc8785_number_vectors(bits: int, text: str) -> None:
    assert jcs_number(double(bits)) == text
    assert canonical({"n": double(bits)}) == b'{"n":' + text.encode() + b"}"


def test_what_msgspec_writes_differently_is_written_the_jcs_way() -> None:
    doc = {"ms": 5.0, "zero": -0.0, "big": 1e21, "small": 1e-7, "mid": 0.000001, "int": 2**60}
    assert canonical(doc) == b'{"big":1e+21,"int":1152921504606847000,"mid":0.000001,"ms":5,"small":1e-7,"zero":0}'
    # Keys sort by UTF-16 code unit: U+1F600 (D83D DE00) before U+FFFF, unlike code-point order.
    assert canonical({"\uffff": 1, "\U0001f600": 2, "a": {"\uffff": [1.0], "\U0001f600": None}}) == (
        '{"a":{"\U0001f600":null,"\uffff":[1]},"\U0001f600":2,"\uffff":1}'.encode()
    )
    # Only the mandatory escapes, lowercase hex, UTF-8 for everything else.
    assert canonical({"s": '\x00\x1f\u2028é"\\/\x7f'}) == '{"s":"\\u0000\\u001f\u2028é\\"\\\\/\x7f"}'.encode()


def random_value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return double(rng.getrandbits(64) & ~(0x7FF << 52) | (rng.randrange(1, 2046) << 52))  # any finite
    if pick == 1:
        return round(rng.uniform(-1e10, 1e10), rng.randrange(0, 7))  # ts- and duration-like, often whole
    if pick == 2:
        return rng.choice([0, -1, 2**53, -(2**53), rng.randrange(-(10**9), 10**9), True, False, None])
    if pick in (3, 4, 5):
        alphabet = 'aZ09 \x00\x07\x1f"\\/\x7f\u00e9\u3042\u2028\ud7ff\ue000\uffff\U0001f600\U00010000'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6)))
    if pick in (6, 7):
        return {str(random_value(rng, 9)): random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}
    return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]


@needs_node
def test_canonical_matches_an_independent_ecmascript_jcs() -> None:
    """Node re-canonicalises what we wrote (JSON.parse, then JSON.stringify per member, keys sorted by
    UTF-16): any byte that differs from ECMAScript's form shows up here."""
    rng = random.Random(8785)
    docs = [{"v": random_value(rng), "k": random_value(rng)} for _ in range(3000)]
    docs += [{"n": double(bits)} for bits in APPENDIX_B]
    ours = [canonical(doc) for doc in docs]
    script = (
        "const jcs = (v) => v === null || typeof v !== 'object' ? JSON.stringify(v) : Array.isArray(v) ? "
        "`[${v.map(jcs).join(',')}]` : `{${Object.keys(v).sort().map((k) => "
        "`${JSON.stringify(k)}:${jcs(v[k])}`).join(',')}}`;"
        "const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);"
        "process.stdout.write(lines.map((l) => jcs(JSON.parse(l))).join('\\n') + '\\n');"
    )
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", script], input=b"\n".join(ours) + b"\n", capture_output=True, check=True, timeout=60
    )
    theirs = result.stdout.decode("utf-8").split("\n")[:-1]
    mismatches = [(o.decode(), t) for o, t in zip(ours, theirs, strict=True) if o.decode() != t]
    assert not mismatches, mismatches[:5]


def test_a_typical_record_is_encoded_as_msgspec_did_when_no_number_needs_changing() -> None:
    doc = {"id": "r1", "ts": 1712345678.123456, "durations_ms": {"total": 1.5, "upstream": None}, "seq": 1}
    assert canonical(doc) == msgspec.json.Encoder(order="sorted").encode(doc)


def test_records_written_in_the_old_form_still_verify() -> None:
    """Before JCS, bodies were msgspec's sorted JSON (`"total":0.0`): the hash covers stored bytes."""
    old = msgspec.json.Encoder(order="sorted")
    prev, rows = GENESIS_HASH, []
    for seq in (1, 2):
        body = old.encode(
            {"id": f"r{seq}", "ts": 1000.0, "durations_ms": {"total": 0.0}, "seq": seq, "prev_hash": prev}
        )
        prev = hashlib.sha256(body).hexdigest()
        rows.append(ChainedRecord(seq, f"r{seq}", 1000.0, body, prev))
    new, _ = link([{"id": "r3", "ts": 1000.0, "durations_ms": {"total": 0.0}}], ChainHead(2, prev))
    report = verify([*rows, *new], [], lambda cp: True)
    assert report.ok and report.records == 3 and report.legacy == 2
    assert not is_canonical(rows[0].body) and is_canonical(new[0].body)
    assert b'"total":0,' in new[0].body or b'"total":0}' in new[0].body


def test_checkpoints_signed_over_the_old_message_form_are_still_accepted() -> None:
    whole = Checkpoint(5, "a" * 64, 1700000000.0, "kid", "sig")
    assert checkpoint_message(5, "a" * 64, 1700000000.0, "kid") == (
        b'{"hash":"' + b"a" * 64 + b'","kid":"kid","seq":5,"ts":1700000000,"type":"onshore-audit-checkpoint"}'
    )
    current, legacy = checkpoint_messages(whole)
    assert b'"ts":1700000000.0,' in legacy and current == checkpoint_message(5, "a" * 64, 1700000000.0, "kid")
    assert len(checkpoint_messages(Checkpoint(5, "a" * 64, 1700000000.25, "kid", "sig"))) == 1


def test_export_lines_parse_back_to_the_same_document() -> None:
    body = canonical({"id": "x", "ts": 1.5, "n": 5.0, "s": "東京\u2028"})
    assert json.loads(body) == {"id": "x", "ts": 1.5, "n": 5, "s": "東京\u2028"}
