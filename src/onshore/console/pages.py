"""The console's pages (GET): residency map, decisions, one audit record, audit status, kill switch
and keys, reports. Reading only; every change is in actions.py."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from onshore.console import decisions, residency
from onshore.console.parts import Store
from onshore.console.web import CONSOLE, Console, render, require
from onshore.decide.classes import DATA_CLASSES
from onshore.settings import countries

DECISION_ROWS = 200
DEFAULT_WINDOW_SECONDS = 24 * 3600.0
_decoder = msgspec.json.Decoder(dict[str, Any])


async def disabled_now(console: Console) -> dict[str, residency.Switched]:
    if console.parts.switches is None:
        return {}
    state = await console.parts.switches.disabled_backends()
    return {
        name: residency.Switched(str(s.get("reason", "")), str(s.get("actor", "")), _number(s.get("since")))
        for name, s in state.items()
    }


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def country(code: str) -> str:
    entry = countries().get(code)
    return f"{code} ({entry[1]})" if entry else code


async def residency_page(request: web.Request) -> web.Response:
    session = require(request, "backends.read")
    console = request.app[CONSOLE]
    policy = console.parts.policy
    disabled = await disabled_now(console)
    tenant = request.query.get("tenant") or None
    rows = residency.backend_rows(policy, disabled, console.parts.breaker_open)
    off = {r.facts.name for r in rows if r.state != "enabled"}
    return render(
        request,
        "residency.html.j2",
        session=session,
        backends=rows,
        policy_rows=residency.policy_rows(policy, off.__contains__, tenant),
        tenants=policy.tenants,
        tenant=tenant,
        policy_hash=policy.hash,
        country=country,
        countries=residency.countries_in_use(policy),
        kill_switch=console.parts.switches is not None,
    )


def parse_utc(text: str | None, default: float) -> float:
    """A datetime-local or ISO 8601 value, read as UTC; `default` when empty or unreadable."""
    if not text:
        return default
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return default
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def local_input(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")


def bodies(
    store: Store, since: float | None, until: float | None = None, *, newest_first: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    for record in store.iter_records(since, until, newest_first=newest_first):
        try:
            yield record.seq, _decoder.decode(record.body)
        except msgspec.DecodeError:
            continue  # unreadable: `audit verify` names it; nothing to show here


def _recent(store: Store, since: float, wanted: Mapping[str, str], limit: int) -> list[decisions.DecisionRow]:
    return decisions.recent(bodies(store, since, newest_first=True), wanted, limit)


async def decisions_page(request: web.Request) -> web.Response:
    session = require(request, "audit.read")
    console = request.app[CONSOLE]
    wanted = {name: request.query.get(name, "") for name in decisions.FILTERS}
    since = parse_utc(request.query.get("since"), time.time() - DEFAULT_WINDOW_SECONDS)
    rows = await console.parts.run(_recent, console.parts.store, since, wanted, DECISION_ROWS)
    template = "decision_rows.html.j2" if request.query.get("fragment") == "rows" else "decisions.html.j2"
    policy = console.parts.policy
    return render(
        request,
        template,
        session=session,
        rows=rows,
        wanted=wanted,
        since=local_input(since),
        since_ts=since,
        limit=DECISION_ROWS,
        tenants=policy.tenants,
        models=sorted(policy.models),
        classes=DATA_CLASSES,
        outcomes=("ok", "refused", "error", "client_gone"),
    )


def find_record(store: Store, seq: int, around: float) -> dict[str, Any] | None:
    for found, body in bodies(store, around - 1.0, around + 1.0):
        if found == seq:
            return body
    return None


def find_request(store: Store, request_id: str, since: float, until: float) -> tuple[int, dict[str, Any]] | None:
    for seq, body in bodies(store, since, until):
        if body.get("id") == request_id and body.get("kind") in decisions.ROW_KINDS:
            return seq, body
    return None


async def record_page(request: web.Request) -> web.Response:
    session = require(request, "audit.read")
    console = request.app[CONSOLE]
    try:
        seq, around = int(request.match_info["seq"]), float(request.query.get("ts", ""))
    except ValueError:
        raise web.HTTPNotFound(reason="No such record.") from None
    body = await console.parts.run(find_record, console.parts.store, seq, around)
    if body is None:
        raise web.HTTPNotFound(reason=f"No audit record seq {seq} near that time.")
    shown = decisions.row(seq, body)
    return render(request, "record.html.j2", session=session, seq=seq, row=shown, body=body, result=None)


async def audit_page(request: web.Request) -> web.Response:
    session = require(request, "audit.read")
    console = request.app[CONSOLE]
    from onshore.cli.audit import signature_checker

    head = console.parts.audit_head()
    checkpoints = await console.parts.run(console.parts.store.checkpoints)
    last = checkpoints[-1] if checkpoints else None
    signature_ok = signature_checker(dict(console.parts.public_keys))(last) if last is not None else None
    now = time.time()
    return render(
        request,
        "audit.html.j2",
        session=session,
        head=head,
        last=last,
        signature_ok=signature_ok,
        job=console.verify,
        since=local_input(now - DEFAULT_WINDOW_SECONDS),
        until=local_input(now + 3600),
    )


async def controls(request: web.Request) -> web.Response:
    return await controls_page(request)


async def controls_page(request: web.Request, created: tuple[str, str] | None = None) -> web.Response:
    session = require(request, "backends.read")
    console = request.app[CONSOLE]
    policy = console.parts.policy
    disabled = await disabled_now(console)
    rows = residency.backend_rows(policy, disabled, console.parts.breaker_open)
    keys = await console.parts.run(console.parts.store.list_keys) if _may_see_keys(session.roles) else []
    return render(
        request,
        "controls.html.j2",
        session=session,
        backends=rows,
        keys=keys,
        created=created,
        done=request.query.get("done"),
        kill_switch=console.parts.switches is not None,
        tenants=policy.tenants,
        classes=DATA_CLASSES,
        country=country,
    )


def _may_see_keys(roles: frozenset[str]) -> bool:
    return bool(roles & {"admin", "auditor"})


async def reports_page(request: web.Request) -> web.Response:
    session = require(request, "audit.export")
    console = request.app[CONSOLE]
    now = time.time()
    return render(
        request,
        "reports.html.j2",
        session=session,
        tenants=console.parts.policy.tenants,
        since=local_input(now - DEFAULT_WINDOW_SECONDS),
        until=local_input(now + 3600),
    )


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/residency")
