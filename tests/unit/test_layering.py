"""The layering holds mechanically: pure stages import nothing that does I/O, and imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "onshore"
IO_MODULES = {
    "aiohttp",
    "asyncio",
    "sqlite3",
    "psycopg",
    "redis",
    "socket",
    "subprocess",
    "urllib",
    "http",
    "requests",
    "httpx",
    "yaml",
    "llama_cpp",
    "alembic",
    "sqlalchemy",
}
PURE = [
    *sorted((SRC / "decide").glob("*.py")),
    *sorted((SRC / "protect").glob("*.py")),
    SRC / "prove" / "chain.py",
    SRC / "prove" / "signer.py",
    SRC / "prove" / "record.py",
]
# Which onshore packages each stage may import (besides itself).
ALLOWED = {
    "decide": set(),
    "protect": set(),
    "prove": {"decide"},
    "identify": set(),
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_do_no_io(path: Path) -> None:
    offending = {name for name in imports(path) if name.split(".")[0] in IO_MODULES}
    assert not offending, f"{path.relative_to(SRC)} imports I/O modules {offending}"
    assert "open(" not in path.read_text(encoding="utf-8").replace("_open(", ""), "pure code opens no files"


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_imports_point_one_way(stage: str) -> None:
    for path in (SRC / stage).rglob("*.py"):
        for name in imports(path):
            parts = name.split(".")
            if parts[0] != "onshore" or len(parts) < 2 or parts[1] == stage:
                continue
            assert parts[1] in ALLOWED[stage], f"{path.relative_to(SRC)} imports {name}"
