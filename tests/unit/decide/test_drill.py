"""The exit drill on a policy with several backends: who loses every compliant route, who fails over."""

from __future__ import annotations

from pathlib import Path

import pytest

from onshore.cli import main
from onshore.decide.declared import build_policy
from onshore.decide.drill import TermsChange, drill
from onshore.decide.policy import Policy
from tests.support.gateway import backend, make_settings


def settings(tmp: Path):  # type: ignore[no-untyped-def]
    backends = {
        "jp-main": backend("http://127.0.0.1:9/v1", "JP"),
        "jp-backup": backend("http://127.0.0.1:9/v1", "JP", operator="Backup KK"),
        "us-cloud": backend("http://127.0.0.1:9/v1", "US", operator="Hyperscaler Inc", retention_days=30),
    }
    models = {
        "chat": {"routes": [{"backend": "jp-main", "model": "m"}, {"backend": "jp-backup", "model": "m"}]},
        "big": {"routes": [{"backend": "us-cloud", "model": "m"}, {"backend": "jp-main", "model": "m"}]},
        "us-only": {"routes": [{"backend": "us-cloud", "model": "m"}]},
    }
    abroad = {"jurisdictions": ["JP", "US"], "max_retention_days": 30}
    home = {"jurisdictions": ["JP"]}
    tenants = {
        "acme": {
            "classes": {
                "public": abroad,
                "internal": abroad,
                "confidential": home,
                "personal": home,
                "special_care": home,
            }
        },
        "globex": {"classes": {c: abroad for c in ("public", "internal", "confidential", "personal", "special_care")}},
    }
    return make_settings(tmp, backends, models, tenants)


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return build_policy(settings(tmp_path).file)


def outcomes(result) -> dict[tuple[str, str, str], tuple[str, tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    return {(r.tenant, r.data_class, r.model): (r.outcome, r.after) for r in result.rows}


def test_a_backend_that_disappears_strands_only_the_models_that_had_no_other_route(policy: Policy) -> None:
    result = drill(policy, "us-cloud")
    rows = outcomes(result)
    assert rows[("acme", "public", "us-only")] == ("loses_every_route", ())
    assert rows[("acme", "public", "big")] == ("fails_over", ("jp-main",))
    assert rows[("globex", "special_care", "big")] == ("fails_over", ("jp-main",))
    assert ("acme", "personal", "big") not in rows  # us-cloud never served acme's personal data
    assert ("acme", "public", "chat") not in rows  # chat never used us-cloud
    # acme public+internal, globex all five classes: 7 combinations, each on two models
    assert len(result.stranded()) == 7 and sum(r.outcome == "fails_over" for r in result.rows) == 7
    summary = result.document()["summary"]
    assert summary["models_stranded"] == ["us-only"] and summary["tenants_stranded"] == ["acme", "globex"]


def test_losing_the_primary_fails_over_to_the_backup(policy: Policy) -> None:
    rows = outcomes(drill(policy, "jp-main"))
    assert rows[("acme", "personal", "chat")] == ("fails_over", ("jp-backup",))
    assert rows[("acme", "personal", "big")] == ("loses_every_route", ())  # us-cloud is not allowed for it
    assert rows[("globex", "personal", "big")] == ("fails_over", ("us-cloud",))


def test_changed_terms_exclude_the_backend_where_the_rules_forbid_them(policy: Policy) -> None:
    moved = drill(policy, "jp-backup", TermsChange(jurisdiction="US", storage_jurisdiction="US"))
    rows = outcomes(moved)
    assert rows[("acme", "personal", "chat")] == ("fails_over", ("jp-main",))
    assert ("globex", "personal", "chat") in rows  # still routed (US allowed) but personal data is now protected
    globex = next(r for r in moved.rows if (r.tenant, r.data_class, r.model) == ("globex", "personal", "chat"))
    assert globex.outcome == "unaffected" and (globex.protection_before, globex.protection_after) == (
        "allow",
        "pseudonymise",
    )
    trains = outcomes(drill(policy, "jp-main", TermsChange(trains_on_inputs=True)))
    assert trains[("acme", "personal", "chat")] == ("fails_over", ("jp-backup",))  # no rule allows training


def test_nothing_depends_on_a_backend_no_rule_allows(tmp_path: Path) -> None:
    only_home = settings(tmp_path)
    policy = build_policy(only_home.file)
    result = drill(policy, "jp-backup", TermsChange(retention_days=0))
    assert all(r.outcome == "unaffected" for r in result.rows) and not result.stranded()
    with pytest.raises(KeyError):
        drill(policy, "nope")


def test_the_command_prints_a_bilingual_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import yaml

    config = tmp_path / "onshore.yaml"
    config.write_text(yaml.safe_dump(_raw_config(tmp_path)), encoding="utf-8")
    assert main(["backends", "drill", "us-cloud", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "撤退訓練" in out and "経路なし / NO COMPLIANT ROUTE" in out and "us-only" in out
    assert main(["backends", "drill", "jp-main", "--trains-on-data", "--json", "--config", str(config)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["scenario"] == "changed_terms" and document["change"] == {"trains_on_inputs": True}
    assert main(["backends", "drill", "nope", "--config", str(config)]) == 2


def _raw_config(tmp: Path) -> dict[str, object]:
    def b(jurisdiction: str, **kw: object) -> dict[str, object]:
        return {
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "jurisdiction": jurisdiction,
            "operator": kw.pop("operator", "Local KK"),
            "operator_jurisdiction": jurisdiction,
            "retention_days": kw.pop("retention_days", 0),
            "trains_on_inputs": False,
            **kw,
        }

    abroad = {"jurisdictions": ["JP", "US"], "max_retention_days": 30}
    return {
        "gateway": {"data_dir": str(tmp)},
        "backends": {"jp-main": b("JP"), "us-cloud": b("US", operator="Hyperscaler Inc", retention_days=30)},
        "models": {
            "big": {"routes": [{"backend": "us-cloud", "model": "m"}, {"backend": "jp-main", "model": "m"}]},
            "us-only": {"routes": [{"backend": "us-cloud", "model": "m"}]},
        },
        "tenants": {
            "acme": {"classes": {c: abroad for c in ("public", "internal", "confidential", "personal", "special_care")}}
        },
    }
