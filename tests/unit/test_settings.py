from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onshore.settings import ConfigError, load_settings, parse_settings
from tests.support.gateway import backend, rules


def minimal() -> dict[str, Any]:
    return {
        "backends": {"jp": backend("http://127.0.0.1:1/v1")},
        "models": {"chat": {"routes": [{"backend": "jp", "model": "m"}]}},
        "tenants": {"acme": rules(["JP"])},
    }


def error_of(raw: Any, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, "test", environ or {})
    return info.value


def test_builtin_defaults_load() -> None:
    settings = load_settings(None)
    assert settings.source == "built-in defaults"
    assert "local" in settings.file.models


def test_minimal_config_parses_with_strict_defaults() -> None:
    settings = parse_settings(minimal(), "test", {})
    assert settings.file.backends["jp"].storage_jurisdiction is None
    assert settings.file.tenants["acme"].classes["personal"].max_retention_days == 0


def test_unknown_key_names_its_path() -> None:
    raw = minimal()
    raw["tenants"]["acme"]["classes"]["personal"]["jurisdiction"] = ["JP"]  # misspelt
    error = error_of(raw)
    assert error.path == "tenants.acme.classes.personal"
    assert "unknown field `jurisdiction`" in str(error)


def test_unknown_top_level_key() -> None:
    raw = minimal()
    raw["tenant"] = {}
    assert "unknown field `tenant`" in str(error_of(raw))


def test_wrong_type_names_its_path() -> None:
    raw = minimal()
    raw["backends"]["jp"]["retention_days"] = "none"
    error = error_of(raw)
    assert error.path == "backends.jp.retention_days"
    assert "Expected `int" in str(error)


def test_dangling_backend_reference() -> None:
    raw = minimal()
    raw["models"]["chat"]["routes"][0]["backend"] = "nowhere"
    error = error_of(raw)
    assert error.path == "models.chat.routes[0].backend"
    assert "unknown backend 'nowhere'" in str(error)


def test_every_data_class_must_have_a_rule() -> None:
    raw = minimal()
    del raw["tenants"]["acme"]["classes"]["special_care"]
    error = error_of(raw)
    assert error.path == "tenants.acme.classes.special_care"


def test_unknown_data_class_is_refused() -> None:
    raw = minimal()
    raw["tenants"]["acme"]["classes"]["secret"] = {"jurisdictions": ["JP"]}
    assert error_of(raw).path == "tenants.acme.classes.secret"


@pytest.mark.parametrize("code", ["jp", "JPN", "Japan", ""])
def test_bad_country_codes(code: str) -> None:
    raw = minimal()
    raw["backends"]["jp"]["jurisdiction"] = code
    assert error_of(raw).path == "backends.jp.jurisdiction"


def test_wildcard_only_in_rules() -> None:
    raw = minimal()
    raw["backends"]["jp"]["jurisdiction"] = "*"
    assert error_of(raw).path == "backends.jp.jurisdiction"
    raw = minimal()
    raw["tenants"]["acme"]["classes"]["public"]["jurisdictions"] = ["*"]
    parse_settings(raw, "test", {})


def test_secret_comes_from_environment_and_is_never_shown() -> None:
    raw = minimal()
    raw["backends"]["jp"]["api_key_env"] = "JP_KEY"
    settings = parse_settings(raw, "test", {"JP_KEY": "sk-very-secret"})
    assert settings.secrets["jp"].value == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in repr(settings.secrets)


def test_missing_secret_names_the_variable_not_a_value() -> None:
    raw = minimal()
    raw["backends"]["jp"]["api_key_env"] = "JP_KEY"
    error = error_of(raw, {})
    assert error.path == "backends.jp.api_key_env"
    assert "JP_KEY is not set" in str(error)


def test_secret_literal_in_place_of_env_name_is_refused() -> None:
    raw = minimal()
    raw["backends"]["jp"]["api_key_env"] = "sk-abc-123"
    error = error_of(raw, {"sk-abc-123": "x"})
    assert "environment variable name" in str(error)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "onshore.yaml"
    path.write_text(
        "backends:\n  jp: {kind: openai, base_url: 'http://x/v1', jurisdiction: JP, operator: A,\n"
        "       operator_jurisdiction: JP, retention_days: 0, trains_on_inputs: false}\n"
        "  jp: {kind: openai, base_url: 'http://y/v1', jurisdiction: US, operator: B,\n"
        "       operator_jurisdiction: US, retention_days: 0, trains_on_inputs: false}\n"
        "models: {}\ntenants: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="duplicate key 'jp'"):
        load_settings(path)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("backends: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)


def test_model_not_served_by_backend() -> None:
    raw = minimal()
    raw["backends"]["jp"]["models"] = ["other"]
    assert error_of(raw).path == "models.chat.routes[0].model"
