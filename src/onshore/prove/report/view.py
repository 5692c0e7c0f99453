"""The sovereignty report as bilingual sections of tables: one view that the HTML and the PDF both
render, so they show the same numbers in the same order. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

JST = timezone(timedelta(hours=9), "JST")

Label = tuple[str, str]  # (Japanese, English)

DATA_CLASS_LABELS: dict[str, Label] = {
    "public": ("公開", "public"),
    "internal": ("社内", "internal"),
    "confidential": ("機密", "confidential"),
    "personal": ("個人情報", "personal"),
    "special_care": ("要配慮個人情報", "special care"),
}


@dataclass(frozen=True, slots=True)
class Table:
    headers: list[Label]
    rows: list[list[str]]
    empty: Label = ("該当なし", "none")


@dataclass(frozen=True, slots=True)
class Section:
    title: Label
    tables: list[Table] = field(default_factory=list)
    facts: list[tuple[Label, str]] = field(default_factory=list)  # label: value lines
    notes: list[Label] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReportView:
    title: Label
    subtitle: Label
    sections: list[Section]
    signature: list[tuple[Label, str]]


def jst(iso_text: str | None) -> str:
    """An ISO 8601 UTC time, shown in Japan time with the UTC original (an auditor checks both)."""
    if not iso_text:
        return "-"
    value = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    return f"{value.astimezone(JST).strftime('%Y-%m-%d %H:%M:%S')} JST ({iso_text})"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _class(name: str) -> str:
    ja, en = DATA_CLASS_LABELS.get(name, (name, name))
    return f"{ja} / {en}"


def report_view(envelope: dict[str, Any]) -> ReportView:
    r = envelope["report"]
    req, pd, chain = r["requests"], r["personal_data"], r["chain"]
    tenant = r["tenant"] or "全テナント / all tenants"
    overview = Section(
        ("概要", "Overview"),
        facts=[
            (("テナント", "Tenant"), tenant),
            (("対象期間（開始）", "Period from"), jst(r["period"]["since"])),
            (("対象期間（終了・含まない）", "Period until (exclusive)"), jst(r["period"]["until"])),
            (("作成日時", "Generated at"), jst(r["generated_at"])),
            (("リクエスト総数", "Requests"), _n(req["total"])),
            (("処理済み", "Served"), _n(req["served"])),
            (("拒否", "Refused"), _n(req["refused"])),
            (
                ("入力トークン / 出力トークン", "Prompt / completion tokens"),
                f"{_n(req['tokens']['prompt_tokens'])} / {_n(req['tokens']['completion_tokens'])}",
            ),
            (("対象の監査記録", "Audit records in scope"), _scope(r["scope"])),
        ],
    )
    integrity = Section(
        ("監査ログの検証結果", "Audit chain verification"),
        facts=[
            (("結果", "Result"), "検証成功 / verified: the hash chain is intact"),
            (("検証した記録数", "Records verified"), _n(chain["records"])),
            (("連鎖の先頭", "Chain head"), f"seq {chain['head']['seq']} sha256 {chain['head']['hash']}"),
            (("署名付きチェックポイント", "Signed checkpoints verified"), _n(chain["signed_checkpoints"])),
            (
                ("外部証人のチェックポイント", "Witnessed checkpoints verified"),
                f"{_n(chain['witnessed_checkpoints'])} ({chain['witness_files']} file(s))",
            ),
            (("署名で保護された範囲", "Covered by a signature up to"), f"seq {chain['covered_seq']}"),
            (("最新のチェックポイント", "Latest checkpoint"), jst(chain["last_checkpoint"])),
            (("署名鍵 (kid)", "Signing keys (kid)"), ", ".join(chain["signing_keys"]) or "-"),
        ],
    )
    where = Section(
        ("処理・保存した国・地域", "Where requests were processed and stored"),
        tables=[
            Table(
                [("処理した国", "Processing jurisdiction"), ("件数", "Requests")],
                [[x["jurisdiction"], _n(x["requests"])] for x in r["processing_jurisdictions"]],
            ),
            Table(
                [("保存した国", "Storage jurisdiction"), ("件数", "Requests")],
                [[x["jurisdiction"], _n(x["requests"])] for x in r["storage_jurisdictions"]],
            ),
            Table(
                [("国", "Jurisdiction"), ("リージョン", "Region"), ("件数", "Requests")],
                [[x["jurisdiction"], x["region"], _n(x["requests"])] for x in r["regions"]],
            ),
        ],
    )
    operators = Section(
        ("運営事業者と本拠国", "Operators and their home countries"),
        tables=[
            Table(
                [("事業者", "Operator"), ("本拠国（準拠法）", "Home country (whose law)"), ("件数", "Requests")],
                [[x["operator"], x["home_jurisdiction"], _n(x["requests"])] for x in r["operators"]],
            ),
            Table(
                [
                    ("バックエンド", "Backend"),
                    ("処理国", "Processing"),
                    ("保存国", "Storage"),
                    ("リージョン", "Region"),
                    ("事業者", "Operator"),
                    ("本拠国", "Home"),
                    ("件数", "Requests"),
                ],
                [
                    [
                        x["name"],
                        x["jurisdiction"],
                        x["storage_jurisdiction"],
                        x["region"],
                        x["operator"],
                        x["operator_jurisdiction"],
                        _n(x["requests"]),
                    ]
                    for x in r["backends"]
                ],
            ),
        ],
    )
    classes = Section(
        ("データ区分・モデル別の件数", "Requests by data class and model"),
        tables=[
            Table(
                [
                    ("データ区分", "Data class"),
                    ("件数", "Requests"),
                    ("処理", "Served"),
                    ("拒否", "Refused"),
                    ("処理した国", "Processed in"),
                ],
                [
                    [
                        _class(x["data_class"]),
                        _n(x["requests"]),
                        _n(x["served"]),
                        _n(x["refused"]),
                        ", ".join(f"{k} {_n(v)}" for k, v in x["processed_in"].items()) or "-",
                    ]
                    for x in r["by_data_class"]
                ],
            ),
            Table(
                [("モデル", "Model"), ("件数", "Requests"), ("処理", "Served"), ("拒否", "Refused")],
                [[x["model"], _n(x["requests"]), _n(x["served"]), _n(x["refused"])] for x in r["by_model"]],
            ),
        ],
    )
    denials = Section(
        ("拒否の内訳", "Refusals"),
        tables=[
            Table(
                [("規則", "Rule"), ("理由コード", "Code"), ("件数", "Requests")],
                [[x["rule"], x["code"], _n(x["requests"])] for x in r["denials_by_rule"]],
            ),
            Table(
                [("その他の理由コード", "Other refusal code"), ("件数", "Requests")],
                [[x["code"], _n(x["requests"])] for x in r["other_refusals"]],
            ),
            Table(
                [
                    ("ポリシーで除外したバックエンド", "Backend excluded by policy"),
                    ("理由", "Reason"),
                    ("件数", "Decisions"),
                ],
                [[x["backend"], x["reason"], _n(x["requests"])] for x in r["excluded_by_policy"]],
            ),
        ],
    )
    personal = Section(
        ("個人情報の検出と保護", "Personal data found, pseudonymised, blocked"),
        facts=[
            (("検査したリクエスト", "Requests scanned"), _n(pd["requests_scanned"])),
            (("検査できなかったリクエスト", "Requests that could not be scanned"), _n(pd["requests_unscanned"])),
            (("検出があったリクエスト", "Requests with findings"), _n(pd["requests_with_findings"])),
            (("仮名化して送信", "Sent pseudonymised"), _n(pd["requests_pseudonymised"])),
            (("個人情報のため拒否", "Refused for personal data"), _n(pd["requests_blocked"])),
        ],
        tables=[
            Table(
                [
                    ("種類", "Type"),
                    ("検出", "Found"),
                    ("仮名化", "Pseudonymised"),
                    ("そのまま送信", "Sent as is"),
                    ("拒否", "Blocked"),
                ],
                [
                    [x["type"], _n(x["found"]), _n(x["pseudonymised"]), _n(x["sent_as_is"]), _n(x["blocked"])]
                    for x in pd["by_type"]
                ],
            ),
            Table(
                [("個人情報を送らなかったバックエンド", "Backend withheld from (personal data)"), ("件数", "Requests")],
                [[x["backend"], _n(x["requests"])] for x in pd["withheld_from"]],
            ),
        ],
    )
    resilience = Section(
        ("停止・切替", "Backends disabled, failovers"),
        tables=[
            Table(
                [
                    ("日時", "When"),
                    ("seq", "seq"),
                    ("操作", "Action"),
                    ("バックエンド", "Backend"),
                    ("実施者", "Actor"),
                    ("理由", "Reason"),
                ],
                [
                    [
                        jst(x["at"]),
                        str(x["seq"]),
                        str(x["action"]),
                        str(x["backend"]),
                        str(x["actor"]),
                        str(x["reason"] or "-"),
                    ]
                    for x in r["kill_switch"]["actions"]
                ],
                ("停止操作なし", "no operator action"),
            ),
            Table(
                [("停止中のため飛ばしたバックエンド", "Skipped as disabled"), ("件数", "Requests")],
                [[x["backend"], _n(x["requests"])] for x in r["kill_switch"]["skipped_disabled"]],
            ),
            Table(
                [("切替元", "From"), ("結果", "Outcome"), ("切替先", "To"), ("件数", "Requests")],
                [[x["from"], x["outcome"], x["to"], _n(x["requests"])] for x in r["failovers"]],
            ),
            Table(
                [("失敗したバックエンド", "Backend failed"), ("結果", "Outcome"), ("件数", "Requests")],
                [[x["backend"], x["outcome"], _n(x["requests"])] for x in r["upstream_failures"]],
            ),
        ],
    )
    policy = Section(
        ("適用したポリシーの版", "Policy versions that decided"),
        tables=[
            Table(
                [
                    ("ポリシーハッシュ", "Policy hash"),
                    ("初回", "First seen"),
                    ("最終", "Last seen"),
                    ("件数", "Requests"),
                ],
                [
                    [x["policy_hash"], jst(x["first_seen"]), jst(x["last_seen"]), _n(x["requests"])]
                    for x in r["policy_versions"]
                ],
            ),
        ],
    )
    gaps = Section(
        ("記録に含まれない事項", "What the records do not show"), notes=[(g["ja"], g["en"]) for g in r["gaps"]]
    )
    signature = [
        (("署名対象 SHA-256 (RFC 8785 JSON)", "Signed SHA-256 (RFC 8785 JSON)"), envelope["sha256"]),
        (("署名鍵 (kid)", "Signing key (kid)"), envelope["kid"]),
        (("検証方法", "How to check"), "onshore report verify FILE [--jwks jwks.json]"),
    ]
    return ReportView(
        ("データ主権レポート", "Sovereignty report"),
        ("監査ログのみから作成（検証済み）", "Built from the verified audit chain alone"),
        [overview, integrity, where, operators, classes, denials, personal, resilience, policy, gaps],
        signature,
    )


def _scope(scope: dict[str, Any]) -> str:
    if scope["first_seq"] is None:
        return "0"
    return f"{_n(scope['records'])} (seq {scope['first_seq']}..{scope['last_seq']})"
