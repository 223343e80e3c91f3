"""Verdicts: dismissed flags stay down on the same evidence, confirmed ones judge the next model."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.promotion import TrainingSettings, promotion_gates
from models.review import NoSuchWindow, ReviewSettings, apply_verdicts, confirmed_precision, latest_verdicts, window_under_review

W1, W2, W3 = dt.date(2026, 1, 5), dt.date(2026, 1, 12), dt.date(2026, 3, 2)


def scores(*rows):
    return pd.DataFrame([dict(rep_id=r, period_start=s, period_end=s + dt.timedelta(days=6), tier=t, score=0.9,
                              behaviours=b) for r, s, t, b in rows])


def verdict(rep, start, kind, behaviours=(), at="2026-01-20T10:00:00", reason="headset fault"):
    return dict(rep_id=rep, period_start=start, period_end=start + dt.timedelta(days=6), verdict=kind, reason=reason,
                reviewer="alice", recorded_at=pd.Timestamp(at, tz="UTC"), note=None, behaviours=list(behaviours),
                rule_hits=[])


def test_a_dismissed_flag_is_not_raised_again_on_the_same_evidence_but_a_new_behaviour_is():
    s = scores(("ann", W1, "investigate", ["missed_calls"]), ("ann", W2, "watch", ["missed_calls"]),
               ("bob", W2, "investigate", ["missed_calls", "long_hold"]), ("ann", W3, "investigate", ["missed_calls"]))
    v = pd.DataFrame([verdict("ann", W1, "dismissed", ["missed_calls"]), verdict("bob", W1, "dismissed", ["missed_calls"])])
    out = apply_verdicts(s, v, ReviewSettings()).set_index(["rep_id", "period_start"])
    assert out.loc[("ann", W1), "tier"] == "clear" and out.loc[("ann", W1), "previously_dismissed"]
    assert out.loc[("ann", W2), "tier"] == "clear", "the next window with the same behaviour stays down"
    assert "headset fault" in out.loc[("ann", W2), "dismissed_reason"]
    assert out.loc[("bob", W2), "tier"] == "investigate", "long_hold is new evidence: raised again"
    assert out.loc[("ann", W3), "tier"] == "investigate", "a dismissal does not last forever (28 days by default)"
    assert out.loc[("ann", W1), "flag_tier"] == "investigate", "what the evidence said is kept"


def test_the_last_verdict_for_a_window_is_the_one_in_force():
    s = scores(("ann", W1, "investigate", ["missed_calls"]))
    v = pd.DataFrame([verdict("ann", W1, "dismissed", ["missed_calls"], at="2026-01-20T10:00:00"),
                      verdict("ann", W1, "confirmed", ["missed_calls"], at="2026-01-21T09:00:00")])
    assert len(latest_verdicts(v)) == 1
    out = apply_verdicts(s, v, ReviewSettings())
    assert out.tier.tolist() == ["investigate"] and out.verdict.tolist() == ["confirmed"]
    again = apply_verdicts(out, v.iloc[:1], ReviewSettings())
    assert again.tier.tolist() == ["clear"], "verdicts re-apply from the evidence's tier, not from a previous result"


class Scorer:
    """Stands in for a fitted model: fixed anomaly scores by rep."""

    def __init__(self, by_rep):
        self.by_rep = by_rep
        self.features_in_ = ["z_miss_rate"]
        self.feature_medians_ = {"z_miss_rate": 0.0}

    def anomaly_score(self, windows):
        return np.array([self.by_rep.get(r, 0.1) for r in windows.rep_id])


def _windows(n=10):
    return pd.DataFrame({"rep_id": [f"r{i}" for i in range(n)], "period_start": [W1] * n, "z_miss_rate": np.zeros(n)})


def test_the_promotion_gate_refuses_a_model_that_loses_the_confirmed_flags():
    windows = _windows()
    v = pd.DataFrame([verdict("r1", W1, "confirmed"), verdict("r2", W1, "confirmed"), verdict("r3", W1, "dismissed")])
    champion = Scorer({"r1": 0.9, "r2": 0.8, "r3": 0.3})
    worse = Scorer({"r3": 0.95, "r5": 0.9, "r1": 0.2})
    gates = {g.name: g for g in promotion_gates(worse, champion, windows, TrainingSettings(), windows, v)}
    gate = gates["confirmed flags"]
    assert not gate.passed and gate.value == 0 and gate.limit == pytest.approx(0.9)
    assert "2 rep-windows" in gate.reason and "champion: 100%" in gate.reason
    as_good = Scorer({"r1": 0.7, "r2": 0.95})
    assert {g.name: g for g in promotion_gates(as_good, champion, windows, TrainingSettings(), windows, v)}[
        "confirmed flags"].passed


def test_without_confirmed_flags_the_gate_says_so_and_does_not_block():
    windows = _windows()
    champion, candidate = Scorer({}), Scorer({})
    gate = promotion_gates(candidate, champion, windows, TrainingSettings(), windows, pd.DataFrame())[-1]
    assert gate.passed and "no analyst verdicts" in gate.reason
    only_dismissed = pd.DataFrame([verdict("r1", W1, "dismissed")])
    assert confirmed_precision(windows, np.zeros(10), only_dismissed) is None


def test_a_verdict_is_for_the_named_window_else_the_reps_highest_scored_one():
    table = scores(("agent1", W1, "watch", ["long_hold"]), ("agent1", W2, "investigate", ["long_hold"]),
                   ("agent2", W1, "clear", []))
    table["score"] = [0.5, 0.8, 0.1]
    assert window_under_review(table, "agent1", None).period_start == W2
    assert window_under_review(table, "agent1", W1).score == 0.5
    with pytest.raises(NoSuchWindow, match="windows: 2026-01-05, 2026-01-12"):
        window_under_review(table, "agent1", W3)
    with pytest.raises(NoSuchWindow, match="'agent9' is not in the scores"):
        window_under_review(table, "agent9", None)
    assert len(table) == 3 and list(table.score) == [0.5, 0.8, 0.1], "the scores are left as they were"
