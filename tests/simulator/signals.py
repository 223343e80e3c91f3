"""Per-rep measurements of each behaviour, straight from canonical tables.

Test helpers only: they check that the simulator injects what it claims.  The
product's own features are built separately and more carefully.
"""

from __future__ import annotations

import pandas as pd

HOUR = 3600


def _seconds(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds()


def behaviour_signals(tables: dict[str, pd.DataFrame], truth: dict) -> pd.DataFrame:
    calls, offers, states = tables["calls"], tables["offers"], tables["agent_states"]
    surveys = tables["surveys"]
    inbound = calls[(calls.direction == "inbound") & calls.answered_at.notna() & calls.rep_id.notna()].copy()
    inbound["talk"] = _seconds(inbound.ended_at - inbound.answered_at) - inbound.hold_seconds.fillna(0)
    queue_median = inbound[inbound.transfer_kind.isna()].groupby("queue").talk.median()
    inbound["talk_ratio"] = inbound.talk / inbound.queue.map(queue_median)
    by_rep = inbound.groupby("rep_id")
    sig = pd.DataFrame(index=sorted(calls.rep_id.dropna().unique()))

    acted = offers[offers.result != "caller_abandoned"]
    sig["miss_rate"] = acted.groupby("rep_id").result.apply(lambda r: (r != "answered").mean())
    sig["decline_rate"] = acted.groupby("rep_id").result.apply(lambda r: (r == "declined").mean())
    inbound["early"] = (inbound.talk < 30) & (inbound.disconnected_by == "agent")
    sig["early_hangup_rate"] = by_rep.early.mean()
    sig["hold_per_call"] = by_rep.hold_seconds.mean()
    quick = inbound.transfer_kind.eq("queue") & (inbound.talk < 31)
    sig["quick_transfer_rate"] = quick.groupby(inbound.rep_id).mean()
    fast_esc = inbound.transfer_kind.eq("escalation") & (inbound.talk < 61)
    sig["fast_escalation_rate"] = fast_esc.groupby(inbound.rep_id).mean()
    sig["self_service_rate"] = inbound.transfer_kind.eq("self_service").groupby(inbound.rep_id).mean()
    normal = inbound[inbound.transfer_kind.isna() & ~inbound.early & ~inbound.ended_on_hold.fillna(False).astype(bool)]
    sig["talk_ratio"] = normal.groupby("rep_id").talk_ratio.mean()
    sig["wrap_per_call"] = by_rep.wrapup_seconds.mean()

    paused = states[states.state == "paused"].copy()
    paused["seconds"] = _seconds(paused.ended_at - paused.started_at)
    days = states.assign(day=states.started_at.dt.date).groupby("rep_id").day.nunique()
    outages = [(pd.Timestamp(o["start"]), pd.Timestamp(o["end"])) for o in truth["outages"]]
    in_outage = pd.Series(False, index=paused.index)
    for start, end in outages:
        in_outage |= (paused.started_at >= start - pd.Timedelta(minutes=2)) & (paused.started_at <= end)
    unscheduled = paused[paused.reason.isin(["Personal", "Break"])]
    sig["personal_break_seconds_per_day"] = unscheduled.groupby("rep_id").seconds.sum() / days
    tech = paused[(paused.reason == "Technical") & ~in_outage]
    sig["technical_seconds_per_day"] = tech.groupby("rep_id").seconds.sum() / days
    admin = paused[paused.reason == "Admin"]
    sig["admin_pauses_per_day"] = admin.groupby("rep_id").size() / days

    customers = set(calls.loc[calls.direction == "inbound", "remote_number"])
    outbound = calls[calls.direction == "outbound"]
    personal = outbound[~outbound.remote_number.isin(customers)]
    sig["personal_calls_per_day"] = personal.groupby("rep_id").size() / days

    rated = surveys.merge(calls[["call_id", "rep_id"]], on="call_id")
    sig["csat"] = rated.groupby("rep_id").score.mean()
    return sig.fillna({c: 0.0 for c in sig.columns if c != "csat"})


# The signal each behaviour must raise.
SIGNAL_OF = {
    "missed_calls": "miss_rate",
    "early_hangup": "early_hangup_rate",
    "long_hold": "hold_per_call",
    "quick_transfer": "quick_transfer_rate",
    "premature_escalation": "fast_escalation_rate",
    "self_service_push": "self_service_rate",
    "excessive_breaks": "personal_break_seconds_per_day",
    "tech_excuse": "technical_seconds_per_day",
    "personal_calls": "personal_calls_per_day",
    "lingering": "talk_ratio",
    "excessive_wrapup": "wrap_per_call",
    "status_gaming": "admin_pauses_per_day",
    "cherry_picking": "decline_rate",
}

# Signals a behaviour legitimately raises besides its own (their evidence overlaps).
ALSO_RAISES = {
    "cherry_picking": {"miss_rate"},
    "missed_calls": {"decline_rate"},
}

# Upper bounds of what a real (if blatant) avoider produces: injection is not cartoonish.
PLAUSIBLE_MAX = {
    "miss_rate": 0.5,
    "early_hangup_rate": 0.35,
    "hold_per_call": 300.0,
    "quick_transfer_rate": 0.4,
    "fast_escalation_rate": 0.4,
    "self_service_rate": 0.3,
    "personal_break_seconds_per_day": 3 * 3600.0,
    "technical_seconds_per_day": 2 * 3600.0,
    "personal_calls_per_day": 12.0,
    "talk_ratio": 3.5,
    "wrap_per_call": 600.0,
    "admin_pauses_per_day": 40.0,
    "decline_rate": 0.5,
}
