"""The simulator is the yardstick for every later stage: it must be deterministic,
realistic for honest reps, inject each behaviour where it says, and contain the
confounders that cadet must not flag."""

import numpy as np
import pandas as pd
import pytest

from features.catalog import BEHAVIOUR_CODES
from features.kpis import center_kpis, rep_kpis
from simulator import simulate
from simulator.settings import AvoidanceConfig, SimulationConfig
from tests.simulator.signals import ALSO_RAISES, PLAUSIBLE_MAX, SIGNAL_OF, behaviour_signals


def _tables_equal(a, b):
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), f"table {name} differs"


def test_same_seed_same_center_and_different_seed_different_center():
    first = simulate(SimulationConfig(), n_reps=15, n_days=3, seed=42, workers=1)
    again = simulate(SimulationConfig(), n_reps=15, n_days=3, seed=42, workers=1)
    other = simulate(SimulationConfig(), n_reps=15, n_days=3, seed=43, workers=1)
    _tables_equal(first, again)
    assert first.truth == again.truth
    assert not first.tables["calls"].equals(other.tables["calls"])


def test_result_does_not_depend_on_the_number_of_worker_processes():
    one = simulate(SimulationConfig(), n_reps=12, n_days=9, seed=1, workers=1)
    two = simulate(SimulationConfig(), n_reps=12, n_days=9, seed=1, workers=2)
    _tables_equal(one, two)


def test_honest_reps_kpis_land_in_realistic_ranges(frames, truth_frame):
    service = center_kpis(frames["calls"], frames["surveys"])
    assert 0.02 <= service["abandonment_rate"] <= 0.12
    assert service["asa_seconds"] <= 60
    assert 0.7 <= service["service_level_20s"] <= 0.99
    assert 3.6 <= service["csat"] <= 4.5
    kpis = rep_kpis(frames["calls"], frames["offers"], frames["surveys"]).join(truth_frame)
    honest = kpis[kpis.role == "honest"]
    assert len(honest) >= 30
    assert honest.answer_rate.between(0.9, 1.0).all()
    assert honest.aht_seconds.between(150, 900).all()
    assert honest.aht_seconds.median() == pytest.approx(330, rel=0.35)
    assert honest.wrapup_seconds.between(15, 90).all()
    assert honest.transfer_rate.between(0.0, 0.15).all()
    assert honest.csat.between(3.0, 5.0).all()
    # a voice agent handles a few dozen calls a shift, not a handful and not hundreds
    shifts = frames["schedules"].query("activity == 'shift'").groupby("rep_id").size()
    per_shift = (honest.answered / shifts.reindex(honest.index)).dropna()
    assert 25 <= per_shift.median() <= 90


def test_every_behaviour_code_is_injected(truth_frame):
    injected = {code for codes in truth_frame.behaviours for code in codes}
    assert injected == set(BEHAVIOUR_CODES)
    avoiders = truth_frame[truth_frame.role == "avoider"]
    assert avoiders.behaviours.map(len).between(1, 2).all()


@pytest.mark.parametrize("code", BEHAVIOUR_CODES)
def test_each_behaviour_moves_its_metric_for_that_rep_and_not_for_others(code, center, frames, truth_frame):
    signals = behaviour_signals(frames, center.truth).join(truth_frame)
    judged = signals[signals.role != "confounder"]  # confounders are tested on their own
    column = SIGNAL_OF[code]
    has = judged.behaviours.map(lambda codes: code in codes)
    overlaps = judged.behaviours.map(
        lambda codes: code not in codes and any(column == SIGNAL_OF[c] or column in ALSO_RAISES.get(c, ()) for c in codes)
    )
    with_code = judged.loc[has, column]
    without = judged.loc[~has & ~overlaps, column]
    assert len(with_code) >= 1 and len(without) >= 30
    assert with_code.min() > without.max(), (
        f"{code}: weakest injected rep {with_code.idxmin()}={with_code.min():.3f} "
        f"does not stand above {without.idxmax()}={without.max():.3f}"
    )
    # and not cartoonish
    assert with_code.max() <= PLAUSIBLE_MAX[column]


def test_cherry_pickers_keep_a_good_csat_while_skipping(center, frames, truth_frame):
    signals = behaviour_signals(frames, center.truth).join(truth_frame)
    pickers = signals[signals.behaviours.map(lambda c: "cherry_picking" in c)]
    honest = signals[signals.role == "honest"]
    assert (pickers.csat >= honest.csat.median() - 0.1).all()


