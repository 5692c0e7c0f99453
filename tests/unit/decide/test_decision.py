from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onshore.decide.classes import DATA_CLASSES, stricter
from onshore.decide.decision import DecisionCache, RequestFacts, backend_violations, decide, evaluate
from onshore.decide.policy import BackendFacts, ModelGroup, Policy, Route, Rule, policy_hash

COUNTRIES = ["JP", "US", "DE", "SG", "KR"]


def facts(name: str, jurisdiction: str = "JP", **kw: object) -> BackendFacts:
    base: dict[str, object] = {
        "name": name,
        "jurisdiction": jurisdiction,
        "storage_jurisdiction": jurisdiction,
        "region": "r",
        "operator": "Op",
        "operator_jurisdiction": jurisdiction,
        "retention_days": 0,
        "trains_on_inputs": False,
    }
    base.update(kw)
    return BackendFacts(**base)  # type: ignore[arg-type]


def rule(tenant: str = "t", data_class: str = "personal", **kw: object) -> Rule:
    base: dict[str, object] = {
        "tenant": tenant,
        "data_class": data_class,
        "jurisdictions": frozenset({"JP"}),
        "storage_jurisdictions": frozenset({"JP"}),
        "operator_jurisdictions": frozenset({"JP"}),
        "max_retention_days": 0,
        "allow_training": False,
        "audit_content": "none",
    }
    base.update(kw)
    return Rule(**base)  # type: ignore[arg-type]


def make_policy(backends: list[BackendFacts], rules: list[Rule]) -> Policy:
    by_name = {b.name: b for b in backends}
    models = {"m": ModelGroup("m", "chat", tuple(Route(b, "up") for b in backends), frozenset())}
    rule_map = {(r.tenant, r.data_class): r for r in rules}
    return Policy(by_name, models, rule_map, policy_hash(by_name, models, rule_map))


def test_foreign_operator_in_japan_is_excluded_for_personal_data() -> None:
    us_run = facts("jp-dc-us-op", "JP", operator="Hyperscaler Inc", operator_jurisdiction="US")
    local = facts("local")
    policy = make_policy([us_run, local], [rule()])
    decision = decide(policy, RequestFacts("t", "personal", "m"), 1000.0, "d1")
    assert [r.backend.name for r in decision.verdict.allowed] == ["local"]
    assert decision.verdict.excluded[0].backend == "jp-dc-us-op"
    assert "operator Hyperscaler Inc is under US law" in decision.verdict.excluded[0].reasons[0]
    assert decision.policy_hash == policy.hash
    assert decision.id == "d1" and decision.decided_at == 1000.0


def test_storage_elsewhere_is_excluded() -> None:
    # OpenAI-style: storage in Japan, processing in the US; and the reverse.
    storage_only = facts("jp-storage", "US", storage_jurisdiction="JP", operator_jurisdiction="JP")
    processing_only = facts("jp-processing", "JP", storage_jurisdiction="US")
    policy = make_policy([storage_only, processing_only], [rule()])
    verdict = evaluate(policy, RequestFacts("t", "personal", "m"))
    assert verdict.allowed == ()
    reasons = {e.backend: e.reasons for e in verdict.excluded}
    assert reasons["jp-storage"] == ("processing jurisdiction US not in [JP]",)
    assert reasons["jp-processing"] == ("storage jurisdiction US not in [JP]",)
    assert verdict.denial is not None
    assert "rule tenants.t.classes.personal" in verdict.denial


def test_retention_and_training() -> None:
    keeps = facts("keeps", retention_days=30)
    trains = facts("trains", trains_on_inputs=True)
    strict = rule()
    lenient = rule(data_class="public", max_retention_days=30, allow_training=True)
    assert backend_violations(strict, keeps) == ("retains data 30 days, more than 0",)
    assert backend_violations(strict, trains) == ("trains on inputs, which the rule forbids",)
    assert backend_violations(lenient, keeps) == ()
    assert backend_violations(lenient, trains) == ()


