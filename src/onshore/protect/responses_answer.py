"""Put originals back into a Responses API answer from a native backend: the whole Response, and its
typed stream events.

Restores output text, refusals and function-call arguments (JSON-escaped: they are JSON text), in
the output items, in every snapshot an event carries, and in the streamed deltas. A delta is held
back only while it could be the start of a placeholder (protect/restore.py's StreamRestorer); what is
held back is sent as one more delta just before the event that closes its part, so the deltas a
client joins always equal the part's final text. Pure: the vault comes in, documents change in place.
"""

from __future__ import annotations

from typing import Any

from onshore.protect.answer import Restored
from onshore.protect.restore import Matcher, StreamRestorer
from onshore.protect.vault import Vault

# delta event type -> (the done event that closes it, the field the done event holds the whole text in)
_DELTAS = {
    "response.output_text.delta": ("response.output_text.done", "text"),
    "response.refusal.delta": ("response.refusal.done", "refusal"),
    "response.function_call_arguments.delta": ("response.function_call_arguments.done", "arguments"),
}
_DONE = {done: (delta, field) for delta, (done, field) in _DELTAS.items()}


class _Count:
    __slots__ = ("mangled", "unmatched")

    def __init__(self) -> None:
        self.unmatched = 0
        self.mangled = 0


def _restore(matcher: Matcher, text: str, count: _Count | None, *, json_escaped: bool = False) -> str:
    result = matcher.restore(text, json_escaped=json_escaped)
    if count is not None:
        count.unmatched += len(result.unmatched)
        count.mangled += result.mangled
    return result.text


def _restore_part(part: Any, matcher: Matcher, count: _Count | None) -> None:
    if not isinstance(part, dict):
        return
    for key in ("text", "refusal"):
        if isinstance(part.get(key), str):
            part[key] = _restore(matcher, part[key], count)


def _restore_item(item: Any, matcher: Matcher, count: _Count | None) -> None:
    if not isinstance(item, dict):
        return
    if isinstance(item.get("arguments"), str):
        item["arguments"] = _restore(matcher, item["arguments"], count, json_escaped=True)
    for part in item.get("content") or []:
        _restore_part(part, matcher, count)
    for part in item.get("summary") or []:  # a reasoning item's summary is text the model wrote
        _restore_part(part, matcher, count)


def _restore_output(response: Any, matcher: Matcher, count: _Count | None) -> None:
    if isinstance(response, dict):
        for item in response.get("output") or []:
            _restore_item(item, matcher, count)


def restore_response(document: dict[str, Any], vault: Vault, sent: str = "") -> Restored:
    """Restore a whole Response object in place; ``sent`` is what the backend received (see `Matcher`)."""
    count = _Count()
    _restore_output(document, Matcher(vault, sent), count)
    return Restored(count.unmatched, count.mangled)


class EventRestorer:
    """Restores one Responses stream, event by event. `event` returns the events to send in its place:
    the event itself, preceded by a last delta when a part ends with text held back."""

    def __init__(self, vault: Vault, sent: str = "") -> None:
        self._vault = vault
        self._matcher = Matcher(vault, sent)
        self._streams: dict[tuple[str, Any, Any], StreamRestorer] = {}
        self._emitted: dict[tuple[str, Any, Any], list[str]] = {}
        self._finished: list[StreamRestorer] = []
        self._whole = _Count()  # snapshots' counts, used only when nothing was streamed as deltas

    def event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind in _DELTAS and isinstance(event.get("delta"), str):
            _, field = _DELTAS[kind]
            key = (field, event.get("output_index"), event.get("content_index"))
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = StreamRestorer(
                    self._vault, json_escaped=field == "arguments", matcher=self._matcher
                )
                self._emitted[key] = []
            text = stream.feed(event["delta"])
            self._emitted[key].append(text)
            event["delta"] = text
            return [event]
        if kind in _DONE:
            delta_kind, field = _DONE[kind]
            key = (field, event.get("output_index"), event.get("content_index"))
            stream = self._streams.pop(key, None)
            if stream is None:
                if isinstance(event.get(field), str):
                    event[field] = _restore(self._matcher, event[field], None, json_escaped=field == "arguments")
                return [event]
            rest = stream.finish()
            self._finished.append(stream)
            emitted = self._emitted.pop(key)
            event[field] = "".join(emitted) + rest
            if not rest:
                return [event]
            last: dict[str, Any] = {"type": delta_kind}
            last.update((k, event[k]) for k in ("item_id", "output_index", "content_index") if k in event)
            last["delta"] = rest
            if delta_kind == "response.output_text.delta":
                last["logprobs"] = []
            return [last, event]
        if kind in ("response.content_part.added", "response.content_part.done"):
            _restore_part(event.get("part"), self._matcher, None)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            _restore_item(event.get("item"), self._matcher, None)
        elif isinstance(event.get("response"), dict):
            _restore_output(event["response"], self._matcher, self._whole)
        return [event]

    @property
    def restored(self) -> Restored:
        streams = [*self._streams.values(), *self._finished]
        if not streams:
            return Restored(self._whole.unmatched, self._whole.mangled)
        return Restored(sum(len(s.unmatched) for s in streams), sum(s.mangled for s in streams))
