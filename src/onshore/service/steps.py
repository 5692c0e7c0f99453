"""The steps every model endpoint shares, in the order a request meets them: identify, admit (model,
fields, limits), scan, decide, plan, route, and prove (record, receipt, refuse).

Each endpoint's service (chat.py, embeddings.py) calls these in order; nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from onshore.clock import Clock
from onshore.decide.data_class import data_class_of
from onshore.decide.decision import Decision, DecisionCache, RequestFacts
from onshore.decide.policy import ModelGroup, Route
from onshore.events.burst import BurstDetector
from onshore.events.model import NO_EVENTS, EventType, SecurityEvent, SecurityEvents, counted, source
from onshore.identify.authenticator import AuthError
from onshore.identify.composite import Authenticator, KeysUnavailable
from onshore.identify.keys import PREFIX as KEY_PREFIX
from onshore.identify.oidc.token import KeySet, TokenRefused
from onshore.identify.principal import Principal
from onshore.ids import uuid7
from onshore.metrics import Metrics
from onshore.observe.access_log import AccessLog, fields, plain_fields
from onshore.observe.spans import Tracer, instrument
from onshore.protect.answer import Restored
from onshore.protect.body import has_token_input
from onshore.protect.plan import Plan, plan
from onshore.protect.protector import Protector, Scan
from onshore.prove.receipt import receipt_claims
from onshore.prove.record import RequestTrace, admin_entry, entry
from onshore.prove.signer import Signer
from onshore.prove.writer import AuditUnavailable, AuditWriter
from onshore.refusal import Kind, Refusal, model_not_found
from onshore.route.backends.base import Endpoint
from onshore.route.backends.usage import ESTIMATE, estimate_completion, estimate_prompt, usage_of
from onshore.route.breakers import Breakers, is_failure
from onshore.route.router import Attempt, Opened, Router, UpstreamFailure
from onshore.service.calls import Call, EmbeddingsCall
from onshore.service.limits import LimitReached, Limits
from onshore.service.ports import Dialect, Reply, StreamEncoder

log = logging.getLogger("onshore.pipeline")
UPSTREAM = "upstream"  # usage_source: the backend's own final count
_INLINE_SCAN_BYTES = 16 * 1024  # below this a scan costs well under a millisecond: stay on the loop

RECEIPT_HEADER = "Onshore-Receipt"
REQUEST_ID_HEADER = "Onshore-Request-Id"
# Waits (bounded) for the key fetch a token with an unknown key id asked for (app.py's JWKS refresher).
KeyWaiter = Callable[[KeySet], Awaitable[None]]
_SERVED_AT: dict[str, str] = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}


def _attempts(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [{"backend": a.backend, "outcome": a.outcome, "ms": round(a.duration_ms, 3)} for a in attempts]


def usage_in(document: dict[str, Any]) -> dict[str, int] | None:
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    return {k: v for k in ("prompt_tokens", "completion_tokens", "total_tokens") if isinstance(v := usage.get(k), int)}


def note_restored(trace: RequestTrace, restored: Restored | None) -> None:
    """Placeholders that named nothing in the vault (left as they were) and those restored from a
    mangled form: counted, never their values."""
    if restored is not None and trace.personal_data is not None:
        trace.personal_data["unrestored_placeholders"] = restored.unrestored
        trace.personal_data["restored_mangled_placeholders"] = restored.from_mangled


class Steps:
    def __init__(
        self,
        keys: Authenticator,
        decisions: DecisionCache,
        router: Router,
        audit: AuditWriter,
        signer: Signer,
        clock: Clock,
        metrics: Metrics,
        protector: Protector | None,
        limits: Limits | None = None,
        breakers: Breakers | None = None,
        await_keys: KeyWaiter | None = None,
        events: SecurityEvents = NO_EVENTS,
        auth_bursts: BurstDetector | None = None,
        access: AccessLog | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._await_keys = await_keys
        self._events = events
        self._bursts = auth_bursts
        self.router = router
        self.clock = clock
        self._keys = keys
        self._decisions = decisions
        self._audit = audit
        self._signer = signer
        self._metrics = metrics
        self._protector = protector
        self._limits = limits
        self._breakers = breakers
        self._access = access
        if tracer is not None:  # observe: the stage methods wrapped on this instance; off, they are as written
            instrument(self, tracer)

    def start(self, endpoint: str) -> tuple[RequestTrace, float]:
        now = self.clock.now()
        return RequestTrace(id=self.new_id(now), ts=now, endpoint=endpoint), self.clock.monotonic()

    @staticmethod
    def new_id(now: float) -> str:
        return uuid7(int(now * 1000))

    # --- identify ------------------------------------------------------------------------------
    def identify(self, authorization: str | None) -> Principal:
        try:
            return self._authenticate(authorization)
        except AuthError as exc:
            self._auth_failed(authorization)
            raise Refusal(Kind.INVALID_API_KEY, exc.message) from None

    async def caller(self, trace: RequestTrace, authorization: str | None) -> Principal:
        try:
            principal = self._authenticate(authorization)
        except TokenRefused as exc:
            if exc.refreshing is None or self._await_keys is None:
                self._auth_failed(authorization)
                raise Refusal(Kind.INVALID_API_KEY, exc.message) from None
            # A key id not fetched yet (one the IdP has just rotated in): wait briefly for the fetch
            # the token asked for, then try once more, so the first such token is not refused.
            await self._await_keys(exc.refreshing)
            principal = self.identify(authorization)
        except AuthError as exc:
            self._auth_failed(authorization)
            raise Refusal(Kind.INVALID_API_KEY, exc.message) from None
        self.name_caller(trace, principal)
        return principal

    def _auth_failed(self, authorization: str | None) -> None:
        """A failed sign-in, and a burst of them from one source (or for one key id)."""
        now, src, key_id = self.clock.now(), source(), presented_key_id(authorization)
        self._events.emit(
            SecurityEvent(type=EventType.AUTH_FAILED, time=now, principal=key_id, source=src, reason="invalid_api_key")
        )
        if self._bursts is not None:
            burst = self._bursts.failed(f"source:{src}" if src else f"key:{key_id}", now)
            if burst is not None:
                self._events.emit(
                    SecurityEvent(
                        type=EventType.AUTH_FAILURE_BURST, time=now, principal=key_id, source=src, count=burst
                    )
                )

    @staticmethod
    def name_caller(trace: RequestTrace, principal: Principal) -> None:
        trace.tenant, trace.key_id = principal.tenant, principal.key_id

    def _authenticate(self, authorization: str | None) -> Principal:
        try:
            return self._keys.authenticate(authorization)
        except KeysUnavailable as exc:  # not the caller's fault: 503, and no failed sign-in
            raise Refusal(Kind.KEYS_UNAVAILABLE, exc.message) from None

    # --- admit: the request, the model and the caller's limits -----------------------------------
    async def admit(self, trace: RequestTrace, principal: Principal, call: Call, endpoint: Endpoint) -> None:
        """Everything about the request that is refused before it is scanned, in this order."""
        if call.unreadable is not None:
            raise call.unreadable
        group = self._model_for(principal, call.model, endpoint)
        trace.model = call.model  # only a configured name is recorded: never client text in the chain
        _check_fields(call, group.extra_fields)
        if call.invalid is not None:
            raise call.invalid
        if isinstance(call, EmbeddingsCall) and call.dimensions is not None:
            _check_dimensions(call.dimensions, group)
        trace.request_sha256 = call.sha256
        if self._limits is not None:
            try:
                trace.quota = await self._limits.admit(principal, self.clock.now())
            except LimitReached as reached:
                trace.quota = reached.quota
                raise

    def _model_for(self, principal: Principal, model: str, endpoint: Endpoint) -> ModelGroup:
        group = self._decisions.policy.models.get(model)
        if group is None or not principal.may_use(model):
            raise model_not_found(model)
        if group.endpoint != endpoint:
            served_at = _SERVED_AT[group.endpoint]
            raise Refusal(Kind.WRONG_ENDPOINT, f"The model '{model}' is served at {served_at}.", param="model")
        return group

    # --- protect: look -------------------------------------------------------------------------
    async def scan(self, call: Call, endpoint: Endpoint) -> Scan | None:
        if self._protector is None:
            return None
        if endpoint in ("embeddings", "completions") and has_token_input(call.body):
            return None  # token ids cannot be scanned: treated like "protection off" (fail closed)
        if call.size > _INLINE_SCAN_BYTES:
            # A large body takes milliseconds to seconds to scan: do it off the event loop, so other
            # requests, streams and the kill-switch watcher keep running meanwhile.
            return await asyncio.to_thread(self._protector.scan, call.body, endpoint)
        return self._protector.scan(call.body, endpoint)

    # --- decide --------------------------------------------------------------------------------
    def decide(self, trace: RequestTrace, principal: Principal, call: Call, scan: Scan | None) -> Decision:
        implied = () if scan is None else scan.implied_classes()
        trace.data_class = data_class = data_class_of(principal.floor, implied, call.data_class)
        now = self.clock.now()
        decision = self._decisions.decide(RequestFacts(principal.tenant, data_class, call.model), now, self.new_id(now))
        trace.decision = decision
        if decision.denied:
            self._emit(EventType.RESIDENCY_DENIED, trace, rule=decision.verdict.rule_id)
            self._metrics.decisions.labels("denied").inc()
            self._metrics.denials.labels(decision.verdict.rule_id).inc()
            raise Refusal(
                Kind.RESIDENCY_POLICY_DENIED,
                decision.verdict.denial or "No backend complies.",
                rule=decision.verdict.rule_id,
            )
        self._metrics.decisions.labels("allowed").inc()
        return decision

    def _emit(
        self, kind: EventType, trace: RequestTrace, *, rule: str | None, counts: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self._events.emit(
            SecurityEvent(
                type=kind,
                time=trace.ts,
                tenant=trace.tenant,
                principal=trace.key_id,
                source=source(),
                model=trace.model,
                rule=rule,
                request_id=trace.id,
                counts=counts,
            )
        )

    # --- protect: plan -------------------------------------------------------------------------
    def plan(self, trace: RequestTrace, decision: Decision, call: Call, scan: Scan | None) -> Plan:
        planned = plan(decision, call.body, scan, self._protector, trace.id)
        trace.personal_data = planned.personal_data
        found = counted(planned.personal_data.get("found") or {})
        if planned.refusal is not None:
            self._emit(EventType.PERSONAL_DATA_BLOCKED, trace, rule=planned.refusal.rule, counts=found)
        elif planned.pseudonymised_for and found:
            self._emit(EventType.PERSONAL_DATA_PSEUDONYMISED, trace, rule=decision.verdict.rule_id, counts=found)
        if planned.refusal is not None:
            self._metrics.denials.labels(planned.refusal.rule or "").inc()
            raise planned.refusal
        return planned

    # --- route ---------------------------------------------------------------------------------
    async def open(self, trace: RequestTrace, plan: Plan, endpoint: Endpoint, stream: bool) -> Opened:
        body_for = plan.body_for
        if stream:
            # Ask for usage even when the client did not, so the audit record has real token counts;
            # the usage-only chunk is then not passed on.
            def body_for(route: Route) -> dict[str, Any]:
                body = plan.body_for(route)
                return {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}

        try:
            opened = await self.router.open(plan.routes, endpoint, body_for, stream)
        except UpstreamFailure as failure:
            if self._breakers is not None:
                self._breakers.observe(failure.attempts)
            trace.attempts = _attempts(failure.attempts)
            for attempt in failure.attempts:
                self._metrics.failovers.labels(attempt.backend, attempt.outcome).inc()
            _log_failovers(trace, failure.attempts, None)  # observe
            raise failure.error from None
        if self._breakers is not None:
            self._breakers.observe(opened.attempts)
        trace.attempts = _attempts(opened.attempts)
        for attempt in opened.attempts[:-1]:
            self._metrics.failovers.labels(attempt.backend, attempt.outcome).inc()
        if len(opened.attempts) > 1:
            _log_failovers(trace, opened.attempts[:-1], opened.route.backend.name)  # observe
        trace.chosen = opened.route.backend
        trace.upstream_ms = opened.upstream_ms
        self._metrics.upstream_latency.labels(opened.route.backend.name).observe(opened.upstream_ms / 1000)
        return opened

    @staticmethod
    def take_usage(trace: RequestTrace, document: dict[str, Any], sent: dict[str, Any], endpoint: Endpoint) -> None:
        """The answer's token counts: the backend's, or (a server that omits them) an estimate from
        the body sent and the answer, and the record says so."""
        trace.usage, trace.usage_source = usage_in(document), UPSTREAM
        if not trace.usage:
            completion = estimate_completion(document) if endpoint != "embeddings" else 0
            trace.usage, trace.usage_source = usage_of(estimate_prompt(sent), completion), ESTIMATE

    def count_tokens(self, usage: dict[str, int] | None, trace: RequestTrace) -> None:
        if usage and self._limits is not None and trace.key_id and trace.tenant:
            self._limits.charge_later(trace.key_id, trace.tenant, usage.get("total_tokens", 0), self.clock.now())
        if usage:
            model = trace.model or ""
            self._metrics.tokens.labels("prompt", model).inc(usage.get("prompt_tokens", 0))
            self._metrics.tokens.labels("completion", model).inc(usage.get("completion_tokens", 0))

    def served(self, endpoint: str, model: str | None = None) -> None:
        self._metrics.requests.labels(endpoint, "200", model or "").inc()

    # --- prove ---------------------------------------------------------------------------------
    async def record(
        self, trace: RequestTrace, started: float, opened: RequestTrace | None = None, timer: StreamTimer | None = None
    ) -> None:
        """Write the audit record, then (observe) the request's access-log line from the same trace. A
        stream's line is written at its close (`opened`: its opening record; `timer`: its first chunk)."""
        trace.total_ms = (self.clock.monotonic() - started) * 1000
        try:
            # A request cancelled while it waits still leaves its record: append() has queued it.
            await self._audit.append(entry(trace))
        except AuditUnavailable:
            self._access_line(trace, opened, timer, failed=True)
            raise
        self._access_line(trace, opened, timer, failed=False)

    def log_unrecorded(
        self, endpoint: str, request_id: str, status: int, total_ms: float, principal: Principal | None
    ) -> None:
        """observe: the access-log line of an API request that writes no audit record of its own."""
        if self._access is None:
            return
        tenant, key_id = (None, None) if principal is None else (principal.tenant, principal.key_id)
        self._access.write(plain_fields(self.clock.now(), request_id, endpoint, status, total_ms, tenant, key_id))

    def _access_line(
        self, trace: RequestTrace, opened: RequestTrace | None, timer: StreamTimer | None, *, failed: bool
    ) -> None:
        """observe: the access-log line and a stream's first-chunk metrics, from the recorded trace."""
        if trace.kind == "stream_open" and not failed:
            return  # its line is written at the close, with the close's outcome and tokens
        ttfb_ms = total_ms = None
        if timer is not None:
            now = self.clock.monotonic()
            total_ms = (now - timer.started) * 1000
            if timer.first is not None:
                ttfb_ms = (timer.first - timer.started) * 1000
                model = trace.model or ""
                self._metrics.time_to_first_token.labels(model).observe(ttfb_ms / 1000)
                tokens, seconds = (trace.usage or {}).get("completion_tokens", 0), now - timer.first
                if tokens and seconds > 0:
                    self._metrics.tokens_per_second.labels(model).observe(tokens / seconds)
        if self._access is None:
            return
        line = fields(trace, opened, ttfb_ms, total_ms)
        if failed:  # what the client got instead: the audit failure (after a stream's headers: its error event)
            line.update(level="error", outcome="audit_unavailable", error=Kind.AUDIT_UNAVAILABLE.code)
            if trace.kind != "stream_close":
                line["status"] = 503
        self._access.write(line)

    def receipt(self, trace: RequestTrace, decision: Decision, opened: Opened, *, stream: bool) -> str:
        """The receipt of an answer, or of a stream's opening (its digest is in its final receipt)."""
        digest = None if stream else trace.response_sha256
        claims = receipt_claims(
            trace, decision, opened.route.backend, issued_at=int(trace.ts), response_sha256=digest, stream=stream
        )
        return self._signer.receipt(claims)

    def final_receipt(self, trace: RequestTrace, decision: Decision, opened: Opened, digest: str) -> str:
        """The receipt that closes a stream, covering the digest of every byte sent before it."""
        claims = receipt_claims(
            trace,
            decision,
            opened.route.backend,
            issued_at=int(self.clock.now()),
            response_sha256=digest,
            stream=True,
            final=True,
        )
        return self._signer.receipt(claims)

    async def answer(
        self,
        trace: RequestTrace,
        started: float,
        decision: Decision,
        opened: Opened | None,
        payload: bytes,
        dialect: Dialect,
    ) -> Reply:
        """Record a whole answer, then hand it out with its receipt (an audit failure refuses it). An
        answer the gateway made itself (`opened` None: no backend saw the request) has no receipt."""
        trace.response_sha256 = _sha256(payload)
        trace.status, trace.outcome = 200, "ok"
        self.count_tokens(trace.usage, trace)
        try:
            await self.record(trace, started)
        except AuditUnavailable:
            return self.audit_failed(trace, dialect)
        self.served(trace.endpoint, trace.model)
        self._metrics.overhead.observe(max(0.0, trace.total_ms - (trace.upstream_ms or 0.0)) / 1000)
        headers = {
            "Content-Type": "application/json",
            **dialect.standard_headers(trace.id, trace.quota, trace.ts),
            REQUEST_ID_HEADER: trace.id,
        }
        if opened is not None:
            headers[RECEIPT_HEADER] = self.receipt(trace, decision, opened, stream=False)
        return Reply(200, payload, headers)

    async def refuse(self, trace: RequestTrace, started: float, refusal: Refusal, dialect: Dialect) -> Reply:
        reply = dialect.render_refusal(refusal)  # before the record: what is recorded is what is sent
        trace.status, trace.outcome, trace.error_code = reply.status, "refused", refusal.kind.code
        self._metrics.requests.labels(trace.endpoint, str(reply.status), trace.model or "").inc()
        try:
            await self.record(trace, started)
        except AuditUnavailable:
            return self.audit_failed(trace, dialect)
        standard = dialect.standard_headers(trace.id, trace.quota, trace.ts)
        return Reply(reply.status, reply.body, {**reply.headers, **standard, REQUEST_ID_HEADER: trace.id})

    def audit_failed(self, trace: RequestTrace, dialect: Dialect) -> Reply:
        refusal = Refusal(Kind.AUDIT_UNAVAILABLE, "The audit log could not record this request, so it was not served.")
        reply = dialect.render_refusal(refusal)
        self._metrics.requests.labels(trace.endpoint, str(reply.status), trace.model or "").inc()
        standard = dialect.standard_headers(trace.id, trace.quota, trace.ts)
        return Reply(reply.status, reply.body, {**reply.headers, **standard, REQUEST_ID_HEADER: trace.id})

    @staticmethod
    def as_refusal(trace: RequestTrace, exc: Exception) -> Refusal:
        """Any failure on the path as the refusal the client gets: a refusal as raised, and anything
        else (a bug) as a logged internal error that says nothing about its cause."""
        if isinstance(exc, Refusal):
            return exc
        log.exception("internal error serving request %s", trace.id)
        return Refusal(Kind.INTERNAL_ERROR, f"Internal error; the request was refused (request id {trace.id}).")

    async def refuse_unread(
        self, endpoint: str, authorization: str | None, refusal: Refusal, dialect: Dialect
    ) -> Reply:
        """Record and answer a refusal made before the body was read (e.g. over the size limit)."""
        trace, started = self.start(endpoint)
        with contextlib.suppress(Refusal):  # who sent it, if the key is valid
            self.name_caller(trace, self.identify(authorization))
        return await self.refuse(trace, started, refusal, dialect)

    async def record_admin(self, action: str, backend: str, actor: str, reason: str | None, outcome: str) -> None:
        now = self.clock.now()
        await self._audit.append(admin_entry(self.new_id(now), now, action, backend, actor, reason, outcome))
        kind = EventType.BACKEND_DISABLED if action == "disable" else EventType.BACKEND_ENABLED
        self._events.emit(SecurityEvent(type=kind, time=now, actor=actor, backend=backend, source=source()))


