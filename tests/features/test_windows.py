"""Windows sum their days; peers are the right peers; z-scores are robust and honest about thin data."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.daily import SUM_COLUMNS
from features.settings import FeatureSettings
from features.windows import rep_window_features, windows

MONDAY = dt.date(2026, 1, 5)
ALL_SHOWN = {k: True for k in ("offers", "hold", "ended_on_hold", "wrapup", "presence", "surveys", "outbound", "callers")}


def day_rows(rep, days=5, **sums):
    """Daily sums of an ordinary day's work; keyword sums override (a list gives one value per day)."""
    rows = []
    for i in range(days):
        row = {c: 0.0 for c in SUM_COLUMNS}
        row.update(offers_acted=60.0, offers_missed=1.0, answered=55.0, talk_seconds=55 * 240.0,
                   talk_log_ratio_sum=0.0, talk_ratio_calls=55.0, shift_seconds=8 * 3600.0, logged_in_seconds=8 * 3600.0,
                   available_seconds=7 * 3600.0, wrapup_observed_calls=55.0, wrapup_seconds=55 * 40.0)
        for key, value in sums.items():
            row[key] = float(value[i] if isinstance(value, list) else value)
        row.update(rep_id=rep, day=MONDAY + dt.timedelta(days=i), shift_start_hour=8.0)
        rows.append(row)
    return rows


def roster(n, queue="general", **extra):
    return [dict(rep_id=f"{queue}{i}", primary_queue=queue, hired_on="2020-01-01", contract="full_time", **extra) for i in range(n)]


def compute(daily_rows, roster_rows, settings=None):
    daily = pd.DataFrame(daily_rows)
    reps = pd.DataFrame(roster_rows)
    empty_queues = pd.DataFrame(columns=["rep_id", "queue", "answered"])
    return rep_window_features(daily, reps, empty_queues, ALL_SHOWN, settings or FeatureSettings(), MONDAY, MONDAY + dt.timedelta(days=6))


def test_windows_cover_the_range_without_gaps():
    got = windows(MONDAY, MONDAY + dt.timedelta(days=15), 7)
    assert got == [(MONDAY, MONDAY + dt.timedelta(days=6)), (MONDAY + dt.timedelta(days=7), MONDAY + dt.timedelta(days=13)),
                   (MONDAY + dt.timedelta(days=14), MONDAY + dt.timedelta(days=15))]


def test_a_window_is_the_ratio_of_its_sums_not_the_mean_of_daily_ratios():
    rows = day_rows("general0", days=2, offers_acted=[10, 90], offers_missed=[5, 9])
    rows += [r for i in range(1, 10) for r in day_rows(f"general{i}", days=2)]
    w = compute(rows, roster(10)).set_index("rep_id")
    assert w.loc["general0", "miss_rate"] == pytest.approx(14 / 100)


def test_one_day_of_accidental_do_not_disturb_is_not_a_pattern():
    rows = day_rows("general0", offers_missed=[1, 1, 25, 1, 1])
    rows += [r for i in range(1, 10) for r in day_rows(f"general{i}")]
    w = compute(rows, roster(10)).set_index("rep_id")
    assert w.loc["general0", "z_miss_rate"] >= 4, "the raw miss rate sees the burst"
    assert abs(w.loc["general0", "z_miss_rate_excl_worst_day"]) < 1, "without the worst day the rep is ordinary"


def test_new_hires_are_compared_with_new_hires():
    reps = roster(10) + [dict(rep_id=f"new{i}", primary_queue="general", hired_on="2025-12-20", contract="full_time") for i in range(8)]
    rows = [r for i in range(10) for r in day_rows(f"general{i}", wrapup_seconds=55 * (40 + i))]
    rows += [r for i in range(8) for r in day_rows(f"new{i}", wrapup_seconds=55 * (70 + i))]
    w = compute(rows, reps).set_index("rep_id")
    assert w.loc["new0", "new_hire"] and not w.loc["general0", "new_hire"]
    assert "new hires" in w.loc["new0", "peer_group"]
    assert w.loc["new3", "peer_wrapup_seconds_per_call"] == pytest.approx(73.5, abs=1)
    assert abs(w.loc["new7", "z_wrapup_seconds_per_call"]) < 3, "slow for a veteran, ordinary for a new hire"


