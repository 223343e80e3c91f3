"""Rule checks: configured from YAML, sklearn-style, explained, honest about thin data and blind spots."""

import datetime as dt

import pandas as pd
import pytest
import yaml
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from features.catalog import BEHAVIOUR_CODES
from models.rules import HIT_COLUMNS, Rule, RulesConfig, RuleSet, RuleSpec
from pipelines.config import CadetConfig, ConfigError, bundled_rules_path, load_rules

START, END = dt.date(2026, 1, 5), dt.date(2026, 1, 11)


def window(rows):
    """Window features for a few reps: miss_rate with its peer median and z."""
    base = dict(period_start=START, period_end=END, peer_group="general", n_peers=10, days_active=5, new_hire=False,
                offers_acted=200.0, miss_rate=0.02, peer_miss_rate=0.02, z_miss_rate=0.0, csat=4.0, peer_csat=4.0, z_csat=0.0)
    return pd.DataFrame([{**base, **row} for row in rows])


def daily(rep, rates, offers=40):
    return pd.DataFrame([dict(rep_id=rep, day=START + dt.timedelta(days=i), offers_acted=float(offers),
                              offers_missed=float(offers) * r) for i, r in enumerate(rates)])


def rule(**params):
    base = dict(id="missed.test", code="missed_calls", feature="miss_rate", min_value=0.08, min_z=4.0,
                min_evidence={"offers_acted": 40}, min_days=2, severity="high",
                evidence="{rep} missed {value:.0%} (peers {peer_median:.0%}, z {z:.1f}) on {days_seen} of {days_active} days",
                examples="missed_offer")
    base.update(params)
    return Rule(RuleSpec(**base))


def test_rules_are_sklearn_estimators():
    r = rule()
    twin = clone(r)
    assert twin.get_params() == r.get_params() and twin is not r
    twin.set_params(spec=r.spec.model_copy(update={"min_z": 6.0}))
    assert twin.spec.min_z == 6.0 and r.spec.min_z == 4.0
    with pytest.raises(NotFittedError):
        r.predict(window([dict(rep_id="a")]))  # a rule judges only the feature table it was fitted on
    with pytest.raises(NotFittedError):
        RuleSet(rules=(r,)).evaluate(window([dict(rep_id="a")]), daily("a", [0.2]))
    assert r.fit(window([dict(rep_id="a")])) is r
    assert list(r.feature_names_in_) == ["miss_rate"]


def test_a_hit_needs_the_value_the_z_the_evidence_and_the_days():
    X = window([
        dict(rep_id="avoider", miss_rate=0.20, z_miss_rate=9.0),
        dict(rep_id="high_z_small_value", miss_rate=0.05, z_miss_rate=5.0),
        dict(rep_id="big_value_ordinary_peers", miss_rate=0.20, peer_miss_rate=0.18, z_miss_rate=1.0),
        dict(rep_id="too_few_offers", miss_rate=0.30, z_miss_rate=9.0, offers_acted=20.0),
        dict(rep_id="one_bad_day", miss_rate=0.10, z_miss_rate=5.0),
    ])
    d = pd.concat([daily("avoider", [0.2, 0.2, 0.25, 0.15, 0.2]), daily("one_bad_day", [0.02, 0.02, 0.4, 0.02, 0.02])])
    evidence = pd.DataFrame(dict(rep_id="avoider", day=START, kind="missed_offer", call_id=[f"c{i}" for i in range(7)],
                                 magnitude=range(7)))
    hits = RuleSet(rules=(rule(),)).fit(X).evaluate(X, d, evidence)
    assert list(hits.columns) == HIT_COLUMNS
    assert hits.rep_id.tolist() == ["avoider"]
    hit = hits.iloc[0]
    assert hit.severity == "high" and hit.days_seen == 5 and hit.value == 0.2
    assert hit.evidence == "avoider missed 20% (peers 2%, z 9.0) on 5 of 5 days"
    assert hit.examples == ["c6", "c5", "c4", "c3", "c2"], "up to five, the most telling first"


def test_thin_evidence_is_only_a_low_watch_item():
    X = window([dict(rep_id="a", miss_rate=0.2, z_miss_rate=9.0, offers_acted=60.0, days_active=2)])
    hits = rule().fit(X).explain(X, daily("a", [0.2, 0.2], offers=30))
    assert hits.severity.tolist() == ["low"]
    assert "Thin evidence" in hits.evidence.iloc[0]