class StreamTimer:
    """observe: a stream's encoder, noting when the first answer chunk is encoded (time to first
    token). After that chunk the encoder's own `chunk` takes over: no cost per chunk."""

    def __init__(self, encoder: StreamEncoder, monotonic: Callable[[], float], started: float) -> None:
        self._encoder = encoder
        self._monotonic = monotonic
        self.started = started  # the request's arrival (monotonic)
        self.first: float | None = None

    def chunk(self, document: dict[str, Any]) -> bytes:
        self.first = self._monotonic()
        self.chunk = self._encoder.chunk  # type: ignore[method-assign]
        return self._encoder.chunk(document)

    def start(self, request_id: str) -> bytes:
        return self._encoder.start(request_id)

    def finish(self) -> bytes:
        return self._encoder.finish()

    def receipt(self, receipt: str) -> bytes:
        return self._encoder.receipt(receipt)

    def done(self) -> bytes:
        return self._encoder.done()

    def error(self, refusal: Refusal) -> bytes:
        return self._encoder.error(refusal)


def _log_failovers(trace: RequestTrace, failed: list[Attempt], then: str | None) -> None:
    """observe: each attempt that failed and moved on, at warning (names and outcomes only)."""
    for attempt in failed:
        if not is_failure(attempt.outcome):
            continue  # switched off or unable to express the request: a choice, not a failure
        log.warning(
            "failover: backend %s failed (%s) after %.0f ms; %s (request %s)",
            attempt.backend,
            attempt.outcome,
            attempt.duration_ms,
            f"served by {then}" if then else "no backend left",
            trace.id,
        )


