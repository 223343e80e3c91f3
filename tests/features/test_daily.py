"""Each feature on tiny hand-built tables, the misdiagnosis guards included."""

import math

import pandas as pd
import pytest

from features.catalog import BEHAVIOUR_CODES, FEATURES, feature_values
from features.daily import SUM_COLUMNS, peak_intervals, rep_day_features
from features.settings import FeatureSettings
from tests.features import builders as b


def run(tables, **settings):
    return rep_day_features(tables, FeatureSettings(**settings), "UTC", 60)


def values(daily, rep="ann"):
    per_rep = daily.sums.groupby("rep_id")[list(SUM_COLUMNS)].sum()
    return feature_values(per_rep, daily.observable).loc[rep]


def test_every_behaviour_code_has_a_feature():
    assert {f.code for f in FEATURES if f.code} == set(BEHAVIOUR_CODES)


def test_missed_and_declined_offers_but_not_callers_hanging_up_while_it_rang():
    calls = b.calls([{} for _ in range(6)])
    offers = b.offers([
        ("c0", "ann", 0, 5, "answered"), ("c1", "ann", 10, 15, "ring_no_answer"), ("c2", "ann", 20, 3, "declined"),
        ("c3", "ann", 30, 6, "answered"), ("c4", "ann", 40, 8, "caller_abandoned"), ("c5", "ann", 50, 4, "answered"),
    ])
    daily = run({"calls": calls, "offers": offers})
    v = values(daily)
    assert v.miss_rate == pytest.approx(2 / 5), "a caller hanging up while it rang is not the rep's miss"
    assert v.decline_rate == pytest.approx(1 / 5)
    examples = daily.evidence[daily.evidence.kind == "missed_offer"].call_id.tolist()
    assert set(examples) == {"c1", "c2"}


def test_early_hangups_are_short_calls_the_rep_ended_and_the_callbacks_after_them():
    rows = [dict(talk=240) for _ in range(7)]
    rows += [
        dict(talk=12, disconnected_by="agent", caller_key=77),       # early hang-up ...
        dict(talk=9, disconnected_by="agent"),                        # early hang-up
        dict(talk=12, disconnected_by="caller"),                      # the caller hung up: not the rep's
        dict(talk=15, disconnected_by="transfer", transfer_kind="queue"),  # a transfer, counted elsewhere
        dict(answer=600, talk=200, caller_key=77),                    # ... after which the caller called again
    ]
    daily = run({"calls": b.calls(rows)})
    v = values(daily)
    assert v.early_hangup_rate == pytest.approx(2 / 12)
    assert v.early_hangup_callback_rate == pytest.approx(1 / 2)
    assert set(daily.evidence[daily.evidence.kind == "early_hangup"].call_id) == {"c7", "c8"}


def test_the_short_call_limit_follows_the_centres_own_call_lengths():
    """Where calls last 100 s, 15 s is a quick answer, not "within seconds"; the limit is 10% of the queue's median."""
    rows = [dict(talk=100) for _ in range(8)] + [dict(talk=15, disconnected_by="agent"), dict(talk=8, disconnected_by="agent")]
    v = values(run({"calls": b.calls(rows)}))
    assert v.early_hangup_rate == pytest.approx(1 / 10)
    fixed = values(run({"calls": b.calls(rows)}, short_call_share_of_median=0))
    assert fixed.early_hangup_rate == pytest.approx(2 / 10), "0 turns the centre-relative limit off: 30 s everywhere"


def test_without_who_hung_up_very_short_calls_are_counted_and_early_hang_ups_are_not_observable():
    rows = [dict(talk=240, disconnected_by=None) for _ in range(8)]
    rows += [dict(talk=6, disconnected_by=None), dict(talk=11, disconnected_by=None),
             dict(talk=9, disconnected_by=None, transfer_kind="queue")]
    daily = run({"calls": b.calls(rows)})
    v = values(daily)
    assert not daily.observable["disconnect"] and math.isnan(v.early_hangup_rate), "not observable, never zero"
    assert v.short_call_rate == pytest.approx(2 / 11), "a transfer is not a short call"
    assert set(daily.evidence[daily.evidence.kind == "very_short_call"].call_id) == {"c8", "c9"}


def test_hold_per_call_and_hang_ups_on_hold():
    rows = [dict(hold_seconds=0) for _ in range(6)] + [dict(hold_seconds=300, ended_on_hold=True), dict(hold_seconds=60)]
    v = values(run({"calls": b.calls(rows)}))
    assert v.hold_seconds_per_call == pytest.approx(360 / 8)
    assert v.hold_hangup_rate == pytest.approx(1 / 8)