def test_new_hires_get_only_low_hits_from_lenient_rules():
    X = window([dict(rep_id="new", miss_rate=0.2, z_miss_rate=9.0, new_hire=True)])
    d = daily("new", [0.2] * 5)
    assert rule(lenient_for_new_hires=True).fit(X).explain(X, d).severity.tolist() == ["low"]
    assert rule().fit(X).explain(X, d).severity.tolist() == ["high"]


def test_context_conditions_encode_one_metric_out_of_line_while_others_look_good():
    X = window([dict(rep_id="good_csat", miss_rate=0.2, z_miss_rate=9.0, z_csat=0.5),
                dict(rep_id="poor_csat", miss_rate=0.2, z_miss_rate=9.0, z_csat=-3.0)])
    r = rule(context=({"feature": "csat", "min_z": -1.0},)).fit(X)
    assert r.predict(X).tolist() == [True, False]


def test_a_context_the_source_cannot_show_is_skipped_and_the_hit_says_it_was_not_checked():
    """No surveys: a lingering or cherry-picking rule still stands on its own feature, with the doubt written down."""
    X = window([dict(rep_id="a", miss_rate=0.2, z_miss_rate=9.0, csat=float("nan"), peer_csat=float("nan"), z_csat=float("nan"))])
    r = rule(context=({"feature": "csat", "min_z": -1.0},)).fit(X, observable={"offers": True, "surveys": False})
    assert r.observable_ and r.context_not_observable_ == ["csat"]
    hit = r.explain(X, daily("a", [0.2] * 5)).iloc[0]
    assert "Not checked, because this source cannot show it: csat." in hit.evidence


def test_a_rule_the_source_cannot_feed_judges_nobody_and_says_why():
    X = window([dict(rep_id="a", hold_seconds_per_call=float("nan"), peer_hold_seconds_per_call=float("nan"),
                     z_hold_seconds_per_call=float("nan"), hold_observed_calls=0.0)])
    hold = rule(id="long_hold.test", code="long_hold", feature="hold_seconds_per_call", min_value=30,
                min_evidence={"hold_observed_calls": 40}, examples=None)
    rules = RuleSet(rules=(hold, rule())).fit(X, observable={"hold": False, "offers": True})
    assert rules.evaluate(X, daily("a", [0.0] * 5)).empty
    blind = rules.not_observable()
    assert blind.rule_id.tolist() == ["long_hold.test"]
    assert "hold_seconds" in blind.missing.iloc[0]


def test_the_shipped_rules_cover_every_behaviour_code_and_load():
    config = load_rules(CadetConfig())
    assert {r.code for r in config.rules} == set(BEHAVIOUR_CODES)
    assert bundled_rules_path().name == "rules.yaml"
    assert len(RuleSet.from_config(config).rules) == len(config.rules)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"feature": "miss_rat"}, "unknown feature 'miss_rat'"),
        ({"code": "napping"}, "unknown behaviour code 'napping'"),
        ({"evidence": "{rep} missed {valeu}"}, "evidence template cannot be filled"),
        ({"min_value": None, "min_z": None}, "give min_value, min_z or both"),
        ({"severity": "critical"}, "severity"),
    ],
)
def test_a_bad_rules_file_names_the_rule_and_the_reason(tmp_path, change, message):
    spec = dict(id="missed.mine", code="missed_calls", feature="miss_rate", min_value=0.1, min_z=3.0, evidence="{rep}")
    spec.update(change)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [spec]}))
    with pytest.raises(ConfigError) as err:
        load_rules(CadetConfig(rules_file=str(path)))
    assert str(path) in str(err.value) and "missed.mine" in str(err.value) and message in str(err.value)


def test_rule_ids_are_unique():
    spec = dict(id="same", code="missed_calls", feature="miss_rate", min_value=0.1, evidence="{rep}")
    with pytest.raises(ValueError, match="repeated"):
        RulesConfig.model_validate({"rules": [spec, spec]})


def personal_calls_window(rows):
    base = dict(period_start=START, period_end=END, peer_group="general", n_peers=40, days_active=5, new_hire=False,
                shift_seconds=5 * 8 * 3600.0, peer_personal_calls_per_shift=0.2, z_personal_calls_per_shift=0.0)
    return pd.DataFrame([{**base, **row} for row in rows])