def test_harder_queue_reps_are_slow_only_against_other_queues(frames, truth_frame):
    kpis = rep_kpis(frames["calls"], frames["offers"], frames["surveys"]).join(truth_frame)
    harder = kpis[kpis.confounder == "harder_queue"]
    honest = kpis[kpis.role == "honest"]
    assert len(harder) >= 5
    assert harder.aht_seconds.median() > honest.aht_seconds.median() * 1.2
    assert set(harder.primary_queue) == {"tech"}


def test_new_hires_are_recent_and_slower(center, frames, truth_frame):
    start = pd.Timestamp(center.truth["start_date"])
    kpis = rep_kpis(frames["calls"], frames["offers"], frames["surveys"]).join(truth_frame)
    new = kpis[kpis.confounder == "new_hire"]
    honest = kpis[(kpis.role == "honest") & kpis.primary_queue.isin(new.primary_queue)]
    assert len(new) >= 3
    tenure = (start - pd.to_datetime(new.hired_on)).dt.days
    assert (tenure < 45).all()
    assert new.aht_seconds.median() > honest.aht_seconds.median()
    roster = frames["reps"].set_index("rep_id")
    assert (pd.to_datetime(roster.loc[new.index, "hired_on"]) > start - pd.Timedelta(days=45)).all()


def test_part_timers_work_short_shifts(frames, truth_frame):
    shifts = frames["schedules"].query("activity == 'shift'").copy()
    shifts["hours"] = (shifts.ends_at - shifts.starts_at).dt.total_seconds() / 3600
    hours = shifts.groupby("rep_id").hours.median()
    part = truth_frame.index[truth_frame.confounder == "part_time"]
    full = truth_frame.index[(truth_frame.role == "honest") & (truth_frame.contract == "full_time")]
    assert len(part) >= 5
    assert (hours.reindex(part) <= 5).all()
    assert (hours.reindex(full).dropna() >= 7.5).all()


def test_site_wide_outage_pauses_nearly_everyone_with_a_technical_reason(center, frames):
    assert center.truth["outages"], "a 14-day center has an outage"
    outage = center.truth["outages"][0]
    start, end = pd.Timestamp(outage["start"]), pd.Timestamp(outage["end"])
    states = frames["agent_states"]
    middle = start + (end - start) / 2
    logged_in = states[(states.started_at <= middle) & (states.ended_at > middle)]
    technical = logged_in[(logged_in.state == "paused") & (logged_in.reason == "Technical")]
    assert len(logged_in) >= 30
    assert len(technical) / len(logged_in) >= 0.8


def test_dnd_accident_is_one_hour_of_ring_no_answer(center, frames, truth_frame):
    offers = frames["offers"]
    for window in center.truth["dnd_windows"]:
        start, end = pd.Timestamp(window["start"]), pd.Timestamp(window["end"])
        mine = offers[(offers.rep_id == window["rep_id"]) & (offers.result != "caller_abandoned")]
        inside = mine[(mine.offered_at >= start) & (mine.offered_at < end)]
        outside = mine[(mine.offered_at < start) | (mine.offered_at >= end)]
        assert len(inside) >= 3
        assert (inside.result == "ring_no_answer").all()
        assert (outside.result != "answered").mean() < 0.08
        assert truth_frame.loc[window["rep_id"], "confounder"] == "dnd_accident"


def test_heavy_meeting_reps_have_meetings_in_their_schedule(frames, truth_frame):
    schedules = frames["schedules"]
    meetings = schedules[schedules.activity.isin(["meeting", "training"])]
    per_day = meetings.assign(day=meetings.starts_at.dt.date).groupby("rep_id").day.nunique()
    days = schedules[schedules.activity == "shift"].groupby("rep_id").size()
    heavy = truth_frame.index[truth_frame.confounder == "heavy_meetings"]
    assert len(heavy) >= 3
    assert ((per_day.reindex(heavy) / days.reindex(heavy)) >= 0.9).all()
    paused = frames["agent_states"].query("reason == 'Meeting'")
    assert set(heavy) <= set(paused.rep_id)


def test_ivr_hangups_and_self_service_never_reach_a_rep(frames):
    calls = frames["calls"]
    ivr = calls[calls.outcome.isin(["ivr_self_service", "ivr_abandoned"])]
    assert (ivr.outcome == "ivr_abandoned").sum() > 50
    assert ivr.rep_id.isna().all() and ivr.queue.isna().all() and ivr.enqueued_at.isna().all()
    queued = calls[calls.enqueued_at.notna()]
    quick_abandon = queued[(queued.outcome == "abandoned") & ((queued.ended_at - queued.enqueued_at).dt.total_seconds() <= 6)]
    assert len(quick_abandon) > 50


