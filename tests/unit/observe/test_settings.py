"""gateway.access_log and gateway.telemetry: strict, with the valid values and the nearest named."""

from __future__ import annotations

from onshore.settings import ConfigErrors, parse_settings
from tests.unit.test_settings import error_of, minimal


def test_logs_and_traces_are_off_unless_configured() -> None:
    gateway = parse_settings(minimal(), "test", {}).gateway
    assert gateway.access_log is None and gateway.telemetry.otlp is None


def test_a_bad_format_a_misspelt_key_and_a_bad_endpoint_are_named_with_the_fix() -> None:
    raw = minimal()
    raw["gateway"] = {"access_log": {"format": "jsn", "path": "stdout"}}
    assert "valid values: json, logfmt; did you mean 'json'?" in str(error_of(raw))
    raw["gateway"] = {"telemetry": {"otlp": {"endpont": "http://127.0.0.1:4318/v1/traces"}}}
    assert "did you mean `endpoint`?" in str(error_of(raw))
    raw["gateway"] = {"telemetry": {"otlp": {"endpoint": "127.0.0.1:4318", "queue_size": 0}}}
    error = error_of(raw)
    found = {e.path: e.message for e in (error.errors if isinstance(error, ConfigErrors) else [error])}
    assert found["gateway.telemetry.otlp.endpoint"] == "must be an http:// or https:// URL"
    assert found["gateway.telemetry.otlp.queue_size"] == "must be positive"
