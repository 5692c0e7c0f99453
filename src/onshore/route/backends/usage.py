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
from typing import Any

__all__ = ["ESTIMATE", "TokenTally", "estimate_completion", "estimate_prompt", "estimate_text", "usage_of"]

ESTIMATE = "estimate"
_PER_MESSAGE = 3
_PRIMING = 3


def _is_wide(code: int) -> bool:
    return (
        0x2E80 <= code <= 0x9FFF  # CJK radicals, punctuation, kana, ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF00 <= code <= 0xFFEF  # full-width and half-width forms
        or code >= 0x20000  # CJK extensions B and beyond
    )


_DIGITS = b"0123456789"


def _quarters(text: str) -> int:
    """The estimate in quarter tokens (integers, so chunks can be summed exactly)."""
    if text.isascii():  # C passes instead of a Python loop: a quarter per byte, a whole token per digit
        raw = text.encode("ascii")
        return len(raw) + 3 * (len(raw) - len(raw.translate(None, _DIGITS)))
    quarters = 0
    for char in text:
        code = ord(char)
        if code < 0x80:
            quarters += 4 if 0x30 <= code <= 0x39 else 1
        elif _is_wide(code):
            quarters += 4
        else:
            quarters += 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return quarters


def estimate_text(text: str) -> int:
    return math.ceil(_quarters(text) / 4)


class TokenTally:
    """Adds up the estimate of text relayed piece by piece, without keeping the text."""

    __slots__ = ("_quarters",)

    def __init__(self) -> None:
        self._quarters = 0

    def add(self, text: str) -> None:
        self._quarters += _quarters(text)

    def add_delta(self, delta: dict[str, Any]) -> None:
        """The text of one streamed choice delta: content, refusal, tool-call names and arguments."""
        content, refusal = delta.get("content"), delta.get("refusal")  # every chunk: no loop for two keys
        if isinstance(content, str):
            self._quarters += _quarters(content)
        if isinstance(refusal, str):
            self._quarters += _quarters(refusal)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    value = function.get(key)
                    if isinstance(value, str):
                        self._quarters += _quarters(value)

    @property
    def tokens(self) -> int:
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