def test_repeat_callers_and_callbacks_after_unresolved_calls(frames):
    calls = frames["calls"]
    inbound = calls[(calls.direction == "inbound") & calls.parent_call_id.isna()].sort_values("started_at")
    gap = inbound.groupby("remote_number").started_at.diff().dt.total_seconds()
    repeat_share = (gap <= 48 * 3600).mean()
    assert 0.15 <= repeat_share <= 0.45
    early = inbound[(inbound.disconnected_by == "agent") & ((inbound.ended_at - inbound.answered_at).dt.total_seconds() < 30)]
    called_back = early.remote_number.isin(inbound.loc[inbound.started_at > early.started_at.min(), "remote_number"])
    assert called_back.mean() > 0.4


def test_transfers_escalations_and_outbound_calls_are_linked(frames):
    calls = frames["calls"].set_index("call_id")
    legs = calls[calls.parent_call_id.notna()]
    assert len(legs) > 100
    parents = calls.loc[legs.parent_call_id]
    assert parents.transfer_kind.isin(["queue", "escalation"]).all()
    assert (parents.transfer_to.values == legs.queue.values).all()
    assert (legs.loc[parents.transfer_kind.values == "escalation", "queue"] == "tier2").all()
    assert (legs.remote_number.values == parents.remote_number.values).all()
    outbound = calls[calls.direction == "outbound"]
    assert len(outbound) > 100 and outbound.rep_id.notna().all() and outbound.queue.isna().all()


def test_reps_are_never_in_two_places_at_once(frames):
    """Each rep's answered calls (plus wrap-up) and pauses never overlap."""
    calls = frames["calls"]
    busy = calls[calls.answered_at.notna() & calls.rep_id.notna()]
    work = pd.DataFrame(
        {
            "rep_id": busy.rep_id,
            "start": busy.answered_at,
            "end": busy.ended_at + pd.to_timedelta(busy.wrapup_seconds.fillna(0), unit="s"),
        }
    )
    paused = frames["agent_states"].query("state == 'paused'")
    work = pd.concat([work, paused.rename(columns={"started_at": "start", "ended_at": "end"})[["rep_id", "start", "end"]]])
    work = work.sort_values(["rep_id", "start"])
    prev_end = work.groupby("rep_id").end.shift()
    assert (work.start >= prev_end).sum() == prev_end.notna().sum()


def test_calls_are_only_taken_while_logged_in_and_not_paused(frames):
    calls = frames["calls"]
    answered = calls[(calls.direction == "inbound") & calls.answered_at.notna()]
    states = frames["agent_states"]
    available = states[states.state == "available"]
    merged = pd.merge_asof(
        answered.sort_values("answered_at")[["call_id", "rep_id", "answered_at"]],
        available.sort_values("started_at")[["rep_id", "started_at", "ended_at"]],
        left_on="answered_at",
        right_on="started_at",
        by="rep_id",
    )
    inside = merged.ended_at.notna() & (merged.answered_at <= merged.ended_at)
    assert inside.mean() == 1.0


def test_intensity_scales_the_injected_effect():
    def miss_rate(intensity):
        config = SimulationConfig(avoidance=AvoidanceConfig(share=0.3, behaviours=["missed_calls"], intensity=intensity))
        center = simulate(config, n_reps=20, n_days=6, seed=9, workers=1)
        offers = center.tables["offers"].to_pandas()
        avoiders = [r["rep_id"] for r in center.truth["reps"] if r["role"] == "avoider"]
        mine = offers[offers.rep_id.isin(avoiders) & (offers.result != "caller_abandoned")]
        return (mine.result != "answered").mean()

    assert miss_rate(0.5) < miss_rate(2.0)


def test_no_behaviours_means_no_avoiders():
    config = SimulationConfig(avoidance=AvoidanceConfig(share=0.0))
    center = simulate(config, n_reps=10, n_days=2, seed=0, workers=1)
    assert {r["role"] for r in center.truth["reps"]} <= {"honest", "confounder"}


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least 1 rep"):
        simulate(SimulationConfig(), n_reps=0, n_days=1, seed=0)
    with pytest.raises(ValueError, match="at least 1 day"):
        simulate(SimulationConfig(), n_reps=1, n_days=0, seed=0)


def test_timestamps_are_utc_and_whole_seconds(frames):
    for name, frame in frames.items():
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                assert str(frame[column].dt.tz) == "UTC", (name, column)
                values = frame[column].dropna()
                assert (values.dt.microsecond == 0).all()
    calls = frames["calls"]
    assert (calls.ended_at >= calls.started_at).all()
    answered = calls[calls.answered_at.notna() & calls.enqueued_at.notna()]
    assert (answered.answered_at >= answered.enqueued_at).all()
    assert np.isin(calls.outcome.unique(), ["answered", "abandoned", "ivr_self_service", "ivr_abandoned"]).all()
