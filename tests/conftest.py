"""Suite-wide: the access log of every gateway the tests start is checked at the end of the run for
personal values and credentials (tests/support/access_audit.py). A leak fails the run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.support.access_audit import ACCESS_LOG_ENV, leaks, suite_access_log


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(ACCESS_LOG_ENV):
        os.environ[ACCESS_LOG_ENV] = str(Path(tempfile.mkdtemp(prefix="onshore-access-")) / "access.log")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = suite_access_log()
    if path is None or not path.exists():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    found = leaks(text)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = len(text.splitlines())
    if reporter is not None:
        verdict = "no personal value or credential" if not found else f"{len(found)} LEAKS"
        reporter.write_line(f"suite access log {path}: {lines} lines, {verdict}")
        for leak in found[:20]:
            reporter.write_line(f"  line {leak.line}: {leak.kind}: {leak.excerpt}")
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
