"""The layering holds mechanically: pure stages import nothing that does I/O, and imports point one way.

Every module under src/onshore belongs to a component (a stage folder or a top-level module), and
ALLOWED says which other components it may import. Imports inside functions count too (a lazy import
is still a dependency). Today's breaks of the intended layering are listed in KNOWN_DEBT, each with
its reason; the tests pass with them and fail on any new break, and on an entry that no longer
occurs (so a fix removes its entry).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
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
# Folders whose every module is pure: their ruff contract also bans the I/O modules.
PURE_FOLDERS = ("decide", "events", "identify", "protect", "translate")
SERVICE_NO_HTTP = ("aiohttp", "http")
PURE = [
    *(path for folder in PURE_FOLDERS for path in sorted((SRC / folder).rglob("*.py"))),
    SRC / "prove" / "chain.py",
    SRC / "prove" / "signer.py",
    SRC / "prove" / "record.py",
    SRC / "prove" / "receipt.py",
    SRC / "prove" / "incident.py",
    SRC / "prove" / "report" / "evidence.py",
    SRC / "prove" / "report" / "signed.py",
    SRC / "prove" / "report" / "sovereignty.py",
    SRC / "prove" / "report" / "view.py",
]
EVERYTHING = "*"
# Which other onshore components each component may import. Stages are folders; the rest are
# top-level modules. `__init__` is the package's own __init__ (its version string).
ALLOWED: dict[str, set[str] | str] = {
    # Pure stages.
    "decide": {"refusal"},
    "protect": {"decide", "refusal"},
    "identify": set(),
    # events: the security-event vocabulary, a pure leaf every stage may emit through.
    "prove": {"decide", "events"},
    "events": set(),
    # Pure: OpenAI <-> other wire dialects, for edge (clients) and route (backends).
    "translate": {"refusal"},
    # Stages that do I/O through what they are given; never HTTP errors, never a concrete store.
    "route": {"decide", "refusal", "worker", "translate", "events"},
    "store": {"decide", "identify", "prove", "worker"},
    # The request path: runs the stages in order. It knows no HTTP (that is the edge's job): no edge,
    # no aiohttp (see test_the_service_knows_no_http).
    "service": {
        "decide",
        "identify",
        "protect",
        "prove",
        "route",
        "refusal",
        "clock",
        "ids",
        "metrics",
        "events",
        "observe",
    },
    # observe: the access log and traces, read from the audit trace (prove); its OTLP sender does
    # HTTP off the request path (the service imports only access_log and spans, which do none).
    "observe": {"prove", "metrics", "settings", "__init__"},
    # HTTP: reads requests, calls the service, writes answers. Nothing but app and cli imports it.
    "edge": {"decide", "identify", "prove", "service", "refusal", "metrics", "translate", "events"},
    # siem: sends events to the configured sinks (I/O); reads its settings, renders events as OCSF.
    "siem": {"events", "settings", "ids", "__init__"},
    # The admin console (HTTP, like edge; only app imports it): reads the stages' state through
    # console/parts.py, and runs the CLI's own verify/export/report code (cli) rather than a second copy.
    "console": {"decide", "identify", "prove", "protect", "refusal", "settings", "worker", "ids", "cli"},
    # Leaves and configuration. `refusal` is the refusal vocabulary: stages raise it, edge/errors.py
    # alone maps it to HTTP.
    "refusal": set(),
    # identify: the claim-mapping presets (pure), so a mapping that names no claim is a config error.
    "settings": {"decide", "identify"},
    "clock": set(),
    "ids": set(),
    "metrics": set(),
    "worker": set(),
    "__init__": set(),
    # Config reload: reads and diffs settings, records the attempt; what it builds and swaps it is
    # handed (generation.Serving), so it knows no stage.
    "reload": {"settings", "prove", "ids", "events"},
    # Composition roots: they wire everything. generation: one config's request path (app and reload).
    "app": EVERYTHING,
    "generation": EVERYTHING,
    "cli": EVERYTHING,
    "__main__": {"cli"},
}
COMPOSITION = {"app", "generation", "cli", "__main__"}

# (module, component it imports) -> why it is still allowed. Remove an entry when it is fixed.
KNOWN_DEBT: dict[tuple[str, str], str] = {}


def component(path: Path) -> str:
    first = path.relative_to(SRC).parts[0]
    return first.removesuffix(".py")


def modules() -> Iterator[Path]:
    yield from sorted(SRC.rglob("*.py"))


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path.relative_to(SRC)}: use absolute imports"
            found.add(node.module)
            if node.module == "onshore":  # `from onshore import x`: a module, or __init__'s attribute
                found |= {f"onshore.{alias.name}" for alias in node.names}
    return found


def target(name: str) -> str | None:
    """The onshore component an imported name belongs to (None: not onshore)."""
    parts = name.split(".")
    if parts[0] != "onshore":
        return None
    if len(parts) == 1:
        return "__init__"
    if (SRC / parts[1]).is_dir() or (SRC / f"{parts[1]}.py").is_file():
        return parts[1]
    return "__init__"


def edges() -> set[tuple[str, str]]:
    """Every (module, imported component) across components, module as a path under src/onshore."""
    found = set()
    for path in modules():
        own = component(path)
        for name in imports(path):
            other = target(name)
            if other is not None and other != own:
                found.add((path.relative_to(SRC).as_posix(), other))
    return found


@cache
def module_file(name: str) -> Path | None:
    """The file an onshore module name resolves to (a package's __init__.py), if any."""
    relative = Path(*name.split(".")[1:])
    for candidate in (SRC / relative.with_suffix(".py"), SRC / relative / "__init__.py"):
        if relative.parts and candidate.is_file():
            return candidate
    return None


def reachable(path: Path) -> set[Path]:
    """Every onshore module `path` imports, directly or through other onshore modules."""
    seen, todo = {path}, [path]
    while todo:
        for name in imports(todo.pop()):
            if target(name) is None:
                continue
            file = module_file(name)
            if file is not None and file not in seen:
                seen.add(file)
                todo.append(file)
    return seen


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_do_no_io(path: Path) -> None:
    # Transitively: a pure module importing onshore.settings would import yaml and the environment.
    for module in reachable(path):
        offending = {name for name in imports(module) if name.split(".")[0] in IO_MODULES}
        via = "" if module == path else f" (through {module.relative_to(SRC)})"
        assert not offending, f"{path.relative_to(SRC)} imports I/O modules {offending}{via}"
    assert "open(" not in path.read_text(encoding="utf-8").replace("_open(", ""), "pure code opens no files"


def test_every_module_belongs_to_a_known_component() -> None:
    unknown = {component(p) for p in modules()} - set(ALLOWED)
    assert not unknown, f"new components {unknown}: give each a place and its allowed imports in ALLOWED"


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_imports_point_one_way(stage: str) -> None:
    allowed = ALLOWED[stage]
    if allowed == EVERYTHING:
        return
    broken = [
        f"{module} imports onshore.{other}"
        for module, other in sorted(edges())
        if module.split("/")[0].removesuffix(".py") == stage
        and other not in allowed
        and (module, other) not in KNOWN_DEBT
    ]
    assert not broken, "\n".join(broken)


def test_only_the_composition_roots_import_edge() -> None:
    importers = {(m, o) for m, o in edges() if o == "edge" and m.split("/")[0].removesuffix(".py") not in COMPOSITION}
    assert importers <= set(KNOWN_DEBT), f"new imports of edge: {sorted(importers - set(KNOWN_DEBT))}"


def test_the_service_knows_no_http() -> None:
    """No HTTP server or client in the service: the edge hands it ports, route translates the backend's errors."""
    for path in sorted((SRC / "service").rglob("*.py")):
        http = {name for name in imports(path) if name.split(".")[0] in {"aiohttp", "http"}}
        assert not http, f"{path.relative_to(SRC)} imports {http}"


def test_the_service_uses_only_the_parts_of_observe_that_do_no_io() -> None:
    """The service writes log lines and notes spans; the OTLP sender (aiohttp) is app.py's to start."""
    for path in sorted((SRC / "service").rglob("*.py")):
        used = {name for name in imports(path) if name.startswith("onshore.observe")}
        assert used <= {"onshore.observe.access_log", "onshore.observe.spans"}, f"{path.relative_to(SRC)}: {used}"
    for name in ("access_log.py", "spans.py"):
        io = {m for m in imports(SRC / "observe" / name) if m.split(".")[0] in IO_MODULES}
        assert not io, f"observe/{name} imports {io}"


def test_decide_and_route_never_import_edge() -> None:
    for module, other in edges():
        if module.split("/")[0] in {"decide", "route"} and other == "edge":
            assert (module, other) in KNOWN_DEBT, f"{module} imports edge"
    assert not [m for m, o in edges() if m.startswith("decide/") and o == "edge"]


def test_known_debt_is_still_owed() -> None:
    """An entry whose import is gone is removed, so the list stays the real debt."""
    stale = set(KNOWN_DEBT) - edges()
    assert not stale, f"fixed, remove from KNOWN_DEBT: {sorted(stale)}"
    for (module, other), reason in KNOWN_DEBT.items():
        allowed = ALLOWED[module.split("/")[0].removesuffix(".py")]
        assert allowed != EVERYTHING and other not in allowed, f"{module} -> {other} needs no debt entry"
        assert reason.startswith("known debt, issue 9"), reason


# --- the same contracts, per folder, for ruff (TID251: banned-api) ---------------------------------
# Each stage folder carries a ruff.toml generated from ALLOWED, so an editor (and `ruff check` in
# `make test`) flags a forbidden import on the line it is written. This test keeps them in step;
# `python -m tests.unit.test_layering` rewrites them after ALLOWED changes.
RUFF_HEADER = """\
# Layering contract of {folder}/: the onshore components it may not import (ruff TID251, run by
# `make test`). Generated from ALLOWED in tests/unit/test_layering.py; do not edit by hand: change
# ALLOWED and run `python -m tests.unit.test_layering`.
extend = "../../../pyproject.toml"

[lint.flake8-tidy-imports.banned-api]
"""


def ruff_contract(folder: str) -> str:
    allowed = ALLOWED[folder]
    assert allowed != EVERYTHING
    may = ", ".join(sorted(allowed)) or "no other component"
    banned = [
        (f"onshore.{other}", f"{folder}/ may import only {may} (tests/unit/test_layering.py)")
        for other in sorted(ALLOWED)
        if other not in allowed and other not in {folder, "__init__"}
    ]
    if folder in PURE_FOLDERS:
        banned += [(name, f"{folder}/ is pure: no I/O") for name in sorted(IO_MODULES)]
    elif folder == "service":
        banned += [(name, "service/ knows no HTTP: the edge and route translate") for name in SERVICE_NO_HTTP]
    body = "".join(f'"{name}".msg = "{why}"\n' for name, why in banned)
    return RUFF_HEADER.format(folder=folder) + body


def contract_folders() -> list[str]:
    return [c for c in sorted(ALLOWED) if (SRC / c).is_dir() and ALLOWED[c] != EVERYTHING]


@pytest.mark.parametrize("folder", contract_folders())
def test_every_stage_folder_carries_its_ruff_contract(folder: str) -> None:
    path = SRC / folder / "ruff.toml"
    assert path.is_file() and path.read_text(encoding="utf-8") == ruff_contract(folder), (
        f"{path.relative_to(SRC.parents[1])} is missing or out of date: run `python -m tests.unit.test_layering`"
    )


def test_ruff_enforces_the_banned_imports() -> None:
    """The contract really bites: ruff on a probe file in decide/ importing edge reports TID251."""
    ruff = Path(sys.executable).parent / "ruff"
    probe = SRC / "decide" / "_layering_probe.py"
    probe.write_text("from onshore.edge import errors\n", encoding="utf-8")
    try:
        found = subprocess.run(
            [str(ruff), "check", "--no-cache", "--select", "TID251", "--output-format", "concise", str(probe)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        probe.unlink()
    assert found.returncode == 1 and "TID251" in found.stdout and "onshore.edge" in found.stdout, found.stdout


if __name__ == "__main__":
    for name in contract_folders():
        (SRC / name / "ruff.toml").write_text(ruff_contract(name), encoding="utf-8")
        print(f"wrote src/onshore/{name}/ruff.toml")
