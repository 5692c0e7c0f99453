"""The sovereignty report: for a tenant and a period, what the audit chain says happened where.

Pure: fed parsed record bodies (from a chain that verified, see evidence.py), it counts; it reads no
configuration, so every fact is the one recorded when each request was decided, not today's.
Facts the records do not carry are listed under `gaps` instead of being filled in from config.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from onshore.decide.classes import DATA_CLASSES
from onshore.prove.report.evidence import ChainEvidence, iso

REPORT_TYPE = "onshore-sovereignty-report"
REPORT_VERSION = 1
REQUEST_KINDS = ("request", "stream_open")  # one per request; a stream's close only adds its outcome
SERVED_STATUS = 200
_BACKEND_FACTS = ("name", "jurisdiction", "storage_jurisdiction", "region", "operator", "operator_jurisdiction")


@dataclass(frozen=True, slots=True)
class Period:
    since: float  # inclusive
    until: float  # exclusive

    def __contains__(self, ts: object) -> bool:
        return isinstance(ts, int | float) and self.since <= ts < self.until


def _text(value: object, default: str = "(none)") -> str:
    return value if isinstance(value, str) and value else default


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if type(v) is int and v > 0}


def _rows(counter: Counter[Any], *names: str) -> list[dict[str, Any]]:
    """A counter as table rows, largest first, ties by key (so the report is deterministic)."""
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for key, count in items:
        keys = key if isinstance(key, tuple) else (key,)
        out.append({**dict(zip(names, keys, strict=True)), "requests": count})
    return out


@dataclass(slots=True)
class SovereigntyTally:
    """Counts one tenant's records (all tenants' if `tenant` is None) inside `period`.

    `value_types`: the personal-data types the detector replaces with placeholders (the running
    version's list, passed in by the caller: words such as 糖尿病 classify a request but stay)."""

    tenant: str | None
    period: Period
    value_types: frozenset[str]
    first_seq: int | None = None
    last_seq: int | None = None
    records: int = 0
    requests: int = 0
    served: int = 0
    by_class: Counter[tuple[str, str]] = field(default_factory=Counter)  # (class, served|refused)
    class_processed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (class, country)
    by_model: Counter[tuple[str, str]] = field(default_factory=Counter)
    processing: Counter[str] = field(default_factory=Counter)
    storage: Counter[str] = field(default_factory=Counter)
    regions: Counter[tuple[str, str]] = field(default_factory=Counter)
    operators: Counter[tuple[str, str]] = field(default_factory=Counter)
    backends: Counter[tuple[str, ...]] = field(default_factory=Counter)
    denials: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, code)
    refusals: Counter[str] = field(default_factory=Counter)  # by error code, other than policy denials
    excluded: Counter[tuple[str, str]] = field(default_factory=Counter)  # (backend, reason) by policy
    scanned: int = 0
    unscanned: int = 0
    with_findings: int = 0
    pseudonymised_requests: int = 0
    blocked_requests: int = 0
    found: Counter[str] = field(default_factory=Counter)
    pseudonymised: Counter[str] = field(default_factory=Counter)
    sent_as_is: Counter[str] = field(default_factory=Counter)
    blocked: Counter[str] = field(default_factory=Counter)
    withheld_from: Counter[str] = field(default_factory=Counter)
    failovers: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (from, outcome, to)
    upstream_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped_disabled: Counter[str] = field(default_factory=Counter)
    stream_outcomes: Counter[str] = field(default_factory=Counter)
    policies: dict[str, list[float]] = field(default_factory=dict)  # hash -> [first ts, last ts, requests]
    admin: list[dict[str, Any]] = field(default_factory=list)
    tokens: Counter[str] = field(default_factory=Counter)

    def add_all(self, records: Iterable[tuple[int, dict[str, Any]]]) -> SovereigntyTally:
        for seq, body in records:
            self.add(seq, body)
        return self

    def add(self, seq: int, body: dict[str, Any]) -> None:
        """Count one record (its seq and parsed body); records outside the scope are ignored."""
        if body.get("ts") not in self.period:
            return
        kind = body.get("kind")
        if kind == "admin":  # operator actions apply to every tenant
            self._seen(seq)
            self.admin.append(
                {
                    "seq": seq,
                    "at": iso(body["ts"]),
                    **{k: body.get(k) for k in ("action", "backend", "actor", "reason", "outcome")},
                }
            )
            return
        if self.tenant is not None and body.get("tenant") != self.tenant:
            return
        self._seen(seq)
        if kind == "stream_close":
            self.stream_outcomes[_text(body.get("outcome"))] += 1
            self._usage(body)
            return
        if kind not in REQUEST_KINDS:
            return
        self._request(body)

    def _seen(self, seq: int) -> None:
        self.records += 1
        self.first_seq = seq if self.first_seq is None else min(self.first_seq, seq)
        self.last_seq = seq if self.last_seq is None else max(self.last_seq, seq)

    def _usage(self, body: dict[str, Any]) -> None:
        for key, value in _counts(body.get("usage")).items():
            if key in ("prompt_tokens", "completion_tokens"):
                self.tokens[key] += value

    def _request(self, body: dict[str, Any]) -> None:
        self.requests += 1
        data_class, model = _text(body.get("data_class")), _text(body.get("model"))
        decision = body.get("decision") if isinstance(body.get("decision"), dict) else None
        chosen = decision.get("chosen") if decision and isinstance(decision.get("chosen"), dict) else None
        served = body.get("status") == SERVED_STATUS and chosen is not None
        outcome = "served" if served else "refused"
        self.by_class[(data_class, outcome)] += 1
        self.by_model[(model, outcome)] += 1
        if decision is not None:
            self._policy(decision, body["ts"])
            for excluded in decision.get("excluded") or []:
                for reason in excluded.get("reasons") or []:
                    self.excluded[(_text(excluded.get("backend")), str(reason))] += 1
        if served and chosen is not None:
            self.served += 1
            self._where(data_class, chosen)
            if body.get("kind") == "request":
                self._usage(body)
        else:
            self._refusal(body, decision)
        self._attempts(body.get("attempts") or [], chosen["name"] if served and chosen else None)
        self._personal(body.get("personal_data"), chosen["name"] if served and chosen else None, body.get("error_code"))

    def _policy(self, decision: dict[str, Any], ts: float) -> None:
        digest = _text(decision.get("policy_hash"))
        seen = self.policies.get(digest)
        if seen is None:
            self.policies[digest] = [ts, ts, 1]
        else:
            seen[0], seen[1], seen[2] = min(seen[0], ts), max(seen[1], ts), seen[2] + 1

    def _where(self, data_class: str, chosen: dict[str, Any]) -> None:
        processing, storage = _text(chosen.get("jurisdiction")), _text(chosen.get("storage_jurisdiction"))
        self.processing[processing] += 1
        self.storage[storage] += 1
        self.class_processed[(data_class, processing)] += 1
        self.regions[(processing, _text(chosen.get("region")))] += 1
        self.operators[(_text(chosen.get("operator")), _text(chosen.get("operator_jurisdiction")))] += 1
        self.backends[tuple(_text(chosen.get(k)) for k in _BACKEND_FACTS)] += 1

    def _refusal(self, body: dict[str, Any], decision: dict[str, Any] | None) -> None:
        code = _text(body.get("error_code"), "unknown")
        rule = _text(decision.get("rule")) if decision else None
        if code == "residency_policy_denied" and rule:
            self.denials[(rule, code)] += 1
        elif code == "personal_data_blocked" and rule:
            self.denials[(rule + ".personal_data", code)] += 1
        else:
            self.refusals[code] += 1

    def _attempts(self, attempts: list[Any], served_by: str | None) -> None:
        tried = [a for a in attempts if isinstance(a, dict)]
        for attempt in tried:
            backend, outcome = _text(attempt.get("backend")), _text(attempt.get("outcome"))
            if outcome == "disabled":
                self.skipped_disabled[backend] += 1
            if outcome == "ok":
                continue
            if served_by is not None:
                self.failovers[(backend, outcome, served_by)] += 1
            elif outcome != "disabled":
                self.upstream_failures[(backend, outcome)] += 1

    def _personal(self, personal: object, served_by: str | None, code: object) -> None:
        if not isinstance(personal, dict):
            return
        if personal.get("scanned") is False:
            self.unscanned += 1
        else:
            self.scanned += 1
        found = _counts(personal.get("found"))
        for backend in personal.get("blocked_backends") or []:
            if served_by is not None:
                self.withheld_from[str(backend)] += 1
        if not found:
            return
        self.with_findings += 1
        self.found.update(found)
        if served_by is None:
            if code == "personal_data_blocked":
                self.blocked_requests += 1
                self.blocked.update(found)
            return
        if served_by in (personal.get("pseudonymised_for") or []):
            self.pseudonymised_requests += 1
            self.pseudonymised.update({t: n for t, n in found.items() if t in self.value_types})
            self.sent_as_is.update({t: n for t, n in found.items() if t not in self.value_types})
        else:
            self.sent_as_is.update(found)

    # --- the document ---------------------------------------------------------------------------
    def document(self, chain: ChainEvidence, generated_at: float) -> dict[str, Any]:
        """The report as one JSON object: what is signed and what every renderer shows."""
        return {
            "type": REPORT_TYPE,
            "version": REPORT_VERSION,
            "tenant": self.tenant,
            "period": {"since": iso(self.period.since), "until": iso(self.period.until)},
            "generated_at": iso(generated_at),
            "scope": {"records": self.records, "first_seq": self.first_seq, "last_seq": self.last_seq},
            "requests": {
                "total": self.requests,
                "served": self.served,
                "refused": self.requests - self.served,
                "stream_outcomes": dict(sorted(self.stream_outcomes.items())),
                "tokens": {k: self.tokens.get(k, 0) for k in ("prompt_tokens", "completion_tokens")},
            },
            "by_data_class": self._by_class(),
            "by_model": self._by_model(),
            "processing_jurisdictions": _rows(self.processing, "jurisdiction"),
            "storage_jurisdictions": _rows(self.storage, "jurisdiction"),
            "regions": _rows(self.regions, "jurisdiction", "region"),
            "operators": _rows(self.operators, "operator", "home_jurisdiction"),
            "backends": _rows(self.backends, *_BACKEND_FACTS),
            "denials_by_rule": _rows(self.denials, "rule", "code"),
            "other_refusals": _rows(self.refusals, "code"),
            "excluded_by_policy": _rows(self.excluded, "backend", "reason"),
            "personal_data": self._personal_document(),
            "failovers": _rows(self.failovers, "from", "outcome", "to"),
            "upstream_failures": _rows(self.upstream_failures, "backend", "outcome"),
            "kill_switch": {
                "actions": self.admin,
                "skipped_disabled": _rows(self.skipped_disabled, "backend"),
            },
            "policy_versions": [
                {"policy_hash": h, "first_seen": iso(v[0]), "last_seen": iso(v[1]), "requests": int(v[2])}
                for h, v in sorted(self.policies.items(), key=lambda kv: (kv[1][0], kv[0]))
            ],
            "chain": chain.document(),
            "gaps": self._gaps(chain),
        }

    def _by_class(self) -> list[dict[str, Any]]:
        known = [c for c in DATA_CLASSES] + sorted({c for c, _ in self.by_class} - set(DATA_CLASSES))
        out = []
        for data_class in known:
            served, refused = self.by_class[(data_class, "served")], self.by_class[(data_class, "refused")]
            if not served and not refused:
                continue
            where = {j: n for (c, j), n in sorted(self.class_processed.items()) if c == data_class}
            out.append(
                {
                    "data_class": data_class,
                    "requests": served + refused,
                    "served": served,
                    "refused": refused,
                    "processed_in": where,
                }
            )
        return out

    def _by_model(self) -> list[dict[str, Any]]:
        models = sorted({m for m, _ in self.by_model})
        rows = [
            {
                "model": m,
                "requests": self.by_model[(m, "served")] + self.by_model[(m, "refused")],
                "served": self.by_model[(m, "served")],
                "refused": self.by_model[(m, "refused")],
            }
            for m in models
        ]
        return sorted(rows, key=lambda r: (-r["requests"], r["model"]))

    def _personal_document(self) -> dict[str, Any]:
        types = sorted(self.found, key=lambda t: (-self.found[t], t))
        return {
            "requests_scanned": self.scanned,
            "requests_unscanned": self.unscanned,
            "requests_with_findings": self.with_findings,
            "requests_pseudonymised": self.pseudonymised_requests,
            "requests_blocked": self.blocked_requests,
            "by_type": [
                {
                    "type": t,
                    "found": self.found[t],
                    "pseudonymised": self.pseudonymised[t],
                    "sent_as_is": self.sent_as_is[t],
                    "blocked": self.blocked[t],
                }
                for t in types
            ],
            "withheld_from": _rows(self.withheld_from, "backend"),
        }

    def _gaps(self, chain: ChainEvidence) -> list[dict[str, str]]:
        gaps = [
            {
                "en": "Where the gateway itself ran is not in the records: the jurisdictions above are those of "
                "the backends that served, as declared when each request was decided.",
                "ja": "ゲートウェイ自体の所在は記録にありません。上記の管轄は、各リクエストの判定時に宣言されていた"
                "処理バックエンドのものです。",
            },
            {
                "en": "Backends' retention days and training terms are not in the records; the policy hash "
                "recorded with each decision pins them (compare with `onshore check-config` of that version).",
                "ja": "バックエンドの保存日数・学習利用の条件は記録にありません。各判定に記録されたポリシーハッシュが"
                "それを特定します（該当版の `onshore check-config` と照合してください）。",
            },
            {
                "en": "A record does not say which values were replaced: 'pseudonymised' counts the value types "
                "the detector replaces, found in requests sent pseudonymised; words that only classify a "
                "request (e.g. a diagnosis) are sent as they are and counted under 'sent as is'.",
                "ja": "記録には置換した値そのものの内訳はありません。「仮名化」は仮名化して送信したリクエストで"
                "検出された、置換対象の種類の件数です。分類にのみ使う語（病名など）はそのまま送信され、"
                "「そのまま送信」に数えます。",
            },
        ]
        if self.tenant is not None:
            gaps.append(
                {
                    "en": "Requests refused before the caller was identified carry no tenant and are not counted "
                    "here; operator (kill-switch) actions apply to every tenant and are all listed.",
                    "ja": "呼び出し元の特定前に拒否されたリクエストにはテナントがなく、ここには含まれません。"
                    "運用者による停止操作は全テナントに及ぶため、すべて記載しています。",
                }
            )
        if self.last_seq is not None and self.last_seq > chain.covered_seq:
            gaps.append(
                {
                    "en": f"Records after seq {chain.covered_seq} are chained but not yet under a signed checkpoint.",
                    "ja": f"seq {chain.covered_seq} より後の記録はハッシュ連鎖済みですが、署名付きチェックポイント"
                    "にはまだ含まれていません。",
                }
            )
        if chain.legacy:
            gaps.append(
                {
                    "en": f"{chain.legacy} records predate RFC 8785 form; their stored bytes still verify.",
                    "ja": f"{chain.legacy} 件の記録は RFC 8785 形式以前のものですが、保存バイト列で検証済みです。",
                }
            )
        return gaps