def test_a_handful_of_events_is_not_a_finding_however_high_the_z():
    """A rule on a count asks whether chance at the peers' rate explains the count: three calls in a week can."""
    rule = Rule(RuleSpec(id="personal.test", code="personal_calls", feature="personal_calls_per_shift", min_value=0.5,
                min_z=4.0, min_evidence={"shift_seconds": 57600}, min_days=1, severity="high", evidence="{rep}"))
    X = personal_calls_window([
        dict(rep_id="three_calls", personal_calls=3.0, personal_calls_per_shift=0.6, z_personal_calls_per_shift=4.5),
        dict(rep_id="fifteen_calls", personal_calls=15.0, personal_calls_per_shift=3.0, z_personal_calls_per_shift=9.0),
    ])
    assert rule.fit(X).predict(X).tolist() == [False, True]
    chance = rule.chance(X)
    assert chance[0] > 0.05 and chance[1] < 1e-6


def test_a_sustained_hit_far_beyond_peers_with_ample_evidence_is_overwhelming():
    X = window([dict(rep_id="far", miss_rate=0.3, z_miss_rate=12.0, offers_missed=60.0),
                dict(rep_id="near", miss_rate=0.12, z_miss_rate=5.0, offers_missed=24.0)])
    d = pd.concat([daily("far", [0.3] * 5), daily("near", [0.12] * 5)])
    hits = rule().fit(X).explain(X, d).set_index("rep_id")
    assert bool(hits.loc["far", "overwhelming"]) and not bool(hits.loc["near", "overwhelming"])


def test_a_duration_is_never_overwhelming_on_its_own():
    """Four long technical pauses make minutes per hour jump: far beyond peers, yet chance cannot be judged."""
    tech = Rule(RuleSpec(id="tech.test", code="tech_excuse", feature="technical_minutes_per_shift_hour", min_value=1.5,
                min_z=4.0, min_evidence={"shift_seconds": 57600}, min_days=2, severity="high", evidence="{rep}"))
    X = pd.DataFrame([dict(rep_id="a", period_start=START, period_end=END, peer_group="g", n_peers=30, days_active=5,
                           new_hire=False, shift_seconds=5 * 8 * 3600.0, technical_seconds=4 * 1800.0,
                           technical_minutes_per_shift_hour=3.0, peer_technical_minutes_per_shift_hour=0.0,
                           z_technical_minutes_per_shift_hour=10.0)])
    d = pd.DataFrame([dict(rep_id="a", day=START + dt.timedelta(days=i), technical_seconds=1800.0 if i < 4 else 0.0,
                           shift_seconds=8 * 3600.0) for i in range(5)])
    hits = tech.fit(X).explain(X, d)
    assert hits.severity.tolist() == ["high"] and not bool(hits.overwhelming.iloc[0])


def test_a_fallback_rule_judges_only_where_the_stronger_rule_cannot():
    """Very short calls stand in for early hang-ups only when the log does not say who hung up."""
    strong = Rule(RuleSpec(id="early.strong", code="early_hangup", feature="early_hangup_rate", min_value=0.05, min_z=4.0,
                  severity="high", evidence="{rep}"))
    weak = Rule(RuleSpec(id="early.weak", code="early_hangup", feature="short_call_rate", min_value=0.05, min_z=4.0,
                severity="medium", evidence="{rep}", fallback_for="early.strong"))
    X = pd.DataFrame([dict(rep_id="a", period_start=START, period_end=END, answered=300.0, early_hangup_rate=0.15,
                           peer_early_hangup_rate=0.01, z_early_hangup_rate=9.0, short_call_rate=0.18,
                           peer_short_call_rate=0.03, z_short_call_rate=9.0)])
    rules = RuleSet(rules=(strong, weak)).fit(X, observable={"disconnect": True})
    assert [r.predict(X).iloc[0] for r in rules.rules_] == [True, False]
    rules = RuleSet(rules=(strong, weak)).fit(X.assign(early_hangup_rate=float("nan")), observable={"disconnect": False})
    assert [r.predict(X).iloc[0] for r in rules.rules_] == [False, True]


def test_fallback_for_must_name_a_rule():
    spec = dict(id="early.weak", code="early_hangup", feature="short_call_rate", min_value=0.05, evidence="{rep}",
                fallback_for="no.such.rule")
    with pytest.raises(ValueError, match="fallback_for names no rule"):
        RulesConfig(rules=[spec])
