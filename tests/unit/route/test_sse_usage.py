"""The backend-stream splitter and the token estimate keep their answers on their fast paths."""

from __future__ import annotations

from hypothesis import example, given
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


@given(st.text(st.characters(codec=None, categories=None)))
@example("\ud800a\udfff東ｶ한𠀋😀12")  # lone surrogates (a JSON escape can make one), every width
def test_the_fast_rule_counts_any_string_as_the_per_character_rule_does(text: str) -> None:
    assert estimate_text(text) == -(-_slow_quarters(text) // 4)


@given(st.lists(st.text(), max_size=200))
def test_a_stream_counted_in_batches_counts_as_its_pieces_one_by_one(pieces: list[str]) -> None:
    tally = TokenTally()
    for piece in pieces:
        tally.add_delta({"content": piece, "refusal": None})
    assert tally.tokens == -(-sum(_slow_quarters(p) for p in pieces) // 4)


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


def _reference_payloads(stream: bytes) -> tuple[list[bytes], bytes]:
    """The SSE rule event by event (the splitter's general path, written out): each blank line
    ends an event; its `data:` lines, one leading-space run stripped each, joined by newlines."""
    data = stream.replace(b"\r\n", b"\n")
    payloads: list[bytes] = []
    start = 0
    while (end := data.find(b"\n\n", start)) >= 0:
        lines = [line[5:].lstrip(b" ") for line in data[start:end].split(b"\n") if line.startswith(b"data:")]
        if lines:
            payloads.append(b"\n".join(lines))
        start = end + 2
    return payloads, data[start:]


_PIECES = st.sampled_from(
    [b"data: ", b"data:", b"data:  ", b'{"a":1}', b"[DONE]", b"\n", b"\n\n", b"\r\n", b": c", b"x"]
)


@given(st.lists(_PIECES, max_size=40), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_any_stream_cut_anywhere_gives_the_payloads_of_the_sse_rule(pieces: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(pieces)
    if b"\r" in stream.replace(b"\r\n", b""):
        return  # a lone CR is not a line end this splitter knows
    points = sorted({min(c, len(stream)) for c in cuts})
    splitter = EventSplitter()
    got: list[bytes] = []
    for start, end in zip([0, *points], [*points, len(stream)], strict=True):
        got += splitter.feed(stream[start:end])
    expected, rest = _reference_payloads(stream)
    assert got == expected
    assert splitter.pending().replace(b"\r\n", b"\n").lstrip(b"\n") == rest.lstrip(b"\n")


def test_a_read_of_single_line_events_splits_in_one_pass() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\ndata: {"c"') == [
        b'{"a":1}',
        b'{"b":2}',
        b"[DONE]",
    ]
    assert splitter.feed(b":3}\n\n") == [b'{"c":3}']