def test_a_do_not_disturb_hour_that_rang_out_repeat_callers_is_not_cherry_picking():
    """The burst day is left out of the skip rates too: repeat callers rang out with everyone else that hour."""
    common = dict(offers_repeat=15, skips_repeat=0, offers_first=45, skips_first=1)
    rows = day_rows("general0", offers_missed=[1, 1, 25, 1, 1], **{**common, "skips_repeat": [0, 0, 12, 0, 0], "skips_first": [1, 1, 13, 1, 1]})
    rows += [r for i in range(1, 10) for r in day_rows(f"general{i}", **common)]
    w = compute(rows, roster(10)).set_index("rep_id")
    assert w.loc["general0", "repeat_skip_rate"] == 0 and abs(w.loc["general0", "z_repeat_skip_lift"]) < 2
    assert w.loc["general0", "offers_repeat"] == 60, "four days of repeat offers, the burst day left out"


def test_peers_are_chosen_by_the_calls_a_rep_got_not_by_the_routing_label():
    """Labelled 'general' but answering the technical queue all week: long calls are normal there."""
    reps = roster(10) + roster(9, queue="tech") + [dict(rep_id="moved", primary_queue="general", hired_on="2020-01-01",
                                                         contract="full_time")]
    rows = [r for i in range(10) for r in day_rows(f"general{i}")]
    rows += [r for i in range(9) for r in day_rows(f"tech{i}", talk_log_ratio_sum=55 * 0.02 * i)]
    rows += day_rows("moved", talk_log_ratio_sum=55 * 0.1)
    answered = pd.DataFrame([dict(rep_id=f"general{i}", queue="general", answered=275) for i in range(10)]
                            + [dict(rep_id=f"tech{i}", queue="tech", answered=275) for i in range(9)]
                            + [dict(rep_id="moved", queue="tech", answered=260), dict(rep_id="moved", queue="general", answered=15)])
    w = rep_window_features(pd.DataFrame(rows), pd.DataFrame(reps), answered, ALL_SHOWN, FeatureSettings(), MONDAY,
                            MONDAY + dt.timedelta(days=6)).set_index("rep_id")
    assert w.loc["moved", "primary_queue"] == "tech" and w.loc["moved", "peer_group"].startswith("tech")
    assert w.loc["general0", "primary_queue"] == "general", "the label still serves when the calls agree"


def test_a_small_queue_keeps_its_own_peers_before_the_site():
    """Eight tier-2 reps split by contract are still compared with tier 2, not with tier-1 reps."""
    reps = roster(20) + roster(5, queue="tier2") + [dict(rep_id=f"pt{i}", primary_queue="tier2", hired_on="2020-01-01",
                                                         contract="part_time") for i in range(3)]
    rows = [r for rep in reps for r in day_rows(rep["rep_id"])]
    w = compute(rows, reps).set_index("rep_id")
    assert w.loc["tier20", "peer_group"] == "tier2 · tenured" and w.loc["pt0", "peer_group"] == "tier2 · tenured"
    assert w.loc["tier20", "n_peers"] == 8


def test_a_small_peer_group_widens_to_the_next_level():
    reps = roster(12) + roster(3, queue="billing")
    rows = [r for rep in reps for r in day_rows(rep["rep_id"])]
    w = compute(rows, reps).set_index("rep_id")
    assert w.loc["general0", "peer_group"] == "general · early shift · full-time · tenured"
    assert w.loc["billing0", "peer_group"] == "all full-time · tenured"
    assert w.loc["billing0", "n_peers"] == 15


