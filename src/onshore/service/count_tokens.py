"""Token counting (/v1/messages/count_tokens, Anthropic's dialect): identify -> decide -> protect ->
route -> prove, like the request it counts for, read top to bottom in `serve`.

A caller may count only for a model it may use, with the body that backend would receive (the
decision and the protection plan are the same as for /v1/messages). The count is made where the
decision allows: by the first allowed backend that counts (an Anthropic backend's own count endpoint,
the embedded model's tokenizer); with none, by the gateway's documented estimate
(route/backends/usage.py). Which one it was is in the `Onshore-Token-Count` header. Nothing is
generated, so nothing is charged to token limits; the request is recorded like any other (no content).
"""

from __future__ import annotations

import dataclasses

import msgspec

from onshore.route.backends.usage import ESTIMATE, estimate_prompt
from onshore.service.calls import ChatCall
from onshore.service.ports import Reply
from onshore.service.steps import Steps

COUNT_HEADER = "Onshore-Token-Count"  # "upstream" (the backend's count endpoint), "tokenizer", "estimate"
_encoder = msgspec.json.Encoder()


class CountTokensService:
    def __init__(self, steps: Steps, tokenizer_backends: frozenset[str]) -> None:
        self._steps = steps
        self._tokenizers = tokenizer_backends  # backends that count with the model's own tokenizer (embedded)

    async def serve(self, call: ChatCall) -> Reply:
        steps = self._steps
        trace, started = steps.start(call.endpoint)
        try:
            principal = await steps.caller(trace, call.authorization)  # identify
            await steps.admit(trace, principal, call, "chat")  # the model, as /v1/messages would use it
            scan = await steps.scan(call, "chat")  # protect: what the prompt holds
            decision = steps.decide(trace, principal, call, scan)  # decide: where it may go
            plan = steps.plan(trace, decision, call, scan)  # protect: what each route would receive
            counting = [route for route in plan.routes if steps.router.serves(route, "count_tokens")]
            if not counting:  # no allowed backend counts: the gateway's estimate, said to be one
                tokens = estimate_prompt(plan.body_for(plan.routes[0]))
                payload = _encoder.encode({"input_tokens": tokens})
                reply = await steps.answer(trace, started, decision, None, payload, call.dialect)
                return _with_source(reply, ESTIMATE)
            opened = await steps.open(trace, dataclasses.replace(plan, routes=counting), "count_tokens", stream=False)
            tokens = int((opened.document or {})["input_tokens"])
            source = "tokenizer" if opened.route.backend.name in self._tokenizers else "upstream"
            payload = _encoder.encode({"input_tokens": tokens})
            return _with_source(await steps.answer(trace, started, decision, opened, payload, call.dialect), source)
        except Exception as exc:  # noqa: BLE001 - a bug must refuse (and be recorded), never pass data through
            return await steps.refuse(trace, started, steps.as_refusal(trace, exc), call.dialect)


def _with_source(reply: Reply, source: str) -> Reply:
    if reply.status != 200:
        return reply  # the audit log failed: the refusal says so, not a count
    return Reply(reply.status, reply.body, {**reply.headers, COUNT_HEADER: source})
