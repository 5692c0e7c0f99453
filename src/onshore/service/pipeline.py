"""The request path: identify -> decide -> (protect) -> route -> prove.

Handlers in edge/ parse HTTP and call `Pipeline.chat`, `Pipeline.embeddings`; this module runs the
stages in order and always ends in `prove`: every request, answered or refused, is recorded before
its answer leaves, and an audit failure turns the answer into an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from onshore.clock import Clock
from onshore.decide.classes import is_data_class, stricter
from onshore.decide.decision import Decision, DecisionCache, RequestFacts
from onshore.decide.policy import ModelGroup, Route
from onshore.edge import sse
from onshore.edge.dialects import OPENAI, Dialect, StreamEncoder
from onshore.edge.errors import (
    ApiError,
    api_error,
    bad_request,
    forbidden,
    model_not_found,
    server_error,
    unauthorized,
)
from onshore.edge.wire import (
    CHAT_FIELDS,
    EMBEDDING_FIELDS,
    ChatRequest,
    EmbeddingRequest,
    check_fields,
    requested_model,
    validate,
)
from onshore.identify.authenticator import AuthError, KeyIndex
from onshore.identify.composite import Authenticator
from onshore.identify.principal import Principal
from onshore.ids import uuid7
from onshore.metrics import Metrics
from onshore.protect.answer import ChunkRestorer, Restored, restore_completion
from onshore.protect.body import has_token_input
from onshore.protect.protector import Protector, Scan
from onshore.protect.vault import Vault
from onshore.prove.receipt import receipt_claims
from onshore.prove.record import RequestTrace, admin_entry, entry
from onshore.prove.signer import Signer
from onshore.prove.writer import AuditUnavailable, AuditWriter
from onshore.refusal import Refusal
from onshore.route.backends.base import Endpoint
from onshore.route.backends.usage import ESTIMATE, TokenTally, estimate_completion, estimate_prompt, usage_of
from onshore.route.breakers import Breakers
from onshore.route.router import Attempt, Opened, Router, UpstreamFailure
from onshore.service.limits import Limits

log = logging.getLogger("onshore.pipeline")
UPSTREAM = "upstream"  # usage_source: the backend's own final count
TOKENIZER = "tokenizer"  # the backend's running count from its tokenizer; the stream ended before the final one
_INLINE_SCAN_BYTES = 16 * 1024  # below this a scan costs well under a millisecond: stay on the loop

DATA_CLASS_HEADER = "Onshore-Data-Class"
RECEIPT_HEADER = "Onshore-Receipt"
REQUEST_ID_HEADER = "Onshore-Request-Id"

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Complete:
    status: int
    body: bytes
    headers: dict[str, str]


Write = Callable[[bytes], Awaitable[None]]


@dataclass(slots=True)
class Plan:
    """Where a decided request may go, and what each route receives (protect stage's output)."""

    routes: list[Route]
    body: dict[str, Any]
    protected_body: dict[str, Any] | None  # with placeholders, for routes that need it
    pseudonymised_for: set[str]  # backend names that get protected_body
    vault: Vault | None

    def body_for(self, route: Route) -> dict[str, Any]:
        if route.backend.name in self.pseudonymised_for and self.protected_body is not None:
            return self.protected_body
        return self.body

    def restores(self, route: Route) -> Vault | None:
        return self.vault if route.backend.name in self.pseudonymised_for else None

    def sent_text(self) -> str:
        """Every string of the pseudonymised body: placeholders the user typed bare are found in it."""
        return "" if self.protected_body is None else "\n".join(_strings(self.protected_body))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _attempts(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [{"backend": a.backend, "outcome": a.outcome, "ms": round(a.duration_ms, 3)} for a in attempts]


def _usage(document: dict[str, Any]) -> dict[str, int] | None:
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    return {k: v for k in ("prompt_tokens", "completion_tokens", "total_tokens") if isinstance(v := usage.get(k), int)}


class Pipeline:
    def __init__(
        self,
        keys: KeyIndex | Authenticator,
        decisions: DecisionCache,
        router: Router,
        audit: AuditWriter,
        signer: Signer,
        clock: Clock,
        metrics: Metrics,
        protector: Protector | None,
        limits: Limits | None = None,
        cut_disabled_streams: bool = False,
        breakers: Breakers | None = None,
        max_stream_seconds: float = 1800.0,
    ) -> None:
        self.max_stream_seconds = max_stream_seconds
        self._breakers = breakers
        self._limits = limits
        self.cut_disabled_streams = cut_disabled_streams
        self._protector = protector
        self._keys = keys
        self._decisions = decisions
        self._router = router
        self._audit = audit
        self._signer = signer
        self._clock = clock
        self._metrics = metrics

    # --- identify + decide, shared by every model endpoint ------------------------------------
    def _new_trace(self, endpoint: str) -> tuple[RequestTrace, float]:
        now = self._clock.now()
        return RequestTrace(id=uuid7(int(now * 1000)), ts=now, endpoint=endpoint), self._clock.monotonic()

    def identify(self, authorization: str | None) -> Principal:
        if self._keys.stale:
            raise server_error(
                503, "API keys cannot be checked right now (key store unreadable); retry later.", "keys_unavailable"
            )
        try:
            return self._keys.authenticate(authorization)
        except AuthError as exc:
            raise unauthorized(exc.message) from None

    def _model_for(self, principal: Principal, model: str, endpoint: Endpoint) -> ModelGroup:
        group = self._decisions.policy.models.get(model)
        if group is None or not principal.may_use(model):
            raise model_not_found(model)
        if group.endpoint != endpoint:
            right = "/v1/chat/completions" if group.endpoint == "chat" else "/v1/embeddings"
            raise bad_request(f"The model '{model}' is served at {right}.", param="model", code="wrong_endpoint")
        return group

    def _decide(
        self,
        trace: RequestTrace,
        principal: Principal,
        model: str,
        requested_class: str | None,
        scan: Scan | None,
    ) -> Decision:
        data_class = principal.floor
        if scan is not None:
            for implied in scan.implied_classes():  # what was found can raise the class, never lower it
                data_class = stricter(data_class, implied)
        if requested_class is not None:
            requested_class = requested_class.strip()
            if not is_data_class(requested_class):
                raise bad_request(
                    f"Unknown data class '{requested_class[:40]}' in the {DATA_CLASS_HEADER} header; "
                    "use public, internal, confidential, personal or special_care.",
                    code="invalid_data_class",
                )
            data_class = stricter(data_class, requested_class)  # a request may raise its class, never lower it
        trace.data_class = data_class
        now = self._clock.now()
        decision = self._decisions.decide(
            RequestFacts(principal.tenant, data_class, model), now, uuid7(int(now * 1000))
        )
        trace.decision = decision
        if decision.denied:
            self._metrics.decisions.labels("denied").inc()
            self._metrics.denials.labels(decision.verdict.rule_id).inc()
            raise forbidden(decision.verdict.denial or "No backend complies.", "residency_policy_denied")
        self._metrics.decisions.labels("allowed").inc()
        return decision

    # --- prove ---------------------------------------------------------------------------------
    async def _record(self, trace: RequestTrace, started: float) -> None:
        trace.total_ms = (self._clock.monotonic() - started) * 1000
        # Shielded: a request cancelled mid-way must still leave its record.
        await asyncio.shield(self._audit.append(entry(trace)))

    def _receipt(self, trace: RequestTrace, decision: Decision, opened: Opened, stream: bool) -> str:
        digest = None if stream else trace.response_sha256  # a stream's digest is in its final receipt
        claims = receipt_claims(
            trace, decision, opened.route.backend, issued_at=int(trace.ts), response_sha256=digest, stream=stream
        )
        return self._signer.receipt(claims)

    async def _refuse(self, trace: RequestTrace, started: float, error: ApiError, dialect: Dialect) -> Complete:
        trace.status, trace.outcome, trace.error_code = error.status, "refused", error.code
        self._metrics.requests.labels(trace.endpoint, str(error.status)).inc()
        headers = {**error.headers, REQUEST_ID_HEADER: trace.id}
        body = dialect.encode_error(error)  # before the record: what is recorded is what is sent
        try:
            await self._record(trace, started)
        except AuditUnavailable:
            return self._audit_failed(trace, dialect)
        return Complete(error.status, body, headers)

    async def refuse_unread(
        self, endpoint: str, authorization: str | None, error: ApiError, dialect: Dialect
    ) -> Complete:
        """Record and answer a refusal made before the body was read (e.g. over the size limit)."""
        trace, started = self._new_trace(endpoint)
        with contextlib.suppress(ApiError):  # who sent it, if the key is valid
            principal = self.identify(authorization)
            trace.tenant, trace.key_id = principal.tenant, principal.key_id
        return await self._refuse(trace, started, error, dialect)

    def _audit_failed(self, trace: RequestTrace, dialect: Dialect) -> Complete:
        error = server_error(
            503, "The audit log could not record this request, so it was not served.", "audit_unavailable"
        )
        self._metrics.requests.labels(trace.endpoint, "503").inc()
        return Complete(503, dialect.encode_error(error), {REQUEST_ID_HEADER: trace.id})

    # --- the two model endpoints ----------------------------------------------------------------
    async def chat(
        self,
        authorization: str | None,
        data_class: str | None,
        raw: bytes,
        write_stream: Callable[[dict[str, str]], Awaitable[Write]],
        dialect: Dialect = OPENAI,
    ) -> Complete | None:
        """Serve a chat request (/v1/chat/completions, or /v1/messages in the Anthropic dialect).
        Returns the answer, or None once a stream has been written."""
        trace, started = self._new_trace("chat" if dialect is OPENAI else dialect.name)
        try:
            body, decision, plan = await self._admit(trace, authorization, data_class, raw, "chat", dialect)
            request: ChatRequest = validate(body, ChatRequest)
            if request.stream:
                return await self._chat_stream(trace, started, decision, plan, request, write_stream, dialect)
            return await self._complete(trace, started, decision, plan, "chat", dialect)
        except Exception as exc:  # noqa: BLE001 - a bug must refuse (and be recorded), never pass data through
            return await self._refuse(trace, started, self._as_api_error(trace, exc), dialect)

    async def embeddings(self, authorization: str | None, data_class: str | None, raw: bytes) -> Complete:
        trace, started = self._new_trace("embeddings")
        try:
            _, decision, plan = await self._admit(trace, authorization, data_class, raw, "embeddings", OPENAI)
            return await self._complete(trace, started, decision, plan, "embeddings", OPENAI)
        except Exception as exc:  # noqa: BLE001 - a bug must refuse (and be recorded), never pass data through
            return await self._refuse(trace, started, self._as_api_error(trace, exc), OPENAI)

    async def _admit(
        self,
        trace: RequestTrace,
        authorization: str | None,
        data_class: str | None,
        raw: bytes,
        endpoint: Endpoint,
        dialect: Dialect,
    ) -> tuple[dict[str, Any], Decision, Plan]:
        """Identify, validate, scan, decide and plan: everything before a backend is called."""
        principal = self.identify(authorization)
        trace.tenant, trace.key_id = principal.tenant, principal.key_id
        body = dialect.parse(raw)
        model = requested_model(body)
        group = self._model_for(principal, model, endpoint)
        trace.model = model  # only a configured name is recorded: never client text in the chain
        if endpoint == "chat":
            check_fields(body, CHAT_FIELDS, group.extra_fields)
            validate(body, ChatRequest)
        else:
            check_fields(body, EMBEDDING_FIELDS, group.extra_fields)
            validate(body, EmbeddingRequest)
        trace.request_sha256 = _sha256(raw)
        if self._limits is not None:
            await self._limits.admit(principal, self._clock.now())
        scan = await self._scan(body, endpoint, len(raw))
        decision = self._decide(trace, principal, model, data_class, scan)
        return body, decision, self._plan(trace, decision, body, scan)

    @classmethod
    def _as_api_error(cls, trace: RequestTrace, exc: Exception) -> ApiError:
        """Any failure on the path as the refusal the client gets: an HTTP error as raised, a stage's
        refusal in HTTP terms, and anything else (a bug) as a logged 500."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, Refusal):
            return api_error(exc)
        return cls._internal_error(trace)

    @staticmethod
    def _internal_error(trace: RequestTrace) -> ApiError:
        log.exception("internal error serving request %s", trace.id)
        return server_error(500, f"Internal error; the request was refused (request id {trace.id}).", "internal_error")

    # --- protect ------------------------------------------------------------------------------
    async def _scan(self, body: dict[str, Any], endpoint: Endpoint, size: int) -> Scan | None:
        if self._protector is None:
            return None
        if endpoint == "embeddings" and has_token_input(body):
            return None  # token ids cannot be scanned: treated like "protection off" below (fail closed)
        if size > _INLINE_SCAN_BYTES:
            # A large body takes milliseconds to seconds to scan: do it off the event loop, so other
            # requests, streams and the kill-switch watcher keep running meanwhile.
            return await asyncio.to_thread(self._protector.scan, body, endpoint)
        return self._protector.scan(body, endpoint)

    def _plan(self, trace: RequestTrace, decision: Decision, body: dict[str, Any], scan: Scan | None) -> Plan:
        verdict = decision.verdict
        unscanned = scan is None or scan.opaque
        found = unscanned or (scan is not None and scan.found)
        replaceable = scan is not None and scan.replaceable
        routes: list[Route] = []
        pseudonymised_for: set[str] = set()
        blocked: list[str] = []
        for route, protection in zip(verdict.allowed, verdict.protections, strict=True):
            action = protection.action if found else "allow"
            if unscanned and action == "pseudonymise":
                action = "block"  # cannot pseudonymise what was not scanned
            if action == "block":
                blocked.append(f"{route.backend.name} ({', '.join(protection.gaps)})")
                continue
            if action == "pseudonymise" and replaceable:
                pseudonymised_for.add(route.backend.name)
            routes.append(route)
        counts = {} if scan is None else dict(scan.counts)
        trace.personal_data = {
            "scanned": not unscanned,
            "found": counts,
            "pseudonymised_for": sorted(pseudonymised_for),
            "blocked_backends": [b.split(" ", 1)[0] for b in blocked],
        }
        if not routes:
            self._metrics.denials.labels(f"{verdict.rule_id}.personal_data").inc()
            what = (
                "text that could not be scanned" if unscanned else "personal data of types " + ", ".join(sorted(counts))
            )
            raise forbidden(
                f"The request contains {what}; rule {verdict.rule_id}.personal_data blocks it for every "
                f"compliant backend of model '{decision.facts.model}': {'; '.join(blocked)}.",
                "personal_data_blocked",
            )
        vault = protected = None
        if pseudonymised_for and scan is not None and self._protector is not None:
            vault = Vault(decision.facts.tenant, trace.id)
            protected = self._protector.pseudonymise(body, scan, vault)
        return Plan(routes, body, protected, pseudonymised_for, vault)

    # --- route: non-streaming -----------------------------------------------------------------
    async def _open(self, trace: RequestTrace, plan: Plan, endpoint: Endpoint, stream: bool) -> Opened:
        body_for = plan.body_for
        if stream:
            # Ask for usage even when the client did not, so the audit record has real token counts;
            # the usage-only chunk is then not passed on.
            def body_for(route: Route) -> dict[str, Any]:
                body = plan.body_for(route)
                return {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}

        try:
            opened = await self._router.open(plan.routes, endpoint, body_for, stream)
        except UpstreamFailure as failure:
            if self._breakers is not None:
                self._breakers.observe(failure.attempts)
            trace.attempts = _attempts(failure.attempts)
            for attempt in failure.attempts:
                self._metrics.failovers.labels(attempt.backend, attempt.outcome).inc()
            raise failure.error from None
        if self._breakers is not None:
            self._breakers.observe(opened.attempts)
        trace.attempts = _attempts(opened.attempts)
        for attempt in opened.attempts[:-1]:
            self._metrics.failovers.labels(attempt.backend, attempt.outcome).inc()
        trace.chosen = opened.route.backend
        trace.upstream_ms = opened.upstream_ms
        self._metrics.upstream_latency.labels(opened.route.backend.name).observe(opened.upstream_ms / 1000)
        return opened

    async def _complete(
        self, trace: RequestTrace, started: float, decision: Decision, plan: Plan, endpoint: Endpoint, dialect: Dialect
    ) -> Complete:
        opened = await self._open(trace, plan, endpoint, stream=False)
        document = opened.document or {}
        document["model"] = trace.model  # clients see the public name, not the backend's
        trace.usage, trace.usage_source = _usage(document), UPSTREAM
        if not trace.usage:  # a server that omits usage: estimate, and the record says so
            completion = estimate_completion(document) if endpoint == "chat" else 0
            trace.usage = usage_of(estimate_prompt(plan.body_for(opened.route)), completion)
            trace.usage_source = ESTIMATE
        vault = plan.restores(opened.route)
        if vault is not None and endpoint == "chat":
            self._note_restored(trace, restore_completion(document, vault, plan.sent_text()))
        payload = dialect.encode_response(document, trace.model or "")
        trace.response_sha256 = _sha256(payload)
        trace.status, trace.outcome = 200, "ok"
        self._count_tokens(trace.usage, trace)
        try:
            await self._record(trace, started)
        except AuditUnavailable:
            return self._audit_failed(trace, dialect)
        self._metrics.requests.labels(trace.endpoint, "200").inc()
        self._metrics.overhead.observe(max(0.0, trace.total_ms - (trace.upstream_ms or 0.0)) / 1000)
        headers = {
            "Content-Type": "application/json",
            REQUEST_ID_HEADER: trace.id,
            RECEIPT_HEADER: self._receipt(trace, decision, opened, stream=False),
        }
        return Complete(200, payload, headers)

    @staticmethod
    def _note_restored(trace: RequestTrace, restored: Restored | None) -> None:
        """Placeholders that named nothing in the vault (left as they were) and those restored from a
        mangled form: counted, never their values."""
        if restored is not None and trace.personal_data is not None:
            trace.personal_data["unrestored_placeholders"] = restored.unrestored
            trace.personal_data["restored_mangled_placeholders"] = restored.from_mangled

    def _count_tokens(self, usage: dict[str, int] | None, trace: RequestTrace | None = None) -> None:
        if usage and trace is not None and self._limits is not None and trace.key_id and trace.tenant:
            self._limits.charge_later(trace.key_id, trace.tenant, usage.get("total_tokens", 0), self._clock.now())
        if usage:
            self._metrics.tokens.labels("prompt").inc(usage.get("prompt_tokens", 0))
            self._metrics.tokens.labels("completion").inc(usage.get("completion_tokens", 0))

    # --- route: streaming ---------------------------------------------------------------------
    async def _chat_stream(
        self,
        trace: RequestTrace,
        started: float,
        decision: Decision,
        plan: Plan,
        request: ChatRequest,
        write_stream: Callable[[dict[str, str]], Awaitable[Write]],
        dialect: Dialect,
    ) -> Complete | None:
        client_wants_usage = bool(request.stream_options and request.stream_options.include_usage)
        opened = await self._open(trace, plan, "chat", stream=True)
        trace.kind, trace.status, trace.outcome = "stream_open", 200, "streaming"
        try:
            await self._record(trace, started)
            headers = {
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                REQUEST_ID_HEADER: trace.id,
                RECEIPT_HEADER: self._receipt(trace, decision, opened, stream=True),
            }
        except AuditUnavailable:
            opened.response.close()
            return self._audit_failed(trace, dialect)
        except BaseException:
            opened.response.close()  # the relay never took the upstream connection over
            raise
        vault = plan.restores(opened.route)
        restorer = None if vault is None else ChunkRestorer(vault, plan.sent_text())
        encoder = dialect.stream_encoder(trace.model or "")
        relay = _StreamRelay(
            self,
            trace,
            decision,
            opened,
            client_wants_usage or dialect is not OPENAI,  # Anthropic's message_delta always has usage
            restorer,
            encoder,
            plan.body_for(opened.route),
        )
        await relay.run(write_stream, headers)
        return None

    async def close_stream(
        self,
        trace: RequestTrace,
        opened: Opened,
        outcome: str,
        usage: dict[str, int] | None,
        usage_source: str | None,
        digest: str,
        started: float,
        restored: Restored | None,
    ) -> bool:
        """Write the stream's closing record; False if the audit store failed."""
        self._note_restored(trace, restored)
        close = RequestTrace(
            id=uuid7(int(self._clock.now() * 1000)),
            ts=self._clock.now(),
            endpoint=trace.endpoint,
            kind="stream_close",
            tenant=trace.tenant,
            key_id=trace.key_id,
            model=trace.model,
            data_class=trace.data_class,
            decision=trace.decision,
            chosen=trace.chosen,
            attempts=trace.attempts,
            status=200,
            outcome=outcome,
            usage=usage,
            usage_source=usage_source,
            request_sha256=trace.request_sha256,
            response_sha256=digest,
            upstream_ms=(self._clock.monotonic() - opened.started) * 1000,
            stream_of=trace.id,
            personal_data=trace.personal_data,
        )
        self._count_tokens(usage, trace)
        self._metrics.requests.labels(trace.endpoint, "200").inc()
        try:
            await self._record(close, started)
        except AuditUnavailable:
            return False
        return True

    def stream_receipt(self, trace: RequestTrace, decision: Decision, opened: Opened, digest: str) -> str:
        claims = receipt_claims(
            trace,
            decision,
            opened.route.backend,
            issued_at=int(self._clock.now()),
            response_sha256=digest,
            stream=True,
            final=True,
        )
        return self._signer.receipt(claims)

    def scrub(self, message: str) -> str:
        return self._router.scrub(message)

    def backend_enabled(self, name: str) -> bool:
        return self._router.is_enabled(name)

    async def record_admin(self, action: str, backend: str, actor: str, reason: str | None, outcome: str) -> None:
        now = self._clock.now()
        await self._audit.append(admin_entry(uuid7(int(now * 1000)), now, action, backend, actor, reason, outcome))

    @property
    def monotonic(self) -> Callable[[], float]:
        return self._clock.monotonic


class _StreamRelay:
    """Relays one upstream SSE stream event by event, never buffering the whole answer.

    The final receipt (covering the SHA-256 of every byte sent before it) goes out as an SSE comment
    just before `data: [DONE]`, and only after the closing audit record is durable.

    Usage: wherever the backend puts it (a usage-only chunk, the last choice chunk, every chunk), it
    is taken out of the chunks and a client that asked for it gets exactly one usage-only chunk at
    the end, as OpenAI sends it. A stream that ends without the backend's count is counted anyway
    (see `_settle_usage`), so the record, the limits and the metrics never miss streamed tokens.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        trace: RequestTrace,
        decision: Decision,
        opened: Opened,
        client_wants_usage: bool,
        restorer: ChunkRestorer | None,
        encoder: StreamEncoder,
        sent_body: dict[str, Any],
    ) -> None:
        self._encoder = encoder
        self._sent_body = sent_body
        self._cut_check = pipeline.cut_disabled_streams
        self._restorer = restorer
        self._pipeline = pipeline
        self._trace = trace
        self._decision = decision
        self._opened = opened
        self._client_wants_usage = client_wants_usage
        self._hasher = hashlib.sha256()
        self._tail = b""  # the error event that ends a broken stream, sent after its record
        self._usage: dict[str, int] | None = None
        self._usage_final = False  # the backend's closing count (not a running one) was seen
        self._usage_source: str | None = None
        self._usage_chunk: dict[str, Any] | None = None  # the backend's own usage-only chunk
        self._relayed = TokenTally()  # what the backend produced, for an estimate
        self._chunk_id: Any = "chatcmpl-onshore"
        self._created: Any = int(trace.ts)
        self._finished = False  # a choice carried its finish_reason: the answer is whole

    async def run(self, write_stream: Callable[[dict[str, str]], Awaitable[Write]], headers: dict[str, str]) -> None:
        started = self._pipeline.monotonic()
        response = self._opened.response
        outcome = "completed"
        write: Write | None = None
        try:
            write = await write_stream(headers)
            await self._send(write, self._encoder.start(self._trace.id))
            outcome = await self._relay(write)
            if outcome == "completed":
                if self._restorer is not None:
                    await self._flush_restorer(write)
                if self._client_wants_usage:
                    await self._send(write, self._encoder.chunk(self._client_usage_chunk()))
                await self._send(write, self._encoder.finish())
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            outcome = "client_disconnected"
        except Exception:
            log.exception("internal error relaying stream %s", self._trace.id)
            outcome = "gateway_error"
            self._end_with(self._encoder.error(500, "internal_error", "Internal error; stream ended."))
        finally:
            response.close()  # closes the upstream connection if the stream did not finish
            self._settle_usage(outcome)
            recorded = await self._pipeline.close_stream(
                self._trace,
                self._opened,
                outcome,
                self._usage,
                self._usage_source,
                self._hasher.hexdigest(),
                started,
                None if self._restorer is None else self._restorer.restored,
            )
        if write is None or outcome == "client_disconnected":
            return
        try:
            if not recorded:
                await write(
                    self._encoder.error(
                        503, "audit_unavailable", "The audit log could not record the end of this stream."
                    )
                )
            elif self._tail:
                await write(self._tail)
            elif outcome == "completed":
                receipt = self._pipeline.stream_receipt(
                    self._trace, self._decision, self._opened, self._hasher.hexdigest()
                )
                await write(sse.comment(f"onshore-receipt {receipt}"))
                await write(self._encoder.done())
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            return

    def _end_with(self, error: bytes) -> None:
        """The error event that ends a stream: in the digest now, sent once the close is recorded (so
        a client that sees the end can already find its record)."""
        self._hasher.update(error)
        self._tail = error

    async def _relay(self, write: Write) -> str:
        splitter = sse.EventSplitter()
        decoder = self._opened.adapter.stream_decoder()
        monotonic = self._pipeline.monotonic
        deadline = monotonic() + self._pipeline.max_stream_seconds
        try:
            async for chunk in self._opened.response.content.iter_any():
                if monotonic() > deadline:
                    self._end_with(
                        self._encoder.error(
                            504, "stream_too_long", "The backend's stream exceeded the gateway's maximum duration."
                        )
                    )
                    return "stream_too_long"
                for payload in splitter.feed(chunk):
                    try:
                        documents = decoder.decode(payload)
                    except ValueError as exc:
                        self._end_with(
                            self._encoder.error(502, "upstream_bad_response", self._pipeline.scrub(str(exc)))
                        )
                        return "upstream_bad_response"
                    if documents is None:
                        return "completed"
                    if self._cut_check and not self._pipeline.backend_enabled(self._opened.route.backend.name):
                        self._end_with(
                            self._encoder.error(503, "backend_disabled", "An operator disabled this backend.")
                        )
                        return "backend_disabled"
                    for document in documents:
                        await self._relay_chunk(write, document)
        except TimeoutError:
            self._end_with(self._encoder.error(504, "upstream_timeout", "The backend stopped sending."))
            return "upstream_timeout"
        except sse.EventTooLarge as exc:
            self._end_with(self._encoder.error(502, "upstream_bad_response", str(exc)))
            return "upstream_bad_response"
        except aiohttp.ClientPayloadError:
            self._end_with(self._encoder.error(502, "upstream_error", "The backend's stream broke off."))
            return "upstream_cut"
        # Upstream ended without [DONE] (some servers do): a last event without its blank line still counts.
        if splitter.pending().strip():
            for payload in splitter.feed(b"\n\n"):
                documents = decoder.decode(payload)
                for document in documents or []:
                    await self._relay_chunk(write, document)
        if not self._finished:
            # Neither [DONE] nor a finish_reason: the connection simply ended. That is a cut, not an
            # answer; passing it off as complete (with a receipt) would certify a truncated reply.
            self._end_with(self._encoder.error(502, "upstream_error", "The backend's stream ended before the answer."))
            return "upstream_cut"
        return "completed"

    async def _relay_chunk(self, write: Write, document: dict[str, Any]) -> None:
        error = document.get("error")
        if error is not None:  # a backend's own error event: pass on its gist, never its internals
            message = error.get("message") if isinstance(error, dict) else error
            text = self._pipeline.scrub(str(message)) if message else "The backend reported an error."
            await self._send(write, self._encoder.error(502, "upstream_error", f"Backend error: {text}"))
            return
        self._chunk_id = document.get("id", self._chunk_id)
        self._created = document.get("created", self._created)
        raw_usage = document.pop("usage", None)  # sent once, at the end, and only if asked for
        choices = document.get("choices")
        usage = _usage({"usage": raw_usage})
        if usage:
            self._usage = usage
            self._usage_final = not choices or any(
                isinstance(c, dict) and c.get("finish_reason") is not None for c in choices
            )
            if not choices:
                self._usage_chunk = {**document, "usage": raw_usage}
                return
        for choice in choices or []:
            if isinstance(choice, dict) and choice.get("finish_reason") is not None:
                self._finished = True
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                self._relayed.add_delta(delta)  # before restoration: the backend's own text
        document["model"] = self._trace.model
        if self._restorer is not None:
            self._restorer.chunk(document)
        await self._send(write, self._encoder.chunk(document))

    def _settle_usage(self, outcome: str) -> None:
        """The stream's token counts and where they come from: the backend's final count; else its
        running count (the embedded model's tokenizer sends one with every chunk) if the stream
        ended early; else an estimate from the request sent and the text relayed."""
        if self._usage_source is not None:
            return
        if self._usage and (self._usage_final or outcome == "completed"):
            self._usage_source = UPSTREAM
        elif self._usage and "prompt_tokens" in self._usage and "completion_tokens" in self._usage:
            self._usage_source = TOKENIZER
        else:
            self._usage = usage_of(estimate_prompt(self._sent_body), self._relayed.tokens)
            self._usage_source = ESTIMATE

    def _client_usage_chunk(self) -> dict[str, Any]:
        self._settle_usage("completed")
        chunk = self._usage_chunk
        if chunk is None or self._usage_source != UPSTREAM or _usage(chunk) != self._usage:
            chunk = {
                "id": self._chunk_id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "choices": [],
                "usage": self._usage,
            }
        return {**chunk, "model": self._trace.model}

    async def _flush_restorer(self, write: Write) -> None:
        """Release text held back at the end (a stream that ended without finish_reason)."""
        assert self._restorer is not None
        for index, text in self._restorer.flush().items():
            chunk = {
                "id": "chatcmpl-onshore",
                "object": "chat.completion.chunk",
                "created": int(self._trace.ts),
                "model": self._trace.model,
                "choices": [{"index": index, "delta": {"content": text}, "finish_reason": None}],
            }
            await self._send(write, self._encoder.chunk(chunk))

    async def _send(self, write: Write, data: bytes) -> None:
        if data:
            self._hasher.update(data)
            await write(data)
