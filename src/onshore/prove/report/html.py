"""The sovereignty report as one self-contained HTML page (no external assets), Japanese and English
side by side. Jinja2 with autoescape: every value from the records is escaped. The signed JSON is
embedded, so `onshore report verify page.html` can check the signature and that the page is exactly
what that JSON renders to."""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2

from onshore.prove.report.view import report_view

EMBEDDED_ID = "onshore-signed-report"
_OPEN = f'<script type="application/json" id="{EMBEDDED_ID}">'


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("onshore.prove.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def script_json(document: dict[str, Any]) -> str:
    """JSON safe inside <script>: `<`, `>` and `&` escaped, so no value can close the element; the
    templates insert it with `|safe` (HTML escaping would break the JSON)."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_html(envelope: dict[str, Any]) -> str:
    template = environment().get_template("sovereignty.html.j2")
    return template.render(
        view=report_view(envelope), tenant=envelope["report"]["tenant"], signed_json=script_json(envelope)
    )


def embedded_envelope(page: str) -> Any:
    """The signed JSON embedded in a page written by render_html; ValueError if there is none."""
    start = page.find(_OPEN)
    end = page.find("</script>", start)
    if start < 0 or end < 0:
        raise ValueError("the page holds no embedded signed report")
    return json.loads(page[start + len(_OPEN) : end])
