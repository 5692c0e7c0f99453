"""Put originals back into a backend's answer: whole responses and streamed chunks.

Restores message content, refusals and tool-call arguments (JSON-escaped, since they are JSON text).
Pure: the vault comes in, the document is changed in place, unmatched placeholders are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onshore.protect.restore import Matcher, StreamRestorer
from onshore.protect.vault import Vault


@dataclass(frozen=True, slots=True)
class Restored:
    """What restoring an answer did, for the audit record: counts only, never values."""

    unrestored: int  # placeholder-shaped text that names nothing in the vault: left as it was
    from_mangled: int  # placeholders the model mangled (brackets dropped, case changed…) but restored


def restore_completion(document: dict[str, Any], vault: Vault, sent: str = "") -> Restored:
    """Restore a chat (or text) completion in place; ``sent`` is what the backend received (see `Matcher`)."""
    matcher = Matcher(vault, sent)
    unmatched: list[str] = []
    mangled = 0
    for choice in document.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(choice, dict) and isinstance(choice.get("text"), str):  # a legacy text completion
            result = matcher.restore(choice["text"])
            choice["text"] = result.text
            unmatched += result.unmatched
            mangled += result.mangled
        if not isinstance(message, dict):
            continue
        for key in ("content", "refusal"):
            if isinstance(message.get(key), str):
                result = matcher.restore(message[key])
                message[key] = result.text
                unmatched += result.unmatched
                mangled += result.mangled
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                result = matcher.restore(function["arguments"], json_escaped=True)
                function["arguments"] = result.text
                unmatched += result.unmatched
                mangled += result.mangled
    return Restored(len(unmatched), mangled)


class ChunkRestorer:
    """Restores a stream chunk by chunk, holding back only what could be the start of a placeholder.

    One restorer per (choice, field): content, and each tool call's arguments. Text held back is
    released with the chunk that finishes its choice, or by `flush` at the end of the stream.
    """

    def __init__(self, vault: Vault, sent: str = "") -> None:
        self._vault = vault
        self._matcher = Matcher(vault, sent)
        self._restorers: dict[tuple[int, str, int], StreamRestorer] = {}

    def _restorer(self, key: tuple[int, str, int]) -> StreamRestorer:
        restorer = self._restorers.get(key)
        if restorer is None:
            restorer = StreamRestorer(self._vault, json_escaped=key[1] == "arguments", matcher=self._matcher)
            self._restorers[key] = restorer
        return restorer

    def chunk(self, document: dict[str, Any]) -> None:
        for choice in document.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
            delta = choice.get("delta")
            finishing = choice.get("finish_reason") is not None
            if delta is None and isinstance(choice.get("text"), str):  # a legacy text completion's chunk
                restorer = self._restorer((index, "content", 0))
                choice["text"] = restorer.feed(choice["text"]) + (restorer.finish() if finishing else "")
                continue
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str) or (finishing and (index, "content", 0) in self._restorers):
                restorer = self._restorer((index, "content", 0))
                text = restorer.feed(delta.get("content") or "")
                delta["content"] = text + (restorer.finish() if finishing else "")
            for position, call in enumerate(delta.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    call_index = call.get("index")
                    slot = call_index if isinstance(call_index, int) else position
                    restorer = self._restorer((index, "arguments", slot))
                    function["arguments"] = restorer.feed(function["arguments"])
            if finishing:
                self._finish_calls(index, delta)

    def _finish_calls(self, index: int, delta: dict[str, Any]) -> None:
        for (choice, field, call_index), restorer in list(self._restorers.items()):
            if choice != index or field != "arguments":
                continue
            rest = restorer.finish()
            if rest:
                delta.setdefault("tool_calls", []).append({"index": call_index, "function": {"arguments": rest}})

    def flush(self) -> dict[int, str]:
        """Text still held back at the end of the stream, by choice index (content only)."""
        left: dict[int, str] = {}
        for (choice, field, _), restorer in self._restorers.items():
            rest = restorer.finish()
            if rest and field == "content":
                left[choice] = left.get(choice, "") + rest
        return left

    @property
    def restored(self) -> Restored:
        restorers = self._restorers.values()
        return Restored(sum(len(r.unmatched) for r in restorers), sum(r.mangled for r in restorers))
