"""The backend-stream splitter and the token estimate keep their answers on their fast paths."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onshore.route.backends.usage import TokenTally, estimate_text
from onshore.route.sse import EventSplitter


def _slow_quarters(text: str) -> int:
    """The estimate's rule, character by character (the module's non-ASCII path)."""
    total = 0
    for char in text:
        code = ord(char)
        if code < 0x80:
            total += 4 if char.isdigit() else 1
        elif (
            0x2E80 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF
            or 0xF900 <= code <= 0xFAFF
            or 0xFF00 <= code <= 0xFFEF
            or code >= 0x20000
        ):
            total += 4
        else:
            total += 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return total


@given(st.text())
def test_estimate_is_the_same_rule_on_ascii_and_other_text(text: str) -> None:
    tally = TokenTally()
    tally.add(text)
    assert tally.tokens == -(-_slow_quarters(text) // 4) == estimate_text(text)


def test_ascii_digits_count_a_token_each() -> None:
    assert estimate_text("1234") == 4
    assert estimate_text("abcd") == 1
    assert estimate_text("東京") == 2


def test_single_data_lines_multi_line_events_and_comments() -> None:
    splitter = EventSplitter()
    stream = b'data: {"a":1}\n\ndata:{"b":2}\n\n: keep-alive\n\ndata: x\ndata:  y\n\nevent: e\ndata: z\n\n'
    assert splitter.feed(stream) == [b'{"a":1}', b'{"b":2}', b"x\ny", b"z"]
    assert splitter.pending() == b""


def test_events_split_across_reads_and_crlf() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: one\r\n") == []
    assert splitter.feed(b"\r\ndata: tw") == [b"one"]
    assert splitter.feed(b"o\n\n") == [b"two"]
