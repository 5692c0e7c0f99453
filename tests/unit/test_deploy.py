"""The deployment files: they cannot run here (no container engine), so check what can be checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from onshore.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "onshore.yaml").read_text()) if d]


def test_cluster_config_is_valid() -> None:
    settings = load_settings(
        DEPLOY / "onshore.cluster.yaml",
        {"ONSHORE_DATABASE_URL": "postgresql://onshore@db/onshore", "ONSHORE_REDIS_URL": "redis://redis:6379/0"},
    )
    assert settings.gateway.storage == "postgresql"
    assert settings.gateway.redis is not None and settings.gateway.redis.kill_switch_when_unreachable == "closed"


def test_kubernetes_manifests() -> None:
    kinds = {d["kind"]: d for d in manifests()}
    assert set(kinds) == {"Job", "Deployment", "Service", "PodDisruptionBudget"}
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["envFrom"] == [{"secretRef": {"name": "onshore-secrets"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert kinds["Job"]["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["db", "upgrade"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert (
        kinds["Service"]["spec"]["selector"]
        == selector
        == kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    )


def test_kubernetes_manifests_against_the_api_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for document in manifests():
        kubernetes_validate.validate(document, "1.30", strict=True)


def test_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "gateway", "balancer"}
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 3
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    text = (DEPLOY / "compose.yaml").read_text()
    assert "ONSHORE_DB_PASSWORD:?" in text  # no default password: it must be supplied


def test_no_literal_secrets_in_deploy_files() -> None:
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "sk-" not in text and "BEGIN PRIVATE KEY" not in text, path
