"""Rule hits and the model's score become one score, a tier and the behaviours behind it."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.combine import ScoringSettings, combine

W1, W2 = dt.date(2026, 1, 5), dt.date(2026, 1, 12)


def windows(*rows):
    return pd.DataFrame([dict(rep_id=r, period_start=s, period_end=s + dt.timedelta(days=6)) for r, s in rows])


def hits(*rows):
    """(rep, window, rule id, code, severity[, overwhelming])"""
    return pd.DataFrame([dict(rep_id=r[0], period_start=r[1], rule_id=r[2], code=r[3], severity=r[4],
                              overwhelming=r[5] if len(r) > 5 else False) for r in rows])


def test_one_high_hit_in_one_window_is_a_watch_item_that_names_the_behaviour():
    """Peer tails give the odd honest rep one unusual week: alone, it is a reason to look, not a case."""
    w = windows(("ann", W1), ("bob", W1))
    h = hits(("ann", W1, "quick_transfer.within_seconds", "quick_transfer", "high"))
    out = combine(w, h, np.array([0.5, 0.5]), [[], []], ScoringSettings()).set_index("rep_id")
    assert out.loc["ann", "tier"] == "watch" and out.loc["ann", "behaviours"] == ["quick_transfer"]
    assert out.loc["ann", "score"] == pytest.approx(0.6)
    assert out.loc["ann", "rule_hits"] == ["quick_transfer.within_seconds"]
    assert out.loc["bob", "tier"] == "clear" and out.loc["bob", "score"] == 0


def test_a_second_behaviour_or_overwhelming_evidence_makes_a_case_in_one_window():
    w = windows(("ann", W1), ("bob", W1), ("cat", W1))
    h = hits(("ann", W1, "quick_transfer.within_seconds", "quick_transfer", "high"),
             ("ann", W1, "missed.ring_no_answer", "missed_calls", "medium"),
             ("bob", W1, "missed.ring_no_answer", "missed_calls", "high", True),
             ("cat", W1, "missed.ring_no_answer", "missed_calls", "high"), ("cat", W1, "missed.declines", "missed_calls", "high"))
    out = combine(w, h, np.zeros(3), [[], [], []], ScoringSettings()).set_index("rep_id")
    assert out.loc["ann", "tier"] == "investigate" and out.loc["ann", "behaviours"] == ["missed_calls", "quick_transfer"]
    assert out.loc["bob", "tier"] == "investigate", "far beyond the peers, sustained, with ample evidence"
    assert out.loc["cat", "tier"] == "watch", "two rules seeing the same misses are one behaviour, not two"


def test_the_model_alone_can_only_put_a_rep_on_the_watch_list():
    w = windows(("ann", W1)).assign(z_toggles_per_shift_hour=6.0, z_csat=-2.0)
    out = combine(w, hits(), np.array([1.0]), [["toggles_per_shift_hour", "csat"]], ScoringSettings())
    assert out.tier.tolist() == ["watch"]
    assert out.score.iloc[0] == pytest.approx(0.5)
    assert out.behaviours.iloc[0] == ["status_gaming"], "codes of the features that drove the model"


def test_a_model_only_listing_names_only_the_suspicious_side_and_never_a_blind_behaviour():
    """Fewest short calls is no early hang-up; escalating later is no premature escalation; no hold data, no long hold."""
    w = windows(("ann", W1), ("bob", W1)).assign(
        z_early_hangup_rate=[-3.0, 5.0], z_seconds_to_escalate=[4.0, -4.0], z_hold_seconds_per_call=[6.0, 6.0])
    tops = [["early_hangup_rate", "seconds_to_escalate", "hold_seconds_per_call"]] * 2
    blind = pd.DataFrame({"period_start": [W1], "code": ["long_hold"]})
    out = combine(w, hits(), np.array([1.0, 1.0]), tops, ScoringSettings(), blind=blind).set_index("rep_id")
    assert out.loc["ann", "behaviours"] == [] and out.loc["ann", "tier"] == "clear", "unusual in no suspicious direction"
    assert out.loc["ann", "model_score"] == 0 and out.loc["ann", "anomaly_score"] == 1.0
    assert out.loc["bob", "behaviours"] == ["early_hangup", "premature_escalation"]


def test_low_hits_are_watch_items_and_behaviours_add_up_without_exceeding_one():
    w = windows(("ann", W1), ("bob", W1))
    h = hits(("ann", W1, "a", "missed_calls", "low"),
             ("bob", W1, "a", "missed_calls", "medium"), ("bob", W1, "b", "status_gaming", "medium"))
    out = combine(w, h, np.array([0.0, 0.0]), [[], []], ScoringSettings()).set_index("rep_id")
    assert out.loc["ann", "tier"] == "clear" and out.loc["ann", "behaviours"] == []
    assert out.loc["bob", "score"] == pytest.approx(1 - 0.45 * 0.45)
    assert (out.score <= 1).all()


def test_a_sustained_pattern_weighs_more_than_one_bad_window():
    w = windows(("ann", W1), ("ann", W2), ("bob", W2))
    h = hits(("ann", W1, "a", "missed_calls", "medium"), ("ann", W2, "a", "missed_calls", "medium"),
             ("bob", W2, "a", "missed_calls", "medium"))
    out = combine(w, h, np.zeros(3), [[], [], []], ScoringSettings())
    ann = out[(out.rep_id == "ann") & (out.period_start == W2)].iloc[0]
    bob = out[out.rep_id == "bob"].iloc[0]
    assert ann.sustained and not bob.sustained
    assert bob.score == pytest.approx(0.55) and ann.score == pytest.approx(1 - 0.45 * 0.65)
    assert ann.tier == "investigate" and bob.tier == "watch", "the same medium hit two weeks running is a pattern"


def test_settings_keep_the_tiers_in_order():
    with pytest.raises(ValueError, match="watch_at must be below"):
        ScoringSettings(watch_at=0.8, investigate_at=0.7)


def test_several_strong_behaviours_rank_above_one_and_nothing_reaches_one():
    w = windows(("ann", W1), ("bob", W1))
    h = hits(("ann", W1, "a", "missed_calls", "high"), ("ann", W1, "b", "status_gaming", "high"),
             ("bob", W1, "a", "missed_calls", "high", True))
    out = combine(w, h, np.array([0.99, 0.5]), [[], []], ScoringSettings()).set_index("rep_id")
    assert 1 > out.loc["ann", "score"] > out.loc["bob", "score"] == pytest.approx(0.85)


def test_the_model_alone_never_reaches_investigate_even_when_sustained():
    w = windows(("ann", W1), ("ann", W2)).assign(z_toggles_per_shift_hour=6.0)
    out = combine(w, hits(), np.array([1.0, 1.0]), [["toggles_per_shift_hour"], ["toggles_per_shift_hour"]], ScoringSettings())
    assert set(out.tier) == {"watch"}


def test_a_listed_rep_also_names_its_thin_evidence_behaviours_after_the_strong_ones():
    w = windows(("ann", W1), ("bob", W1))
    h = hits(("ann", W1, "long_hold.hold_time", "long_hold", "high"), ("ann", W1, "lingering.long_calls", "lingering", "low"),
             ("bob", W1, "lingering.long_calls", "lingering", "low"))
    out = combine(w, h, np.array([0.0, 0.0]), [[], []], ScoringSettings()).set_index("rep_id")
    assert out.loc["ann", "behaviours"] == ["long_hold", "lingering"]
    assert out.loc["bob", "tier"] == "clear" and out.loc["bob", "behaviours"] == [], "a low hit alone names nothing"
