"""Every change the console makes, and the long reads it runs. Each POST carries the session's CSRF
token; each change is recorded in the audit chain with the actor before it takes effect (as the
admin API does), and nothing changes if that record cannot be written."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web

from onshore.console import decisions, pages, proofs
from onshore.console.i18n import translate
from onshore.console.web import CONSOLE, Console, Refused, form_with_csrf, language, render, require
from onshore.decide.classes import is_data_class
from onshore.identify.keys import KeyRecord, generate_key
from onshore.ids import uuid7
from onshore.prove import record
from onshore.prove.report.evidence import ChainBroken
from onshore.prove.signer import ReceiptError
from onshore.prove.writer import AuditUnavailable

log = logging.getLogger("onshore.console")
MAX_REASON = 500
REPORT_TYPES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "markdown": "text/markdown; charset=utf-8",
}


async def _recorded(console: Console, entry: dict[str, Any]) -> None:
    try:
        await console.parts.audit_append(entry)
    except AuditUnavailable:
        raise Refused(503, "The audit log is unavailable; nothing was changed.") from None


def key_entry(now: float, action: str, key_id: str, tenant: str | None, actor: str, outcome: str) -> dict[str, Any]:
    """A key created or revoked from the console, in the chain like the kill switch's records."""
    return record.key_entry(uuid7(int(now * 1000)), now, action, key_id, tenant, actor, outcome)


async def switch_backend(request: web.Request) -> web.StreamResponse:
    session = require(request, "backends.switch")
    form = await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    switches = console.parts.switches
    if switches is None:
        raise Refused(409, translate(language(request), "controls.no_redis"))
    name, action = request.match_info["name"], request.match_info["action"]
    if name not in console.parts.policy.backends:
        raise Refused(404, f"No backend named '{name}'.")
    reason = form.get("reason", "").strip()[:MAX_REASON] or None
    if action == "disable" and reason is None:
        raise Refused(400, "Say why: a reason is required to disable a backend.")
    try:  # recorded before it takes effect: no operator action without a record
        await console.parts.record_admin(action, name, session.actor, reason, "requested")
    except AuditUnavailable:
        raise Refused(503, "The audit log is unavailable; nothing was changed.") from None
    if action == "disable":
        await switches.disable_backend(name, reason or "", session.actor, time.time())
    else:
        await switches.enable_backend(name, session.actor, time.time())
    log.info("console: %s %s by %s", action, name, session.actor)
    raise web.HTTPSeeOther(f"/controls?done={action}:{name}")


async def create_key(request: web.Request) -> web.StreamResponse:
    session = require(request, "keys.write")
    form = await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    settings = console.parts.settings
    tenant, floor = form.get("tenant", ""), form.get("floor", "public")
    if tenant not in settings.file.tenants:
        raise Refused(400, f"Unknown tenant {tenant!r}.")
    if not is_data_class(floor):
        raise Refused(400, f"Unknown data class {floor!r}.")
    models = tuple(m.strip() for m in form.get("models", "").split(",") if m.strip()) or None
    unknown = [m for m in models or () if m not in settings.file.models]
    if unknown:
        raise Refused(400, f"Unknown model(s): {', '.join(unknown)}.")
    new, now = generate_key(), time.time()
    await _recorded(console, key_entry(now, "key_create", new.key_id, tenant, session.actor, "requested"))
    record = KeyRecord(new.key_id, form.get("name", "").strip()[:100], tenant, floor, models, now, None, new.hash)
    await console.parts.run(console.parts.store.add_key, record)
    # Shown once, on this no-store page, never in a URL or a log.
    return await pages.controls_page(request, created=(new.key_id, new.plaintext))


async def revoke_key(request: web.Request) -> web.StreamResponse:
    session = require(request, "keys.write")
    await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    key_id = request.match_info["key_id"]
    known = {k.key_id: k for k in await console.parts.run(console.parts.store.list_keys)}
    if key_id not in known or known[key_id].revoked_at is not None:
        raise Refused(404, f"No active key {key_id}.")
    now = time.time()
    await _recorded(console, key_entry(now, "key_revoke", key_id, known[key_id].tenant, session.actor, "requested"))
    await console.parts.run(console.parts.store.revoke_key, key_id, now)
    raise web.HTTPSeeOther(f"/controls?done=revoke:{key_id}")


async def verify_receipt(request: web.Request) -> web.Response:
    session = require(request, "audit.read")
    form = await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    token = form.get("receipt", "").strip()
    lang = language(request)
    result: dict[str, Any]
    try:
        claims = proofs.receipt_claims(token, dict(console.parts.public_keys))
    except ReceiptError as exc:
        result = {"valid": False, "message": translate(lang, "receipt.invalid", why=str(exc))}
        return render(request, "receipt.html.j2", session=session, result=result, status=422)
    kid = next(iter(console.parts.public_keys))
    result = {"valid": True, "message": translate(lang, "receipt.valid", kid=kid), "claims": claims}
    jti, iat = str(claims.get("jti", "")), float(claims.get("iat") or 0)
    found = await console.parts.run(pages.find_request, console.parts.store, jti, iat - 3600.0, iat + 60.0)
    if found is None:
        result["record"] = translate(lang, "receipt.norecord", jti=jti)
    else:
        seq, body = found
        differs = decisions.receipt_matches(claims, body)
        result["seq"] = seq
        result["ts"] = body.get("ts")
        result["matches"] = not differs
        result["record"] = (
            translate(lang, "receipt.differs", seq=seq, fields=", ".join(differs))
            if differs
            else translate(lang, "receipt.matches", seq=seq)
        )
    return render(request, "receipt.html.j2", session=session, result=result)