def test_part_timers_are_compared_with_part_timers():
    reps = roster(10) + [dict(rep_id=f"pt{i}", primary_queue="general", hired_on="2020-01-01", contract="part_time") for i in range(8)]
    rows = [r for rep in reps for r in day_rows(rep["rep_id"])]
    w = compute(rows, reps).set_index("rep_id")
    assert "part-time" in w.loc["pt0", "peer_group"] and "full-time" in w.loc["general0", "peer_group"]


def test_robust_z_ignores_an_outlier_peer_and_floors_the_spread():
    rows = [r for i in range(10) for r in day_rows(f"general{i}")]
    rows += day_rows("general10", personal_calls=[3, 4, 2, 5, 3])
    w = compute(rows, roster(11)).set_index("rep_id")
    assert w.loc["general0", "peer_personal_calls_per_shift"] == 0
    assert w.loc["general10", "z_personal_calls_per_shift"] == pytest.approx(3.4 / 0.3, rel=0.01), "spread floor 0.3 per shift"
    assert np.isfinite(w.z_personal_calls_per_shift).all()


def test_a_wide_honest_right_tail_raises_the_bar():
    """Peers who differ a lot above the median (as honest rates do) make the same rep less unusual."""
    tight = [r for i in range(12) for r in day_rows(f"general{i}", offers_acted=600, offers_missed=12 + (i % 3))]
    skewed = [r for i in range(12) for r in day_rows(f"general{i}", offers_acted=600, offers_missed=[10, 12, 13, 14, 30, 45][i % 6])]
    for rows in (tight, skewed):
        rows += day_rows("general12", offers_acted=600, offers_missed=70)
    z_tight = compute(tight, roster(13)).set_index("rep_id").loc["general12", "z_miss_rate"]
    z_skewed = compute(skewed, roster(13)).set_index("rep_id").loc["general12", "z_miss_rate"]
    assert z_tight > 4 > z_skewed


def test_too_little_evidence_gets_no_z():
    rows = [r for i in range(10) for r in day_rows(f"general{i}")]
    rows += day_rows("general10", days=1, offers_acted=8, offers_missed=4, answered=8, talk_ratio_calls=8, talk_log_ratio_sum=0)
    w = compute(rows, roster(11)).set_index("rep_id")
    assert w.loc["general10", "miss_rate"] == 0.5
    assert np.isnan(w.loc["general10", "z_miss_rate"]), "8 offers are too few to compare"


def test_features_the_source_cannot_show_stay_empty():
    rows = [r for i in range(10) for r in day_rows(f"general{i}")]
    daily = pd.DataFrame(rows)
    shown = dict(ALL_SHOWN, hold=False, ended_on_hold=False)
    w = rep_window_features(daily, pd.DataFrame(roster(10)), pd.DataFrame(columns=["rep_id", "queue", "answered"]), shown,
                            FeatureSettings(), MONDAY, MONDAY + dt.timedelta(days=6))
    assert w.hold_seconds_per_call.isna().all() and w.z_hold_seconds_per_call.isna().all()
    assert w.miss_rate.notna().all()


def test_a_peer_group_names_only_what_the_roster_and_the_logs_say():
    """A calls-only export with a bare roster: no shift, contract or tenure is stated that was not given."""
    reps = [dict(rep_id=f"general{i}", primary_queue="general") for i in range(10)]
    rows = [r | {"shift_start_hour": np.nan} for i in range(10) for r in day_rows(f"general{i}")]
    w = compute(rows, reps).set_index("rep_id")
    assert w.loc["general0", "peer_group"] == "general"
    assert not w.new_hire.any() and not w.part_time.any()
    few = compute([r | {"shift_start_hour": np.nan} for r in day_rows("solo")], [dict(rep_id="solo")]).set_index("rep_id")
    assert few.loc["solo", "peer_group"] == "all reps"