def test_hold_that_the_source_cannot_show_is_empty_not_zero():
    calls = b.calls([dict(hold_seconds=None, ended_on_hold=None) for _ in range(5)])
    daily = run({"calls": calls})
    assert daily.observable["hold"] is False and daily.observable["ended_on_hold"] is False
    v = values(daily)
    assert math.isnan(v.hold_seconds_per_call) and math.isnan(v.hold_hangup_rate)
    assert daily.sums.hold_observed_calls.sum() == 0


def test_who_hung_up_and_transfers_the_source_cannot_show_are_empty_not_zero():
    """A log without the disconnect side (the Anonymous Bank log) or without transfers says nothing about them."""
    calls = b.calls([dict(talk=8, disconnected_by=None, transfer_kind="unknown") for _ in range(3)] +
                    [dict(disconnected_by=None, transfer_kind="unknown") for _ in range(9)])
    daily = run({"calls": calls})
    assert daily.observable["disconnect"] is False and daily.observable["transfers"] is False
    v = values(daily)
    for name in ("early_hangup_rate", "early_hangup_callback_rate", "quick_transfer_rate", "transfer_rate",
                 "fast_escalation_rate", "escalation_rate", "self_service_rate"):
        assert math.isnan(v[name]), name
    assert v.talk_ratio > 0, "what the source does show still counts"


def test_quick_transfers_fast_escalations_and_self_service_pushes():
    rows = [dict() for _ in range(6)] + [
        dict(talk=20, transfer_kind="queue", disconnected_by="transfer"),       # quick transfer
        dict(talk=400, transfer_kind="queue", disconnected_by="transfer"),      # a transfer after working the call
        dict(talk=40, transfer_kind="escalation", disconnected_by="transfer"),  # escalated before trying
        dict(talk=500, transfer_kind="escalation", disconnected_by="transfer"),
        dict(talk=30, transfer_kind="self_service", disconnected_by="transfer"),
    ]
    v = values(run({"calls": b.calls(rows)}))
    assert v.quick_transfer_rate == pytest.approx(1 / 11)
    assert v.transfer_rate == pytest.approx(2 / 11)
    assert v.fast_escalation_rate == pytest.approx(1 / 11)
    assert v.escalation_rate == pytest.approx(2 / 11)
    assert v.self_service_rate == pytest.approx(1 / 11)


def test_talk_time_against_the_queue_median_and_wrap_up_beyond_the_allotted_time():
    rows = [dict(talk=200, rep_id="bob", wrapup_seconds=40) for _ in range(9)]
    rows += [dict(talk=400, wrapup_seconds=150), dict(talk=200, wrapup_seconds=50)]
    v = values(run({"calls": b.calls(rows)}))
    assert v.talk_ratio == pytest.approx((2.0 * 1.0) ** 0.5), "the geometric mean of 2x and 1x the queue median"
    assert v.wrapup_seconds_per_call == pytest.approx(100)
    assert v.wrapup_excess_seconds_per_call == pytest.approx((90 + 0) / 2)


def test_personal_calls_are_outbound_calls_on_shift_to_numbers_that_never_called_in():
    inbound = [dict(caller_key=500)]
    outbound = [
        dict(direction="outbound", queue=None, caller_key=500, answer=60),  # a callback to a customer
        dict(direction="outbound", queue=None, caller_key=901, answer=90),  # personal
        dict(direction="outbound", queue=None, caller_key=902, answer=600),  # personal, but after the shift
    ]
    tables = {
        "calls": b.calls(inbound + outbound),
        "agent_states": b.states([("ann", "available", None, 0, 700)]),
        "schedules": b.schedules([("ann", "shift", 0, 480)]),
    }
    daily = run(tables)
    assert daily.sums.set_index("rep_id").loc["ann", "personal_calls"] == 1
    assert daily.sums.set_index("rep_id").loc["ann", "outbound_calls"] == 3
    examples = daily.evidence[daily.evidence.kind == "personal_call"]
    counted = tables["calls"].loc[tables["calls"].caller_key == 901, "call_id"].tolist()
    assert examples.call_id.tolist() == counted, "the example shown is the call counted, not the one after the shift"


def _presence_tables(pause_rows, schedule_rows=(), others=()):
    rows = [("ann", "available", None, 0, 480)] if not pause_rows else []
    cursor = 0
    for reason, start, end in pause_rows:
        if start > cursor:
            rows.append(("ann", "available", None, cursor, start))
        rows.append(("ann", "paused", reason, start, end))
        cursor = end
    if pause_rows and cursor < 480:
        rows.append(("ann", "available", None, cursor, 480))
    return {
        "calls": b.calls([dict(answer=m) for m in range(0, 480, 20)]),
        "agent_states": b.states(rows + list(others)),
        "schedules": b.schedules([("ann", "shift", 0, 480), *schedule_rows]),
    }


