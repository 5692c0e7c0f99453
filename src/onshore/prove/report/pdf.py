"""The sovereignty report as a PDF, with real (extractable) Japanese text.

reportlab's built-in CID fonts (HeiseiKakuGo-W5, HeiseiMin-W3) need no font file: the PDF names the
Adobe-Japan1 font with a Unicode CMap and the viewer supplies the glyphs, so the text extracts as
Unicode. `invariant` fixes the creation date and document id: the same signed report always renders
to the same bytes, which is how `onshore report verify FILE.pdf --signed FILE.json` checks a PDF.
"""

from __future__ import annotations

import functools
import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from onshore.prove.report.view import ReportView, Section, report_view
from onshore.prove.report.view import Table as TableView

GOTHIC = "HeiseiKakuGo-W5"
MINCHO = "HeiseiMin-W3"


@functools.cache
def _fonts() -> dict[str, ParagraphStyle]:
    pdfmetrics.registerFont(UnicodeCIDFont(GOTHIC))
    pdfmetrics.registerFont(UnicodeCIDFont(MINCHO))
    base = {"fontName": GOTHIC, "wordWrap": "CJK"}
    return {
        "title": ParagraphStyle("title", fontSize=17, leading=22, spaceAfter=4, **base),
        "subtitle": ParagraphStyle("subtitle", fontSize=9.5, leading=13, textColor=colors.HexColor("#444444"), **base),
        "h2": ParagraphStyle(
            "h2", fontSize=12, leading=16, spaceBefore=10, spaceAfter=4, textColor=colors.HexColor("#1b4f72"), **base
        ),
        "body": ParagraphStyle("body", fontName=MINCHO, fontSize=8.5, leading=12, wordWrap="CJK"),
        "cell": ParagraphStyle("cell", fontSize=7.5, leading=10, **base),
        "head": ParagraphStyle("head", fontSize=7.5, leading=10, textColor=colors.HexColor("#1b1b1b"), **base),
        "note": ParagraphStyle("note", fontName=MINCHO, fontSize=8, leading=11.5, wordWrap="CJK", leftIndent=6),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _two(ja: str, en: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(f"{escape(ja)}<br/>{escape(en)}", style)


def _section(section: Section, styles: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    out: list[Flowable] = [_p(f"{section.title[0]}  {section.title[1]}", styles["h2"])]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c4cc")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
    )
    if section.facts:
        rows = [[_two(label[0], label[1], styles["head"]), _p(value, styles["cell"])] for label, value in section.facts]
        facts = Table(rows, colWidths=[width * 0.38, width * 0.62])
        facts.setStyle(grid)
        facts.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#e8eef2"))]))
        out.append(facts)
    for table in section.tables:
        header = [_two(h[0], h[1], styles["head"]) for h in table.headers]
        body = [[_p(cell, styles["cell"]) for cell in row] for row in table.rows]
        if not body:
            body = [[_p(f"{table.empty[0]} / {table.empty[1]}", styles["cell"])] + [""] * (len(header) - 1)]
        grid_table = Table([header, *body], colWidths=_widths(table, width), repeatRows=1)
        grid_table.setStyle(grid)
        grid_table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef2"))]))
        out += [Spacer(1, 3), grid_table]
    for note in section.notes:
        out.append(_two(note[0], note[1], styles["note"]))
        out.append(Spacer(1, 3))
    return out


def _widths(table: TableView, width: float) -> list[float]:
    """Columns as wide as their longest text (within bounds): a reason or a hash gets room, a count
    does not; CJK characters count double, as they print about twice as wide."""

    def size(text: str) -> int:
        return sum(2 if ord(c) > 0x2E80 else 1 for c in text)

    weights = []
    for i, (ja, en) in enumerate(table.headers):
        longest = max([size(ja), size(en)] + [size(row[i]) for row in table.rows])
        weights.append(min(max(longest, 6), 48))
    total = sum(weights)
    return [width * w / total for w in weights]


def render_view_pdf(view: ReportView, footer: str) -> bytes:
    styles = _fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=f"{view.title[0]} / {view.title[1]}",
        author="Onshore",
        invariant=1,
    )
    width = doc.width
    story: list[Flowable] = [
        _p(f"{view.title[0]}  {view.title[1]}", styles["title"]),
        _p(f"{view.subtitle[0]} / {view.subtitle[1]}", styles["subtitle"]),
    ]
    for section in view.sections:
        story += _section(section, styles, width)
    if view.signature:
        story += _section(Section(("電子署名", "Signature"), facts=view.signature), styles, width)

    def page(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(GOTHIC, 7)
        canvas.drawString(15 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"{document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=page, onLaterPages=page)
    return buffer.getvalue()


def render_pdf(envelope: dict[str, Any]) -> bytes:
    footer = (
        f"Onshore データ主権レポート / sovereignty report  sha256 {envelope['sha256'][:32]}…  kid {envelope['kid']}"
    )
    return render_view_pdf(report_view(envelope), footer)
