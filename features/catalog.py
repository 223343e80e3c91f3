"""Every feature cadet computes: what it measures, for which behaviour, from which fields.

A feature is a ratio of additive per-rep-per-day sums (see `features.daily`),
so the same definition gives the daily value and the window value, and a
window is just the sum of its days.  `needs` names what the source must show;
when it cannot (Asterisk's queue_log has no hold), the feature is empty and
reported as not observable, never zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The behaviours cadet detects (README, "What cadet detects"); every flag names one or more.
BEHAVIOUR_CODES: tuple[str, ...] = (
    "missed_calls",
    "early_hangup",
    "long_hold",
    "quick_transfer",
    "premature_escalation",
    "self_service_push",
    "excessive_breaks",
    "tech_excuse",
    "personal_calls",
    "lingering",
    "excessive_wrapup",
    "status_gaming",
    "cherry_picking",
)

# What a source must show for a feature; `observability()` in features.daily checks each.
OBSERVABLE_FROM = {
    "offers": "offers (who each call rang, and how it ended)",
    "hold": "calls.hold_seconds (in-call hold)",
    "ended_on_hold": "calls.ended_on_hold (caller hung up while held)",
    "wrapup": "calls.wrapup_seconds (after-call work)",
    "presence": "agent_states (pauses and their reasons)",
    "surveys": "surveys (post-call CSAT)",
    "outbound": "outbound calls (CDRs of reps dialling out)",
    "callers": "calls.caller_key (pseudonymised caller numbers)",
    "disconnect": "calls.disconnected_by (who ended each answered call)",
    "transfers": "calls.transfer_kind (whether and where each answered call was transferred)",
}


@dataclass(frozen=True)
class Feature:
    """`value = numerator / denominator * scale`, per rep and day or window.

    `evidence` is the sum whose size says how much data backs the value;
    below `min_evidence` (None: `min_events_for_rate` of the settings) the
    rep is not compared with peers.  `spread` is the
    smallest peer spread used in z-scores, so a feature most reps have at zero
    does not turn one event into a huge z.
    """

    name: str
    code: str | None
    numerator: str
    denominator: str
    scale: float
    needs: tuple[str, ...]
    evidence: str
    min_evidence: float | None  # None: the settings' min_events_for_rate
    spread: float
    unit: str
    description: str
    geometric: bool = False  # the numerator sums logs: value = exp(mean), a typical ratio robust to a few huge calls
    higher_is_suspicious: bool = True  # which side of the peers points at the behaviour (escalating sooner: lower)

    @property
    def counts_events(self) -> bool:
        """The numerator counts events (misses, transfers, toggles), so chance can be judged by a Poisson tail."""
        return not self.geometric and self.unit in ("share", "calls per 8 h", "per hour")

    def value(self, sums: pd.DataFrame) -> pd.Series:
        num = sums[self.numerator].astype("float64")
        den = sums[self.denominator].astype("float64")
        mean = num / den.where(den > 0)
        return np.exp(mean) * self.scale if self.geometric else mean * self.scale


HOUR = 3600.0

FEATURES: tuple[Feature, ...] = (
    Feature("miss_rate", "missed_calls", "offers_missed", "offers_acted", 1.0, ("offers",), "offers_acted", None, 0.02,
            "share", "offered calls the rep let ring out or declined (callers hanging up while it rang excluded)"),
    Feature("miss_rate_excl_worst_day", "missed_calls", "offers_missed_robust", "offers_acted_robust", 1.0, ("offers",),
            "offers_acted_robust", None, 0.02, "share",
            "miss rate without the rep's worst day, so one accidental do-not-disturb hour is not a pattern"),
    Feature("decline_rate", "missed_calls", "offers_declined", "offers_acted", 1.0, ("offers",), "offers_acted", None, 0.01,
            "share", "offered calls the rep rejected before the ring timeout"),
    Feature("early_hangup_rate", "early_hangup", "short_agent_hangups", "answered", 1.0, ("disconnect",), "answered", None, 0.01,
            "share", "answered calls the rep ended within the short-call limit"),
    Feature("short_call_rate", "early_hangup", "very_short_calls", "answered", 1.0, (), "answered", None, 0.01, "share",
            "answered, untransferred calls over within the short-call limit, whoever ended them (weaker evidence)"),
    Feature("early_hangup_callback_rate", "early_hangup", "short_hangup_repeats", "short_agent_hangups", 1.0, ("callers", "disconnect"),
            "short_agent_hangups", 3, 0.1, "share", "early hang-ups after which the same caller called again within the repeat window"),
    Feature("hold_seconds_per_call", "long_hold", "hold_seconds", "hold_observed_calls", 1.0, ("hold",), "hold_observed_calls",
            20, 5.0, "seconds", "in-call hold per answered call"),
    Feature("hold_hangup_rate", "long_hold", "hangups_on_hold", "ended_on_hold_observed", 1.0, ("ended_on_hold",),
            "ended_on_hold_observed", None, 0.01, "share", "answered calls where the caller hung up while on hold"),
    Feature("quick_transfer_rate", "quick_transfer", "quick_transfers", "answered", 1.0, ("transfers",), "answered", None, 0.01,
            "share", "answered calls transferred to a colleague or queue within the quick-transfer limit"),
    Feature("transfer_rate", None, "transfers", "answered", 1.0, ("transfers",), "answered", None, 0.01, "share",
            "answered calls transferred to another tier-1 queue or colleague"),
    Feature("fast_escalation_rate", "premature_escalation", "fast_escalations", "answered", 1.0, ("transfers",), "answered", None, 0.01,
            "share", "answered calls escalated to tier 2 within the fast-escalation limit"),
    Feature("seconds_to_escalate", "premature_escalation", "escalation_seconds", "escalations", 1.0, ("transfers",), "escalations", 5,
            10.0, "seconds", "time on the call before escalating to tier 2 (lower = less tried)", higher_is_suspicious=False),
    Feature("escalation_rate", None, "escalations", "answered", 1.0, ("transfers",), "answered", None, 0.01, "share",
            "answered calls escalated to tier 2"),
    Feature("self_service_rate", "self_service_push", "self_service_transfers", "answered", 1.0, ("transfers",), "answered", None, 0.01,
            "share", "answered calls sent back to the IVR / self-service"),
    Feature("break_minutes_per_shift_hour", "excessive_breaks", "break_seconds", "shift_seconds", 60.0, ("presence",),
            "shift_seconds", 4 * HOUR, 0.5, "minutes per hour",
            "unscheduled break pauses during the shift, scheduled breaks, meetings and site-wide events excluded"),
    Feature("peak_break_minutes_per_peak_hour", "excessive_breaks", "peak_break_seconds", "peak_shift_seconds", 60.0,
            ("presence",), "peak_shift_seconds", 2 * HOUR, 0.5, "minutes per hour",
            "unscheduled break pauses during the site's peak intervals"),
    Feature("technical_minutes_per_shift_hour", "tech_excuse", "technical_seconds", "shift_seconds", 60.0, ("presence",),
            "shift_seconds", 4 * HOUR, 0.3, "minutes per hour",
            "pauses with a technical reason that colleagues did not share at the same time"),
    Feature("personal_calls_per_shift", "personal_calls", "personal_calls", "shift_seconds", 8 * HOUR, ("outbound", "callers"),
            "shift_seconds", 4 * HOUR, 0.3, "calls per 8 h",
            "outbound calls during the shift to numbers that never called in"),
    Feature("talk_ratio", "lingering", "talk_log_ratio_sum", "talk_ratio_calls", 1.0, (), "talk_ratio_calls", None, 0.05,
            "x queue median", "typical (geometric mean) talk time of completed calls relative to the queue's median",
            geometric=True),
    Feature("long_talk_share", "lingering", "long_talk_calls", "talk_ratio_calls", 1.0, (), "talk_ratio_calls", None, 0.02,
            "share", "completed calls longer than the queue's 90th percentile talk time"),
    Feature("wrapup_seconds_per_call", "excessive_wrapup", "wrapup_seconds", "wrapup_observed_calls", 1.0, ("wrapup",),
            "wrapup_observed_calls", None, 5.0, "seconds", "after-call work per answered call"),
    Feature("wrapup_excess_seconds_per_call", "excessive_wrapup", "wrapup_excess_seconds", "wrapup_observed_calls", 1.0,
            ("wrapup",), "wrapup_observed_calls", None, 5.0, "seconds", "after-call work beyond the allotted time, per answered call"),
    Feature("waiting_pauses_per_shift_hour", "status_gaming", "pauses_while_waiting", "shift_seconds", HOUR, ("presence",),
            "shift_seconds", 4 * HOUR, 0.1, "per hour", "unscheduled pauses started while callers waited in the rep's queues"),
    Feature("toggles_per_shift_hour", "status_gaming", "toggles", "shift_seconds", HOUR, ("presence",), "shift_seconds",
            4 * HOUR, 0.1, "per hour", "pauses shorter than the toggle limit (flipping status)"),
    Feature("repeat_skip_rate", "cherry_picking", "skips_repeat", "offers_repeat", 1.0, ("offers", "callers"),
            "offers_repeat", 10, 0.03, "share", "offers from repeat callers that the rep let ring or declined (the worst missed day left out)"),
    Feature("unhappy_skip_rate", "cherry_picking", "skips_unhappy", "offers_unhappy", 1.0, ("offers", "callers", "surveys"),
            "offers_unhappy", 5, 0.05, "share", "offers from callers who recently rated a call 1-2 that the rep let ring or declined (the worst missed day left out)"),
    Feature("first_skip_rate", None, "skips_first", "offers_first", 1.0, ("offers", "callers"), "offers_first", None, 0.02,
            "share", "offers from first-time callers that the rep let ring or declined (the worst missed day left out)"),
    Feature("csat", None, "csat_sum", "surveys", 1.0, ("surveys",), "surveys", 5, 0.1, "1-5",
            "mean post-call survey score"),
    Feature("occupancy", None, "talk_seconds", "available_seconds", 1.0, ("presence",), "available_seconds", 4 * HOUR, 0.03,
            "share", "share of available time spent talking"),
)

FEATURES_BY_NAME = {f.name: f for f in FEATURES}


def repeat_skip_lift(values: pd.DataFrame) -> pd.Series:
    """How much more often the rep skips repeat callers than first-time callers (cherry-picking)."""
    return values["repeat_skip_rate"] - values["first_skip_rate"]


# Derived from other features rather than from sums.
def suspicious_side(feature: str, z: float) -> bool:
    """Whether a rep's z-score on `feature` points towards its behaviour (False for no code or no z)."""
    if feature in FEATURES_BY_NAME:
        spec = FEATURES_BY_NAME[feature]
        if spec.code is None:
            return False
        higher = spec.higher_is_suspicious
    elif feature in DERIVED:
        higher = True
    else:
        return False
    if z is None or not np.isfinite(z):
        return False
    return z > 0 if higher else z < 0


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from other features, not from sums: observable when all its parts are."""

    name: str
    code: str
    formula: Callable[[pd.DataFrame], pd.Series]
    parts: tuple[str, ...]  # the features it is computed from; the first one's evidence stands for it
    spread: float
    unit: str

    @property
    def description(self) -> str:
        return (self.formula.__doc__ or "").strip()


DERIVED = {derived.name: derived for derived in (
    DerivedFeature("repeat_skip_lift", "cherry_picking", repeat_skip_lift, ("repeat_skip_rate", "first_skip_rate"),
                   0.03, "share"),
)}


def feature_values(sums: pd.DataFrame, observable: dict[str, bool]) -> pd.DataFrame:
    """Every feature from a frame of sums (daily or per window); unobservable ones are all-NaN."""
    out = pd.DataFrame(index=sums.index)
    for feature in FEATURES:
        if all(observable.get(need, False) for need in feature.needs):
            out[feature.name] = feature.value(sums)
        else:
            out[feature.name] = np.nan
    for name, derived in DERIVED.items():
        out[name] = derived.formula(out)
    return out


def spread_of(name: str) -> float:
    if name in FEATURES_BY_NAME:
        return FEATURES_BY_NAME[name].spread
    return DERIVED[name].spread


def needs_of(name: str) -> tuple[str, ...]:
    if name in FEATURES_BY_NAME:
        return FEATURES_BY_NAME[name].needs
    return tuple(sorted({n for part in DERIVED[name].parts for n in FEATURES_BY_NAME[part].needs}))


def evidence_of(name: str) -> tuple[str, float | None]:
    if name in FEATURES_BY_NAME:
        f = FEATURES_BY_NAME[name]
        return f.evidence, f.min_evidence
    first = FEATURES_BY_NAME[DERIVED[name].parts[0]]
    return first.evidence, first.min_evidence


def feature_names() -> list[str]:
    return [f.name for f in FEATURES] + list(DERIVED)