def test_unscheduled_breaks_leave_out_scheduled_breaks_meetings_and_time_off_shift():
    tables = _presence_tables(
        [("Break", 120, 135), ("Meeting", 200, 260), ("Personal", 300, 320)],
        schedule_rows=[("ann", "break", 120, 135), ("ann", "meeting", 200, 260)],
    )
    sums = run(tables).sums.set_index("rep_id").loc["ann"]
    assert sums.break_seconds == 20 * 60, "only the unscheduled personal pause counts"
    assert sums.scheduled_pause_seconds == (15 + 60) * 60
    assert sums.shift_seconds == 480 * 60


def test_breaks_after_the_shift_ended_are_not_avoidance():
    tables = _presence_tables([("Personal", 470, 500)])
    sums = run(tables).sums.set_index("rep_id").loc["ann"]
    assert sums.break_seconds == 10 * 60, "the 20 minutes after the shift's end are not counted"


def test_a_technical_pause_many_reps_share_is_a_site_wide_outage_not_an_excuse():
    outage = [(f"rep{i}", "paused", "Technical", 100, 130) for i in range(6)]
    outage += [(f"rep{i}", "available", None, 0, 100) for i in range(6)]
    tables = _presence_tables([("Technical", 100, 130), ("Technical", 300, 325)], others=outage)
    sums = run(tables).sums.set_index("rep_id").loc["ann"]
    assert sums.technical_seconds == 25 * 60, "only the pause nobody else had counts"
    assert sums.site_wide_pause_seconds == 30 * 60


def test_toggles_and_pauses_while_callers_wait():
    waiting_call = dict(answer=200, rep_id="bob", caller_key=5)
    calls_rows = [dict(answer=m) for m in range(0, 480, 40)] + [waiting_call]
    tables = _presence_tables([("Admin", 50, 50.5), ("Admin", 60, 60.3), ("Personal", 199, 205), ("Personal", 400, 405)])
    calls = b.calls(calls_rows)
    # the waiting caller entered the queue at minute 195 and was answered by bob at minute 200
    calls.loc[calls.call_id == f"c{len(calls_rows) - 1}", "enqueued_at"] = b.at(195)
    tables["calls"] = calls
    sums = run(tables).sums.set_index("rep_id").loc["ann"]
    assert sums.toggles == 2
    assert sums.pauses_while_waiting == 1, "the 199-minute pause began while a caller had waited 4 minutes"


def test_peak_hours_come_from_the_offered_volume():
    rows = [dict(answer=m) for m in range(0, 480, 30)] + [dict(answer=125 + k) for k in range(10)]
    daily = run({"calls": b.calls(rows)})
    peaks = daily.peaks[daily.peaks.peak]
    assert len(peaks) >= 1
    assert (peaks.interval_start == 8 * 3600 + 120 * 60).any(), "10:00-10:30 holds the burst of calls"
    assert not peaks.interval_start.eq(8 * 3600).all()


def test_breaks_in_peak_intervals_are_counted_as_peak_breaks():
    tables = _presence_tables([("Personal", 120, 140), ("Personal", 300, 310)])
    burst = [dict(answer=120 + k, rep_id="bob") for k in range(12)]
    tables["calls"] = b.calls([dict(answer=m) for m in range(0, 480, 20)] + burst)
    sums = run(tables).sums.set_index("rep_id").loc["ann"]
    assert sums.peak_break_seconds == 20 * 60
    assert sums.break_seconds == 30 * 60


def test_repeat_callers_skipped_more_than_first_time_callers():
    rows = [dict(caller_key=1, answer=0, rep_id="bob"), dict(caller_key=1, answer=60, answered=False),
            dict(caller_key=2, answer=70, rep_id="bob"), dict(caller_key=3, answer=80)]
    offers = b.offers([("c1", "ann", 60, 3, "declined"), ("c2", "ann", 70, 5, "answered"), ("c3", "ann", 80, 5, "answered")])
    v = values(run({"calls": b.calls(rows), "offers": offers}))
    assert v.repeat_skip_rate == 1.0 and v.first_skip_rate == 0.0
    assert v.repeat_skip_lift == 1.0


def test_a_transferred_leg_is_not_a_repeat_call():
    rows = [dict(caller_key=9, transfer_kind="queue", disconnected_by="transfer", talk=100),
            dict(caller_key=9, parent_call_id="c0", answer=2.5, rep_id="bob")]
    offers = b.offers([("c1", "ann", 2, 15, "ring_no_answer")])
    daily = run({"calls": b.calls(rows), "offers": offers})
    assert daily.sums.set_index("rep_id").loc["ann", "offers_repeat"] == 0