def test_unknown_tenant_or_model_is_denied() -> None:
    policy = make_policy([facts("local")], [rule()])
    assert decide(policy, RequestFacts("other", "personal", "m"), 0, "x").denied
    assert decide(policy, RequestFacts("t", "personal", "nope"), 0, "x").denied


def test_any_country_wildcard() -> None:
    policy = make_policy(
        [facts("us", "US")],
        [rule(jurisdictions=None, storage_jurisdictions=None, operator_jurisdictions=None, data_class="public")],
    )
    assert not decide(policy, RequestFacts("t", "public", "m"), 0, "x").denied


def test_policy_hash_changes_with_any_fact() -> None:
    a = make_policy([facts("b")], [rule()])
    b = make_policy([facts("b", retention_days=1)], [rule()])
    c = make_policy([facts("b")], [rule(max_retention_days=1)])
    assert len({a.hash, b.hash, c.hash}) == 3


def test_cache_returns_same_verdict_with_fresh_ids() -> None:
    policy = make_policy([facts("local")], [rule()])
    cache = DecisionCache(policy)
    one = cache.decide(RequestFacts("t", "personal", "m"), 1.0, "a")
    two = cache.decide(RequestFacts("t", "personal", "m"), 2.0, "b")
    assert one.verdict is two.verdict
    assert (one.id, two.id) == ("a", "b")


def test_data_class_order() -> None:
    assert stricter("public", "personal") == "personal"
    assert stricter("special_care", "internal") == "special_care"


# --- property-based: the decision never includes a non-compliant backend -----------------------

country_sets = st.one_of(st.none(), st.frozensets(st.sampled_from(COUNTRIES), max_size=3))
backend_strategy = st.builds(
    facts,
    name=st.just("placeholder"),
    jurisdiction=st.sampled_from(COUNTRIES),
    storage_jurisdiction=st.sampled_from(COUNTRIES),
    operator_jurisdiction=st.sampled_from(COUNTRIES),
    retention_days=st.integers(0, 60),
    trains_on_inputs=st.booleans(),
)
rule_strategy = st.builds(
    rule,
    data_class=st.sampled_from(DATA_CLASSES),
    jurisdictions=country_sets,
    storage_jurisdictions=country_sets,
    operator_jurisdictions=country_sets,
    max_retention_days=st.integers(0, 60),
    allow_training=st.booleans(),
)


def complies(r: Rule, b: BackendFacts) -> bool:
    """An independent restatement of the rule, to check the implementation against."""

    def ok(allowed: frozenset[str] | None, value: str) -> bool:
        return allowed is None or value in allowed

    return (
        ok(r.jurisdictions, b.jurisdiction)
        and ok(r.storage_jurisdictions, b.storage_jurisdiction)
        and ok(r.operator_jurisdictions, b.operator_jurisdiction)
        and b.retention_days <= r.max_retention_days
        and (r.allow_training or not b.trains_on_inputs)
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(backend_strategy, min_size=1, max_size=6), rule_strategy)
def test_decision_is_exactly_the_compliant_backends_in_order(backends: list[BackendFacts], r: Rule) -> None:
    backends = [
        BackendFacts(f"b{i}", *(getattr(b, f) for f in BackendFacts.__slots__[1:])) for i, b in enumerate(backends)
    ]
    policy = make_policy(backends, [r])
    decision = decide(policy, RequestFacts(r.tenant, r.data_class, "m"), 0.0, "id")
    expected = [b.name for b in backends if complies(r, b)]
    assert [route.backend.name for route in decision.verdict.allowed] == expected
    assert decision.denied == (not expected)
    assert (decision.verdict.denial is not None) == decision.denied
    excluded = {e.backend for e in decision.verdict.excluded}
    assert excluded == {b.name for b in backends} - set(expected)
    assert all(e.reasons for e in decision.verdict.excluded)