def _claim_job(console: Console, request: web.Request) -> None:
    if console.busy or console.verify.running:
        raise Refused(409, translate(language(request), "busy"))


async def start_verify(request: web.Request) -> web.StreamResponse:
    session = require(request, "audit.read")
    await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    _claim_job(console, request)
    job = console.verify
    job.running, job.done, job.total, job.actor, job.outcome, job.error = (
        True,
        0,
        console.parts.audit_head().seq,
        session.actor,
        None,
        None,
    )

    def progress(done: int) -> None:
        job.done = done

    def run() -> proofs.VerifyOutcome:
        store = console.parts.open_reader()
        try:
            return proofs.verify_chain(console.parts.settings, store, session.actor, progress)
        finally:
            store.close()

    async def finish() -> None:
        try:
            job.outcome = await asyncio.wrap_future(console.jobs.submit(run))
        except Exception as exc:  # noqa: BLE001 - shown on the page: the verification could not run
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.running = False

    console.tasks.add(task := asyncio.get_running_loop().create_task(finish()))
    task.add_done_callback(console.tasks.discard)
    if request.headers.get("Accept", "").startswith("application/json"):
        return web.json_response(verify_status(console))
    raise web.HTTPSeeOther("/audit")


def verify_status(console: Console) -> dict[str, Any]:
    job = console.verify
    outcome = job.outcome
    return {
        "running": job.running,
        "done": job.done,
        "total": job.total,
        "error": job.error,
        "outcome": None
        if outcome is None
        else {
            "ok": outcome.ok,
            "records": outcome.records,
            "head_seq": outcome.head_seq,
            "checkpoints": outcome.checkpoints,
            "problem": outcome.problem,
        },
    }


async def verify_progress(request: web.Request) -> web.Response:
    require(request, "audit.read")
    return web.json_response(verify_status(request.app[CONSOLE]))


async def _job(console: Console, request: web.Request, fn: Any, *args: Any) -> Any:
    """Run one long read on the job thread (one at a time)."""
    _claim_job(console, request)
    console.busy = True
    try:
        return await asyncio.wrap_future(console.jobs.submit(fn, *args))
    finally:
        console.busy = False


def _period(form: dict[str, str]) -> tuple[float, float]:
    now = time.time()
    since = pages.parse_utc(form.get("since"), now - pages.DEFAULT_WINDOW_SECONDS)
    until = pages.parse_utc(form.get("until"), now)
    if until <= since:
        raise Refused(400, "The end of the period must be after its start.")
    return since, until


def _download(data: bytes, name: str, form: str) -> web.Response:
    return web.Response(
        body=data,
        headers={
            "Content-Type": REPORT_TYPES.get(form, "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


def _stamp(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%M", time.gmtime(ts))


async def export_audit(request: web.Request) -> web.StreamResponse:
    session = require(request, "audit.export")
    form = await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    since, until = _period(form)

    def run() -> bytes:
        store = console.parts.open_reader()
        try:
            return proofs.export_lines(store, since, until)
        finally:
            store.close()

    data = await _job(console, request, run)
    response = _download(data, f"onshore-audit-{_stamp(since)}-{_stamp(until)}.jsonl", "json")
    response.headers["Content-Type"] = "application/x-ndjson"
    return response


async def make_report(request: web.Request) -> web.StreamResponse:
    session = require(request, "audit.export")
    form = await form_with_csrf(request, session)
    console = request.app[CONSOLE]
    kind = request.match_info["kind"]
    since, until = _period(form)
    tenant = form.get("tenant") or None
    if tenant is not None and tenant not in console.parts.policy.tenants:
        raise Refused(400, f"Unknown tenant {tenant!r}.")
    fmt = form.get("format", "html")
    allowed = ("html", "pdf", "json") if kind == "sovereignty" else ("markdown", "html", "json")
    if fmt not in allowed:
        raise Refused(400, f"Format must be one of {', '.join(allowed)}.")
    build = proofs.sovereignty_report if kind == "sovereignty" else proofs.breach_draft
    try:
        data = await _job(console, request, build, console.parts.settings, tenant, since, until, fmt)
    except ChainBroken as exc:
        raise Refused(409, translate(language(request), "reports.refused", why=str(exc))) from None
    extension = {"markdown": "md"}.get(fmt, fmt)
    name = f"onshore-{kind}-{tenant or 'all'}-{_stamp(since)}-{_stamp(until)}.{extension}"
    log.info("console: %s report (%s) by %s", kind, fmt, session.actor)
    return _download(data, name, fmt)


async def stop_tasks(console: Console) -> None:
    for task in list(console.tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