def test_calls_that_ended_in_the_ivr_belong_to_no_rep():
    rows = [dict(answered=False, outcome="ivr_abandoned", enqueued_at=None) for _ in range(5)] + [dict()]
    daily = run({"calls": b.calls(rows)})
    assert daily.sums.rep_id.tolist() == ["ann"]
    assert daily.sums.answered.sum() == 1 and daily.sums.short_agent_hangups.sum() == 0


def test_inputs_are_not_modified():
    calls = b.calls([dict(), dict(talk=10, disconnected_by="agent")])
    offers = b.offers([("c0", "ann", 0, 5, "answered")])
    before = (calls.copy(), offers.copy())
    run({"calls": calls, "offers": offers})
    pd.testing.assert_frame_equal(calls, before[0])
    pd.testing.assert_frame_equal(offers, before[1])


def test_days_outside_the_range_serve_only_as_look_back():
    import datetime as dt

    rows = [dict(answer=0), dict(answer=24 * 60 + 10)]
    daily = rep_day_features({"calls": b.calls(rows)}, FeatureSettings(), "UTC", 60, dt.date(2026, 1, 6), dt.date(2026, 1, 6))
    assert daily.sums.day.tolist() == [dt.date(2026, 1, 6)]


def test_days_follow_the_site_time_zone():
    rows = [dict(answer=-8 * 60 + 60)]  # 01:00 UTC on Monday = Sunday evening in Chicago
    daily = rep_day_features({"calls": b.calls(rows)}, FeatureSettings(), "America/Chicago", 60)
    assert str(daily.sums.day.iloc[0]) == "2026-01-04"


def test_peak_intervals_of_an_empty_center_are_empty():
    empty = run({"calls": b.calls([dict()]).iloc[0:0]})
    assert empty.sums.empty and peak_intervals(pd.DataFrame({"enqueued_at_ls": [], "direction": []}), FeatureSettings()).empty


def test_time_to_escalate_is_how_long_the_rep_tried_first():
    rows = [dict() for _ in range(4)] + [
        dict(talk=40, transfer_kind="escalation", disconnected_by="transfer"),
        dict(talk=400, transfer_kind="escalation", disconnected_by="transfer"),
    ]
    v = values(run({"calls": b.calls(rows)}))
    assert v.seconds_to_escalate == pytest.approx(220)


def test_callers_who_recently_rated_a_call_1_or_2_are_unhappy_callers():
    rows = [dict(caller_key=1, answer=0, rep_id="bob", talk=100), dict(caller_key=1, answer=60, answered=False),
            dict(caller_key=2, answer=0, rep_id="bob", talk=100), dict(caller_key=2, answer=70, answered=False)]
    surveys = pd.DataFrame({"call_id": ["c0", "c2"], "score": [1, 5]})
    offers = b.offers([("c1", "ann", 60, 3, "declined"), ("c3", "ann", 70, 5, "answered")])
    v = values(run({"calls": b.calls(rows), "offers": offers, "surveys": surveys}))
    assert v.unhappy_skip_rate == 1.0, "the one unhappy caller's offer was declined"
    sums = run({"calls": b.calls(rows), "offers": offers, "surveys": surveys}).sums.set_index("rep_id").loc["ann"]
    assert sums.offers_unhappy == 1 and sums.offers_repeat == 2


def test_one_rep_toggling_a_reason_many_times_is_not_a_site_wide_event():
    toggles = [("Admin", 100 + k, 100.3 + k) for k in range(6)]
    others = [(f"rep{i}", "available", None, 0, 480) for i in range(6)]
    tables = _presence_tables([*toggles, ("Personal", 200, 220)], others=others)
    sums = run(tables).sums.set_index("rep_id").loc["ann"]
    assert sums.toggles == 6 and sums.site_wide_pause_seconds == 0


def test_a_pause_the_platform_set_itself_is_not_the_reps_choice():
    """An accidental do-not-disturb hour: each ring-no-answer auto-pauses the rep, who unpauses within seconds."""
    autopauses = [("Auto-Pause", 100 + 2 * k, 100.5 + 2 * k) for k in range(8)]
    sums = run(_presence_tables([*autopauses, ("Admin", 300, 300.5)])).sums.set_index("rep_id").loc["ann"]
    assert sums.toggles == 1, "only the rep's own status flip is a toggle"
    assert sums.unscheduled_pauses == 1 and sums.break_seconds == 0