def presented_key_id(authorization: str | None) -> str | None:
    """The key id an Onshore API key names (public, in every key), never any other part of a credential."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token.startswith(KEY_PREFIX):
        return None
    key_id = token[len(KEY_PREFIX) :].split("_", 1)[0]
    return key_id if len(key_id) == 12 and all(c in "0123456789abcdef" for c in key_id) else None


def _check_fields(call: Call, extra: frozenset[str]) -> None:
    """Refuse fields outside OpenAI's documented set unless the model's config allows them."""
    for key in call.beyond_facts:
        if key not in extra:
            raise Refusal(
                Kind.UNSUPPORTED_PARAMETER,
                f"'{key}' would let the provider keep or pass on data beyond what this backend declares; "
                "it is refused unless the model's allow_extra_fields lists it.",
                param=key,
            )
    for key in call.undocumented:
        if key not in extra:
            raise Refusal(
                Kind.UNSUPPORTED_PARAMETER,
                f"Unrecognized request argument supplied: '{key}'. Onshore forwards only documented "
                "OpenAI fields unless the model's allow_extra_fields lists it.",
                param=key,
            )


def _check_dimensions(dimensions: int, group: ModelGroup) -> None:
    """`dimensions` passes only where the model's config says its backends honour it."""
    offered = group.dimensions
    if offered is True or (isinstance(offered, frozenset) and dimensions in offered):
        return
    if isinstance(offered, frozenset):
        sizes = ", ".join(str(size) for size in sorted(offered))
        detail = f"'dimensions' must be one of {sizes} for the model '{group.name}'."
    else:
        detail = (
            f"'dimensions' is not supported by the model '{group.name}' (its config does not say its backends "
            "honour it; set models.<name>.dimensions)."
        )
    raise Refusal(Kind.UNSUPPORTED_PARAMETER, detail, param="dimensions")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
