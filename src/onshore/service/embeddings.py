"""Embeddings (/v1/embeddings): identify -> decide -> protect -> route -> prove, read top to bottom
in `serve`. Every request, answered or refused, is recorded before its answer leaves."""

from __future__ import annotations

import base64
import struct
from typing import Any

from onshore.service.calls import EmbeddingsCall
from onshore.service.ports import Reply
from onshore.service.steps import Steps


class EmbeddingsService:
    def __init__(self, steps: Steps) -> None:
        self._steps = steps

    async def serve(self, call: EmbeddingsCall) -> Reply:
        steps = self._steps
        trace, started = steps.start(call.endpoint)
        try:
            principal = await steps.caller(trace, call.authorization)  # identify
            await steps.admit(trace, principal, call, "embeddings")  # the request, the model, the limits
            scan = await steps.scan(call, "embeddings")  # protect: what the input holds
            decision = steps.decide(trace, principal, call, scan)  # decide: where it may go
            plan = steps.plan(trace, decision, call, scan)  # protect: what each route receives
            opened = await steps.open(trace, plan, "embeddings", stream=False)  # route
            document = opened.document or {}
            document["model"] = trace.model  # clients see the public name, not the backend's
            steps.take_usage(trace, document, plan.body_for(opened.route), "embeddings")
            if call.base64:
                as_base64(document)
            payload = call.dialect.encode_response(document, trace.model or "")
            return await steps.answer(trace, started, decision, opened, payload, call.dialect)  # prove
        except Exception as exc:  # noqa: BLE001 - a bug must refuse (and be recorded), never pass data through
            return await steps.refuse(trace, started, steps.as_refusal(trace, exc), call.dialect)


def as_base64(document: dict[str, Any]) -> None:
    """Each vector as OpenAI's encoding_format "base64" sends it: little-endian float32, base64."""
    for item in document.get("data") or ():
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
