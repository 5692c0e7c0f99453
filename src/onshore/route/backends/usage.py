"""Token counts for answers whose backend did not report usage (or whose stream ended before it did).

The gateway has no tokenizer for a remote backend, so it estimates, and the audit record says so
(`usage_source: "estimate"`). The rule, per character: CJK ideographs, kana, Hangul and full-width
forms 1 token; ASCII digits 1 (most open-weight tokenizers split numbers into single digits);
everything else a quarter token per UTF-8 byte (~4 bytes of English per token). Prompts add 3 tokens
per message and 3 for the reply's priming, as OpenAI documents for its chat format. Text counted is
what the backend saw and produced: message contents, names, tool calls and their arguments.
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["ESTIMATE", "TokenTally", "estimate_completion", "estimate_prompt", "estimate_text", "usage_of"]

ESTIMATE = "estimate"
_PER_MESSAGE = 3
_PRIMING = 3


# The wide characters below U+10000 (CJK radicals, punctuation, kana and ideographs; Hangul
# syllables; CJK compatibility ideographs; full-width and half-width forms): 3 bytes of UTF-8 each,
# counted 4. Those from U+20000 (CJK extensions B and beyond) are 4 bytes and counted 4 as they are.
_WIDE_BMP_RUN = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+")  # runs: fewer matches
_DIGITS = b"0123456789"


def _quarters(text: str) -> int:
    """The estimate in quarter tokens (integers, so pieces can be summed exactly): a quarter per
    UTF-8 byte, plus 3 per ASCII digit (a whole token) and 1 per wide character below U+10000. The
    same rule as the module docstring's, by C passes over the text instead of a loop per character
    (Japanese text is most of what this counts). A lone surrogate counts its 3 bytes."""
    raw = text.encode("ascii") if text.isascii() else text.encode("utf-8", "surrogatepass")
    quarters = len(raw) + 3 * (len(raw) - len(raw.translate(None, _DIGITS)))
    if len(raw) != len(text):
        quarters += len(text) - len(_WIDE_BMP_RUN.sub("", text))
    return quarters


def estimate_text(text: str) -> int:
    return math.ceil(_quarters(text) / 4)


class TokenTally:
    """Adds up the estimate of text relayed piece by piece. A stream's content pieces are counted
    in batches of `_BATCH` (one pass over their concatenation, the rule being per character), not
    one call per chunk: most backends report usage, so the estimate is rarely needed at all."""

    __slots__ = ("_pieces", "_quarters")
    _BATCH = 64  # pieces held at most: a few KiB, never the whole answer

    def __init__(self) -> None:
        self._quarters = 0
        self._pieces: list[str] = []

    def add(self, text: str) -> None:
        self._quarters += _quarters(text)

    def add_delta(self, delta: dict[str, Any]) -> None:
        """The text of one streamed choice delta: content, refusal, tool-call names and arguments."""
        content = delta.get("content")  # every chunk: no loop for the usual key
        if isinstance(content, str):
            pieces = self._pieces
            pieces.append(content)
            if len(pieces) >= self._BATCH:
                self._fold()
        refusal = delta.get("refusal")
        if isinstance(refusal, str):
            self._quarters += _quarters(refusal)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    value = function.get(key)
                    if isinstance(value, str):
                        self._quarters += _quarters(value)

    def _fold(self) -> None:
        self._quarters += _quarters("".join(self._pieces))
        self._pieces.clear()

    @property
    def tokens(self) -> int:
        if self._pieces:
            self._fold()
        return math.ceil(self._quarters / 4)


def _strings(value: Any, tally: TokenTally) -> None:
    """Every string inside a JSON value (content parts, tool calls, tool definitions)."""
    if isinstance(value, str):
        tally.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, tally)
    elif isinstance(value, list):
        for item in value:
            _strings(item, tally)


def estimate_prompt(body: dict[str, Any]) -> int:
    """The prompt tokens of a chat or embeddings request body, as sent to the backend."""
    tally = TokenTally()
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                for key, value in message.items():
                    if key != "role":
                        _strings(value, tally)
        _strings(body.get("tools"), tally)
        return tally.tokens + _PER_MESSAGE * len(messages) + _PRIMING
    value = body.get("input", body.get("prompt"))  # embeddings' input, or a text completion's prompt
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return len(value)  # already token ids
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return sum(len(v) for v in value)
    _strings(value, tally)
    return tally.tokens


def estimate_completion(document: dict[str, Any]) -> int:
    """The completion tokens of a non-streaming chat (or text) completion."""
    tally = TokenTally()
    for choice in document.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            tally.add_delta(message)
        elif isinstance(choice, dict) and isinstance(choice.get("text"), str):
            tally.add(choice["text"])
    return tally.tokens


def usage_of(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
