"""The APPI breach-report draft as Markdown or HTML, Japanese and English together. The HTML is
one self-contained page (Jinja2, autoescaped); both are drawn from the same draft document."""

from __future__ import annotations

from typing import Any

from onshore.prove.report.html import environment, script_json

FILLED_BY = {
    "gateway": ("ゲートウェイが記入", "filled by the gateway"),
    "person": ("要記入（担当者）", "to be filled in by a person"),
    "gateway_and_person": (
        "ゲートウェイが一部記入・担当者が確認と追記",
        "partly filled by the gateway; a person completes it",
    ),
}
STATUS = {
    "met": ("該当", "met"),
    "possible": ("該当の可能性あり", "possibly met"),
    "not_indicated": ("記録上は該当なし", "not indicated by the records"),
    "person_judges": ("担当者が判断", "a person judges"),
}


def lines(value: Any, indent: str = "") -> list[str]:
    """A nested value as Markdown list lines (dicts by key, lists by item)."""
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{indent}- {key}:")
                out += lines(item, indent + "  ")
            else:
                out.append(f"{indent}- {key}: {_scalar(item)}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict):
                out.append(f"{indent}- " + ", ".join(f"{k}: {_scalar(v)}" for k, v in item.items()))
            else:
                out.append(f"{indent}- {_scalar(item)}")
        return out
    return [f"{indent}- {_scalar(value)}"]


def _scalar(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def render_markdown(draft: dict[str, Any]) -> str:
    d = draft["deadlines"]
    worth = draft["report_worthiness"]
    out = [
        "# 個人データの漏えい等報告（下書き） / APPI breach report (draft)",
        "",
        f"> **下書き / DRAFT** — {draft['draft_notice']['ja']}",
        f"> {draft['draft_notice']['en']}",
        "",
        "個人情報の保護に関する法律 第26条第1項、同法施行規則 第8条第1項の報告事項に沿っています。 "
        "Items follow 施行規則 第8条第1項 (APPI Enforcement Rules, Art. 8(1)).",
        "",
        f"作成 / generated: {draft['generated_at']}" + ("　行政機関等 / public body" if draft["public_body"] else ""),
        "",
        "## 報告期限 / Deadlines",
        "",
        f"- 発覚 / discovered: {d['discovered_at']}",
        f"- 速報 / preliminary report: {d['preliminary']['rule']}; 目安 / guidance "
        f"{d['preliminary']['guidance_from']} – {d['preliminary']['guidance_until']} (概ね3～5日以内 / 3–5 days)",
        f"- 確報 / final report: {d['final']} まで / by (30日以内 / within 30 days)",
        f"- 不正の目的のおそれがある場合の確報 / final if for an unauthorised purpose: "
        f"{d['final_if_unauthorised_purpose']} まで / by (60日以内 / within 60 days)",
        f"- 本人への通知 / notify the people: {d['notify_individuals']}",
        "- 日数は発覚日を1日目とし土日祝日を含めて数えています（早い側の読み方）。"
        "担当者がガイドラインで確認してください。 "
        "Days counted with the discovery day as day 1, weekends and holidays included (the earlier reading); "
        "a person confirms against the PPC guidelines.",
        "",
        "## 報告対象か / Is it reportable? (施行規則 第7条)",
        "",
        "| 事態 / Situation | 判定 / Status | 根拠 / Basis |",
        "| --- | --- | --- |",
    ]
    for trig in worth["triggers"]:
        ja, en = STATUS[trig["status"]]
        out.append(f"| {trig['ja']} / {trig['en']} | **{ja}** / {en} | {_scalar(trig['basis'])} |")
    verdict = (
        ("報告対象となる可能性があります", "likely reportable")
        if worth["likely_reportable"]
        else ("記録上は報告対象の事態は見当たりません", "no reportable situation in the records")
    )
    out += ["", f"**{verdict[0]} / {verdict[1]}** — {worth['note']}", "", "## 報告事項 / Report items", ""]
    for item in draft["items"]:
        who_ja, who_en = FILLED_BY[item["filled_by"]]
        out += [f"### {item['no']}. {item['ja']} / {item['en']}", "", f"*{who_ja} / {who_en}*", ""]
        if item["gateway"] is not None:
            out += ["ゲートウェイの記録 / From the audit log:", "", *lines(item["gateway"]), ""]
        if item["person"] is not None:
            out += [
                f"**要記入 / To fill in:** {item['person']['ja']} {item['person']['en']}",
                "",
                "> （記入欄 / write here）",
                "",
            ]
    return "\n".join(out)


def render_incident_html(envelope: dict[str, Any]) -> str:
    """The signed draft (prove/report/signed.py) as a page that embeds it, like the sovereignty report."""
    template = environment().get_template("incident.html.j2")
    return template.render(
        draft=envelope["report"], filled_by=FILLED_BY, status=STATUS, lines=lines, signed_json=script_json(envelope)
    )
