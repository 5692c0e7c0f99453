"""The admin console, end to end in Chromium: sign in, the residency map, live decisions, the kill
switch, receipts, audit verification, reports; and what must be refused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import ADMIN_KEY, World, keep, sign_in_with_key

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_admin_key_sign_in_shows_the_residency_map(page: Page, world: World, artifacts: Path) -> None:
    sign_in_with_key(page, world)
    assert page.get_by_test_id("user").inner_text() == "admin key"
    backends = page.get_by_test_id("backends")
    for name in ("jp-tokyo", "jp-osaka", "us-east", "de-frankfurt"):
        assert backends.locator(f"tr[data-backend='{name}']").count() == 1
    us = backends.locator("tr[data-backend='us-east']").inner_text()
    assert "US (United States)" in us and "Hyperscaler Inc" in us and "30" in us
    assert page.locator(".country").all_inner_texts() == ["DE (Germany)", "JP (Japan)", "US (United States)"]
    # The check-config table, live: confidential data of acme may only go to the Japanese operators.
    row = page.locator("tr[data-tenant='acme'][data-class='confidential'][data-model='chat']")
    assert row.locator(".allowed .chip").all_inner_texts() == ["jp-tokyo", "jp-osaka"]
    excluded = row.locator(".excluded").inner_text()
    assert "us-east: processing jurisdiction US not in [JP]" in excluded
    assert "de-frankfurt" in excluded
    keep(page, artifacts, "residency")
