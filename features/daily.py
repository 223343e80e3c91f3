"""Per rep and local day: the additive sums every feature is a ratio of.

Input: the lake's canonical tables (callers already pseudonymised to
`caller_key`).  Output: one row per rep and day with counts and seconds, the
peak intervals found in the offered volume, example call ids per kind of
evidence, and which fields the source could show.  Pure: DataFrames in,
DataFrames out, inputs untouched.

The guards against misdiagnosis live here, where the evidence is counted:
- time off shift and scheduled breaks, lunches, meetings and trainings are not
  unscheduled pauses;
- a reason many reps pause with at the same moment (a site-wide outage) is
  nobody's excuse;
- a caller hanging up while it rang, or in the IVR, is not a rep's miss;
- a pause the platform set itself (autopause after a ring-no-answer) is not
  the rep's choice;
- a single day's burst of misses is set apart at window level (features.windows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.intervals import DAY, count_open, covered, intersect, local_seconds, overlap, split_at_midnight
from features.settings import FeatureSettings

EPOCH = dt.date(1970, 1, 1)
MISSED_RESULTS = ("ring_no_answer", "declined")  # offer results that count against the rep (a caller's hang-up does not)

SUM_COLUMNS = (
    "offers_acted", "offers_missed", "offers_declined", "offers_missed_robust", "offers_acted_robust",
    "offers_repeat", "skips_repeat", "offers_first", "skips_first", "offers_unhappy", "skips_unhappy",
    "answered", "talk_seconds", "short_agent_hangups", "short_hangup_repeats", "very_short_calls",
    "hold_seconds", "hold_observed_calls", "hangups_on_hold", "ended_on_hold_observed",
    "quick_transfers", "transfers", "escalations", "fast_escalations", "escalation_seconds", "self_service_transfers",
    "talk_log_ratio_sum", "talk_ratio_calls", "long_talk_calls",
    "wrapup_seconds", "wrapup_excess_seconds", "wrapup_observed_calls",
    "csat_sum", "surveys", "outbound_calls", "personal_calls",
    "logged_in_seconds", "available_seconds", "shift_seconds", "peak_shift_seconds",
    "break_seconds", "peak_break_seconds", "technical_seconds", "site_wide_pause_seconds", "scheduled_pause_seconds",
    "unscheduled_pauses", "pauses_while_waiting", "toggles",
)


@dataclass
class DailyFeatures:
    sums: pd.DataFrame  # rep_id, day (date), SUM_COLUMNS, shift_start_hour
    evidence: pd.DataFrame  # rep_id, day, kind, call_id, magnitude
    peaks: pd.DataFrame  # day, interval_start (local time), offered, peak
    rep_queues: pd.DataFrame  # rep_id, queue, answered (for peer groups when the roster says nothing)
    observable: dict[str, bool] = field(default_factory=dict)


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def observability(tables: dict[str, pd.DataFrame]) -> dict[str, bool]:
    """Which kinds of evidence the source shows at all (see catalog.OBSERVABLE_FROM)."""
    calls = tables.get("calls", pd.DataFrame())
    answered = calls[calls["answered_at"].notna() & calls["rep_id"].notna()] if len(calls) else calls

    def shown(frame: pd.DataFrame, column: str) -> bool:
        return bool(len(frame)) and column in frame and bool(frame[column].notna().any())

    return {
        "offers": len(tables.get("offers", pd.DataFrame())) > 0,
        "hold": shown(answered, "hold_seconds"),
        "ended_on_hold": shown(answered, "ended_on_hold"),
        "wrapup": shown(answered, "wrapup_seconds"),
        "presence": len(tables.get("agent_states", pd.DataFrame())) > 0,
        "surveys": len(tables.get("surveys", pd.DataFrame())) > 0,
        "outbound": bool(len(calls)) and bool((calls["direction"] == "outbound").any()),
        "callers": shown(calls, "caller_key"),
        "disconnect": shown(answered, "disconnected_by"),
        "transfers": bool(len(answered)) and "transfer_kind" in answered and bool(answered["transfer_kind"].ne("unknown").any()),
    }


def _lower(values: list[str]) -> set[str]:
    return {v.lower() for v in values}


def _get(tables: dict[str, pd.DataFrame], name: str, columns: list[str]) -> pd.DataFrame:
    frame = tables.get(name)
    if frame is None or frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return frame


def rep_day_features(
    tables: dict[str, pd.DataFrame],
    settings: FeatureSettings,
    timezone: str = "UTC",
    allotted_wrapup_seconds: int = 60,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
    known_customers: np.ndarray | None = None,
) -> DailyFeatures:
    """Sums per rep and local day for days in [first_day, last_day]; earlier rows serve as look-back.

    `known_customers` are caller keys that called in around these days (the
    flow reads a wider span of the lake for them); by default, the callers in
    `tables`.
    """
    calls = _get(tables, "calls", ["call_id", "parent_call_id", "direction", "queue", "caller_key", "started_at", "enqueued_at",
                                   "answered_at", "ended_at", "rep_id", "outcome", "disconnected_by", "hold_seconds",
                                   "wrapup_seconds", "transfer_kind", "ended_on_hold"])
    lo = day_number(first_day) if first_day else -10**9
    hi = day_number(last_day) if last_day else 10**9
    observable = observability(tables)
    legs = _legs(calls, settings, timezone, allotted_wrapup_seconds, lo, hi, tables.get("surveys"))
    peaks = peak_intervals(legs, settings)
    presence = _presence(tables, legs, peaks, settings, timezone)
    offers = _acted_offers(tables, legs, timezone, lo, hi)
    outbound = _outbound(legs, presence["cover"], known_customers)
    parts = [
        _answered_sums(legs, tables, settings),
        _offer_sums(offers),
        _outbound_sums(outbound),
        presence["sums"],
    ]
    sums = pd.concat([p for p in parts if len(p)], axis=1, join="outer") if any(len(p) for p in parts) else pd.DataFrame()
    for column in SUM_COLUMNS:
        if column not in sums:
            sums[column] = 0.0
    sums = sums.fillna({c: 0.0 for c in SUM_COLUMNS})
    if "shift_start_hour" not in sums:
        sums["shift_start_hour"] = np.nan
    sums = sums.reset_index()
    if sums.empty:
        sums = pd.DataFrame({"rep_id": pd.Series(dtype="object"), "day": pd.Series(dtype="int64"),
                             **{c: pd.Series(dtype="float64") for c in [*SUM_COLUMNS, "shift_start_hour"]}})
    else:
        sums = sums[(sums.day >= lo) & (sums.day <= hi)]
    sums["offers_missed_robust"] = sums["offers_missed"]
    sums["offers_acted_robust"] = sums["offers_acted"]
    sums = sums[["rep_id", "day", *SUM_COLUMNS, "shift_start_hour"]].sort_values(["rep_id", "day"]).reset_index(drop=True)
    evidence = _evidence(legs, offers, outbound, settings)
    evidence = evidence[(evidence.day >= lo) & (evidence.day <= hi)].reset_index(drop=True)
    rep_queues = (
        legs.loc[legs.is_answered & (legs.day >= lo) & (legs.day <= hi)].groupby(["rep_id", "queue"]).size()
        .rename("answered").reset_index()
    )
    peaks_out = peaks[(peaks.day >= lo) & (peaks.day <= hi)].reset_index(drop=True)
    return DailyFeatures(_with_dates(sums), _with_dates(evidence), _with_dates(peaks_out), rep_queues, observable)


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["day"] = pd.to_datetime(frame["day"].astype("int64"), unit="D").dt.date
    return frame


LEG_COLUMNS = ["call_id", "parent_call_id", "direction", "queue", "caller_key", "started_at", "enqueued_at", "answered_at",
               "ended_at", "rep_id", "disconnected_by", "hold_seconds", "wrapup_seconds", "transfer_kind", "ended_on_hold"]


def _legs(calls: pd.DataFrame, settings: FeatureSettings, timezone: str, allotted: int, lo: int, hi: int,
          surveys: pd.DataFrame | None = None) -> pd.DataFrame:
    """Call legs of days lo-1 .. hi+1 with local times, repeat-caller flags and per-call evidence flags.

    Legs outside that span only serve the repeat-caller look-back and are dropped after it.
    """
    c = calls[[col for col in LEG_COLUMNS if col in calls]].reset_index(drop=True).copy()
    for column in ("started_at", "enqueued_at", "answered_at", "ended_at"):
        c[column + "_ls"] = local_seconds(pd.to_datetime(c[column], utc=True), timezone) if len(c) else pd.Series(dtype="float64")
    c["caller"] = pd.array(c["caller_key"], dtype="Int64") if "caller_key" in c else pd.array([pd.NA] * len(c), dtype="Int64")
    c["day"] = (c["answered_at_ls"].fillna(c["started_at_ls"]) // DAY).astype("Int64")
    c = _repeat_flags(c, settings)
    c = _unhappy_flags(c, surveys, settings)
    c = c[((c.day >= lo - 1) & (c.day <= hi + 1)).fillna(False).astype(bool)].reset_index(drop=True)
    inbound = c["direction"].eq("inbound")
    c["is_answered"] = inbound & c["answered_at"].notna() & c["rep_id"].notna()
    c["connected"] = (c["ended_at_ls"] - c["answered_at_ls"]).astype("float64")
    hold = pd.to_numeric(c["hold_seconds"], errors="coerce").astype("float64")
    c["hold"] = hold
    c["talk"] = c["connected"] - hold.fillna(0.0)
    kind = c["transfer_kind"].where(c["transfer_kind"].ne("unknown"))  # unknown: judged as not transferred, and said so
    queue_code, _ = pd.factorize(c["queue"])  # -1 for no queue
    c["short_limit"] = short_call_limits(c.connected.where(c.is_answered & kind.isna()), queue_code, settings)
    c["is_very_short"] = c.is_answered & (c.connected < c.short_limit) & kind.isna()
    c["is_short"] = c.is_very_short & c.disconnected_by.eq("agent")
    c["is_quick"] = c.is_answered & kind.eq("queue") & (c.connected <= settings.quick_transfer_seconds)
    c["is_transfer"] = c.is_answered & kind.eq("queue")
    c["is_escalation"] = c.is_answered & kind.eq("escalation")
    c["is_fast_escalation"] = c.is_escalation & (c.connected <= settings.fast_escalation_seconds)
    c["is_self_service"] = c.is_answered & kind.eq("self_service")
    on_hold = c["ended_on_hold"].astype("boolean") if "ended_on_hold" in c else pd.array([pd.NA] * len(c), dtype="boolean")
    c["on_hold"] = on_hold
    c["is_normal"] = c.is_answered & kind.isna() & ~c.is_very_short & ~c.on_hold.fillna(False).astype(bool)
    normal = c.is_normal.to_numpy() & (queue_code >= 0)
    by_queue = pd.Series(c.talk.to_numpy()[normal]).groupby(queue_code[normal])
    n_codes = int(queue_code.max()) + 2 if len(queue_code) else 1
    median = np.full(n_codes, np.nan)
    p90 = np.full(n_codes, np.nan)
    median[by_queue.median().index.to_numpy()] = by_queue.median().to_numpy()
    p90[by_queue.quantile(0.9).index.to_numpy()] = by_queue.quantile(0.9).to_numpy()
    c["talk_ratio"] = (c.talk / median[queue_code]).where(c.is_normal)
    c["is_long_talk"] = c.is_normal & (c.talk > p90[queue_code])
    wrap = pd.to_numeric(c["wrapup_seconds"], errors="coerce").astype("float64").where(c.is_answered)
    c["wrap"] = wrap
    c["wrap_excess"] = (wrap - allotted).clip(lower=0)
    return c


SHORTEST_SHORT_CALL_LIMIT = 5.0


def short_call_limits(connected: pd.Series, queue_code: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Each call's short-call limit: a share of its queue's median answered call, within [5 s, short_call_seconds].

    A centre whose calls last two minutes and one whose calls last ten do not
    share a "within seconds"; calls without a queue take the centre's median.
    """
    cap = float(settings.short_call_seconds)
    if settings.short_call_share_of_median <= 0 or connected.notna().sum() == 0:
        return np.full(len(connected), cap)
    values = connected.to_numpy(dtype="float64")
    site = np.nanmedian(values)
    by_queue = pd.Series(values).groupby(queue_code).median()
    median = by_queue.reindex(queue_code).fillna(site).to_numpy()
    median = np.where(queue_code >= 0, median, site)
    return np.clip(settings.short_call_share_of_median * median, min(SHORTEST_SHORT_CALL_LIMIT, cap), cap)


def _repeat_flags(c: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """`repeat`: the caller had called within the repeat window before this call started (transfers inherit);
    `called_back`: the caller called again within the window after this leg ended."""
    window = settings.repeat_call_hours * 3600
    n = len(c)
    known = (c["caller"].notna() & c["direction"].eq("inbound") & c["started_at_ls"].notna()).to_numpy()
    is_root = c["parent_call_id"].isna().to_numpy()
    roots = np.flatnonzero(known & is_root)
    if len(roots) == 0:
        c["repeat"] = pd.array([pd.NA] * n, dtype="boolean")
        c["called_back"] = pd.array([pd.NA] * n, dtype="boolean")
        return c
    caller = c["caller"].to_numpy(dtype="int64", na_value=0)
    started = c["started_at_ls"].to_numpy(dtype="float64", na_value=np.nan)
    r = pd.DataFrame({"caller": caller[roots], "t": started[roots].astype("int64"), "row": roots}).sort_values("t", kind="stable")
    previous = pd.merge_asof(r, r[["caller", "t"]].assign(prev=lambda f: f.t), on="t", by="caller",
                             direction="backward", allow_exact_matches=False)
    root_repeat = np.zeros(n, dtype=bool)
    root_repeat[previous.row.to_numpy()] = ((previous.t - previous.prev) <= window).to_numpy()
    # A transferred leg belongs to the same contact as the leg it came from: climb to the first leg by row number.
    has_parent = ~is_root
    parent = np.full(n, -1, dtype=np.int64)
    if has_parent.any():
        found = pc.index_in(_text(c["parent_call_id"][has_parent]), value_set=_text(c["call_id"]))
        parent[has_parent] = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    root = np.where(parent >= 0, parent, np.arange(n))
    for _ in range(16):
        up = parent[root]
        if (up < 0).all():
            break
        root = np.where(up >= 0, up, root)
    c["root_row"] = root
    c["repeat"] = pd.array(np.where(known, root_repeat[root], False), dtype="boolean").copy()
    c.loc[~known, "repeat"] = pd.NA
    ended_ls = c["ended_at_ls"].to_numpy(dtype="float64", na_value=np.nan)
    ended = np.flatnonzero(known & ~np.isnan(ended_ls))
    q = pd.DataFrame({"caller": caller[ended], "t": ended_ls[ended].astype("int64"), "row": ended}).sort_values("t", kind="stable")
    nxt = pd.merge_asof(q, r[["caller", "t"]].assign(next=lambda f: f.t), on="t", by="caller",
                        direction="forward", allow_exact_matches=False)
    back = np.zeros(n, dtype=bool)
    back[nxt.row.to_numpy()] = ((nxt.next - nxt.t) <= window).to_numpy()
    c["called_back"] = pd.array(back, dtype="boolean")
    c.loc[~(known & ~np.isnan(ended_ls)), "called_back"] = pd.NA
    return c


LOW_SCORE = 2  # a survey answer of 1 or 2 out of 5 is an unhappy caller


def _unhappy_flags(c: pd.DataFrame, surveys: pd.DataFrame | None, settings: FeatureSettings) -> pd.DataFrame:
    """`unhappy`: the caller rated an earlier call 1-2 within the repeat window before this one (transfers inherit)."""
    c["unhappy"] = np.where(c["repeat"].isna(), np.nan, 0.0)
    if surveys is None or surveys.empty or c.empty:
        return c
    low = surveys.loc[pd.to_numeric(surveys.score, errors="coerce") <= LOW_SCORE, ["call_id"]]
    position = pc.fill_null(pc.index_in(_text(low.call_id), value_set=_text(c.call_id)), -1).to_numpy(zero_copy_only=False)
    position = position[position >= 0]
    position = position[c["caller"].notna().to_numpy()[position]]
    if len(position) == 0:
        return c
    rated = pd.DataFrame({"caller": c["caller"].to_numpy(dtype="int64", na_value=0)[position],
                          "t": c["ended_at_ls"].to_numpy(dtype="float64")[position].astype("int64")}).sort_values("t")
    roots = np.flatnonzero(c["repeat"].notna().to_numpy() & c["parent_call_id"].isna().to_numpy())
    r = pd.DataFrame({"caller": c["caller"].to_numpy(dtype="int64", na_value=0)[roots],
                      "t": c["started_at_ls"].to_numpy(dtype="float64")[roots].astype("int64"), "row": roots}).sort_values("t")
    prior = pd.merge_asof(r, rated.assign(rated_at=rated.t), on="t", by="caller", direction="backward", allow_exact_matches=False)
    root_flag = np.zeros(len(c))
    root_flag[prior.row.to_numpy()] = ((prior.t - prior.rated_at) <= settings.repeat_call_hours * 3600).to_numpy()
    flag = root_flag[c["root_row"].to_numpy()] if "root_row" in c else root_flag
    c["unhappy"] = np.where(c["repeat"].isna(), np.nan, flag)
    return c


def peak_intervals(legs: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """The busiest intervals of each day by offered (queued) calls: the site's peak hours, found in its own volume."""
    step = settings.peak_interval_minutes * 60
    queued = legs.loc[legs["enqueued_at_ls"].notna() & legs["direction"].eq("inbound"), "enqueued_at_ls"].astype("int64")
    if queued.empty:
        return pd.DataFrame({"day": pd.Series(dtype="int64"), "interval_start": pd.Series(dtype="int64"),
                             "offered": pd.Series(dtype="int64"), "peak": pd.Series(dtype=bool),
                             "start": pd.Series(dtype="int64"), "end": pd.Series(dtype="int64")})
    slot = (queued // step) * step
    counts = slot.value_counts().sort_index()
    frame = pd.DataFrame({"start": counts.index.to_numpy(), "offered": counts.to_numpy()})
    frame["day"] = frame.start // DAY
    frame["end"] = frame.start + step
    frame["interval_start"] = frame.start - frame.day * DAY
    threshold = frame.groupby("day").offered.transform(lambda v: np.quantile(v, 1.0 - settings.peak_share, method="higher"))
    frame["peak"] = frame.offered >= threshold
    return frame[["day", "interval_start", "offered", "peak", "start", "end"]]


def _answered_sums(legs: pd.DataFrame, tables: dict[str, pd.DataFrame], settings: FeatureSettings) -> pd.DataFrame:
    a = legs[legs.is_answered]
    if a.empty:
        return pd.DataFrame()
    g = pd.DataFrame({
        "rep_id": a.rep_id, "day": a.day.astype("int64"),
        "answered": 1.0, "talk_seconds": a.talk,
        "short_agent_hangups": a.is_short.astype(float),
        "short_hangup_repeats": (a.is_short & a.called_back.fillna(False).astype(bool)).astype(float),
        "very_short_calls": a.is_very_short.astype(float),
        "hold_seconds": a.hold.fillna(0.0), "hold_observed_calls": a.hold.notna().astype(float),
        "hangups_on_hold": a.on_hold.fillna(False).astype(bool).astype(float),
        "ended_on_hold_observed": a.on_hold.notna().astype(float),
        "quick_transfers": a.is_quick.astype(float), "transfers": a.is_transfer.astype(float),
        "escalations": a.is_escalation.astype(float), "fast_escalations": a.is_fast_escalation.astype(float),
        "escalation_seconds": a.connected.where(a.is_escalation, 0.0),
        "self_service_transfers": a.is_self_service.astype(float),
        "talk_log_ratio_sum": np.log(a.talk_ratio.clip(lower=1e-3)).fillna(0.0), "talk_ratio_calls": a.talk_ratio.notna().astype(float),
        "long_talk_calls": a.is_long_talk.astype(float),
        "wrapup_seconds": a.wrap.fillna(0.0), "wrapup_excess_seconds": a.wrap_excess.fillna(0.0),
        "wrapup_observed_calls": a.wrap.notna().astype(float),
    })
    sums = g.groupby(["rep_id", "day"]).sum()
    surveys = tables.get("surveys")
    if surveys is not None and len(surveys):
        rated = surveys[["call_id", "score"]].merge(a[["call_id", "rep_id", "day"]], on="call_id")
        if len(rated):
            rated = rated.assign(day=rated.day.astype("int64"), score=rated.score.astype(float))
            csat = rated.groupby(["rep_id", "day"]).score.agg(csat_sum="sum", surveys="size")
            sums = sums.join(csat, how="outer")
    return sums


def _text(column: pd.Series) -> pa.Array:
    """A text column as one Arrow string array, without a Python string per cell (an Arrow-backed column is not copied)."""
    array = pa.array(column, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _repeat_of(call_ids: pd.Series, legs: pd.DataFrame, column: str = "repeat") -> np.ndarray:
    """A caller flag (`repeat`, `unhappy`) of each call id's leg: 1.0, 0.0, or NaN when unknown."""
    if len(call_ids) == 0 or legs.empty:
        return np.full(len(call_ids), np.nan)
    position = pc.index_in(_text(call_ids), value_set=_text(legs.call_id))
    position = pc.fill_null(position, -1).to_numpy(zero_copy_only=False)
    flags = legs[column].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(position >= 0, flags[np.maximum(position, 0)], np.nan)


def _acted_offers(tables: dict[str, pd.DataFrame], legs: pd.DataFrame, timezone: str, lo: int, hi: int) -> pd.DataFrame:
    """Offers of days lo..hi the rep could act on, with their local day and the caller's flags (read once, used twice)."""
    offers = tables.get("offers")
    if offers is None or offers.empty:
        return pd.DataFrame(columns=["call_id", "rep_id", "day", "result", "ring_seconds", "repeat", "unhappy"])
    o = offers[["call_id", "rep_id", "offered_at", "ring_seconds", "result"]]
    o = o.assign(day=(local_seconds(pd.to_datetime(o.offered_at, utc=True), timezone) // DAY))
    o = o[(o.result != "caller_abandoned") & (o.day >= lo) & (o.day <= hi)]  # a caller hanging up while it rang is not a miss
    return o.assign(day=o.day.astype("int64"), repeat=_repeat_of(o.call_id, legs),
                    unhappy=np.nan_to_num(_repeat_of(o.call_id, legs, "unhappy")).astype(bool))


def _offer_sums(o: pd.DataFrame) -> pd.DataFrame:
    if o.empty:
        return pd.DataFrame()
    missed = o.result.isin(MISSED_RESULTS)
    known = o.repeat.notna()
    is_repeat = o.repeat.fillna(0.0).astype(bool)
    g = pd.DataFrame({
        "rep_id": o.rep_id, "day": o.day, "offers_acted": 1.0, "offers_missed": missed.astype(float),
        "offers_declined": o.result.eq("declined").astype(float),
        "offers_repeat": (known & is_repeat).astype(float), "skips_repeat": (known & is_repeat & missed).astype(float),
        "offers_first": (known & ~is_repeat).astype(float), "skips_first": (known & ~is_repeat & missed).astype(float),
        "offers_unhappy": o.unhappy.astype(float), "skips_unhappy": (o.unhappy & missed).astype(float),
    })
    return g.groupby(["rep_id", "day"]).sum()


def _callers(legs: pd.DataFrame) -> np.ndarray:
    return legs.loc[legs.direction.eq("inbound") & legs.caller.notna(), "caller"].astype("int64").unique()


def _outbound(legs: pd.DataFrame, cover: pd.DataFrame, known_customers: np.ndarray | None) -> pd.DataFrame:
    """The reps' outbound legs with their local `day` and `personal`: on shift, to a number that never called in.

    One flag for the count and the example calls, so every example shown is a
    call that was counted.
    """
    out = legs[legs.direction.eq("outbound") & legs.rep_id.notna() & legs.started_at_ls.notna()]
    if out.empty:
        return out.assign(day=pd.Series(dtype="int64"), personal=pd.Series(dtype=bool))
    if known_customers is None:
        known_customers = _callers(legs)
    customer = out.caller.isin(known_customers).fillna(False).astype(bool)
    points = pd.DataFrame({"rep_id": out.rep_id.to_numpy(), "day": (out.started_at_ls // DAY).astype("int64").to_numpy(),
                           "at": out.started_at_ls.astype("int64").to_numpy()})
    on_shift = covered(points, cover, ["rep_id", "day"]) if len(cover) else np.ones(len(out), dtype=bool)
    return out.assign(day=points.day.to_numpy(), personal=out.caller.notna().to_numpy() & ~customer.to_numpy() & on_shift)


def _outbound_sums(outbound: pd.DataFrame) -> pd.DataFrame:
    if outbound.empty:
        return pd.DataFrame()
    g = pd.DataFrame({"rep_id": outbound.rep_id.to_numpy(), "day": outbound.day.to_numpy(), "outbound_calls": 1.0,
                      "personal_calls": outbound.personal.astype(float).to_numpy()})
    return g.groupby(["rep_id", "day"]).sum()


def _states(tables: dict[str, pd.DataFrame], timezone: str) -> pd.DataFrame:
    states = tables.get("agent_states")
    if states is None or states.empty:
        return pd.DataFrame(columns=["rep_id", "state", "reason", "start", "end"])
    return pd.DataFrame({
        "rep_id": states.rep_id.to_numpy(), "state": states.state.to_numpy(),
        "reason": states.reason.fillna("").astype(str).str.strip().str.lower().to_numpy(),
        "start": local_seconds(pd.to_datetime(states.started_at, utc=True), timezone).astype("int64").to_numpy(),
        "end": local_seconds(pd.to_datetime(states.ended_at, utc=True), timezone).astype("int64").to_numpy(),
    })


def _schedule(tables: dict[str, pd.DataFrame], timezone: str, activities: list[str]) -> pd.DataFrame:
    schedules = tables.get("schedules")
    if schedules is None or schedules.empty:
        return pd.DataFrame(columns=["rep_id", "start", "end", "day"])
    s = schedules[schedules.activity.isin(activities)]
    frame = pd.DataFrame({
        "rep_id": s.rep_id.to_numpy(),
        "start": local_seconds(pd.to_datetime(s.starts_at, utc=True), timezone).astype("int64").to_numpy(),
        "end": local_seconds(pd.to_datetime(s.ends_at, utc=True), timezone).astype("int64").to_numpy(),
    })
    return split_at_midnight(frame)


def _presence(tables, legs, peaks, settings: FeatureSettings, timezone: str) -> dict:
    """Pause and shift sums per rep-day, with the guards; `cover` = when each rep was supposed to work."""
    states = _states(tables, timezone)
    shifts = _schedule(tables, timezone, ["shift"])
    scheduled = _schedule(tables, timezone, ["break", "lunch", "meeting", "training"])
    pieces = split_at_midnight(states) if len(states) else pd.DataFrame(columns=["rep_id", "state", "reason", "start", "end", "day"])
    # Reps without a published schedule are judged on the time they were logged in.
    unscheduled_reps = sorted(set(pieces.rep_id) - set(shifts.rep_id))
    cover = pd.concat([shifts, pieces.loc[pieces.rep_id.isin(unscheduled_reps), ["rep_id", "start", "end", "day"]]],
                      ignore_index=True)
    if states.empty:
        return {"sums": pd.DataFrame(), "cover": cover}
    peak_rows = peaks.loc[peaks.peak, ["day", "start", "end"]]

    pieces["seconds"] = pieces.end - pieces.start
    logged = pieces.groupby(["rep_id", "day"]).seconds.sum().rename("logged_in_seconds")
    available = pieces[pieces.state == "available"].groupby(["rep_id", "day"]).seconds.sum().rename("available_seconds")
    cover_pieces = cover.assign(id=np.arange(len(cover)))
    cover_pieces["seconds"] = cover_pieces.end - cover_pieces.start
    shift_seconds = cover_pieces.groupby(["rep_id", "day"]).seconds.sum().rename("shift_seconds")
    peak_shift = overlap(cover_pieces, peak_rows, ["day"])
    peak_shift = cover_pieces.assign(p=cover_pieces.id.map(peak_shift)).groupby(["rep_id", "day"]).p.sum().rename("peak_shift_seconds")
    start_hour = (cover_pieces.groupby(["rep_id", "day"]).start.min() % DAY / 3600.0).rename("shift_start_hour")

    wrapup = _lower(settings.wrapup_reasons)
    pauses = states[(states.state == "paused") & ~states.reason.isin(wrapup)].reset_index(drop=True)
    pauses["id"] = np.arange(len(pauses))
    pauses["day"] = pauses.start // DAY
    pauses["length"] = pauses.end - pauses.start
    pauses["site_wide"] = _site_wide(pauses, states, settings)
    p_pieces = split_at_midnight(pauses[["id", "rep_id", "start", "end"]])
    on_shift = intersect(p_pieces, cover, ["rep_id", "day"])
    in_schedule = intersect(on_shift, scheduled, ["rep_id", "day"]) if len(scheduled) else on_shift.iloc[0:0]
    length = lambda f: (f.end - f.start).groupby(f.id).sum()  # noqa: E731
    shift_part = length(on_shift).reindex(pauses.id, fill_value=0).to_numpy()
    sched_part = length(in_schedule).reindex(pauses.id, fill_value=0).to_numpy()
    peak_part = (overlap(on_shift, peak_rows, ["day"]).reindex(pauses.id, fill_value=0).to_numpy()
                 - overlap(in_schedule, peak_rows, ["day"]).reindex(pauses.id, fill_value=0).to_numpy()) if len(on_shift) else np.zeros(len(pauses))
    unscheduled = np.clip(shift_part - sched_part, 0, None)
    counted = ~pauses.site_wide.to_numpy()
    is_break = pauses.reason.isin(_lower(settings.break_reasons)).to_numpy()
    is_tech = pauses.reason.isin(_lower(settings.technical_reasons)).to_numpy()
    starts = pd.DataFrame({"rep_id": pauses.rep_id, "day": pauses.day, "at": pauses.start})
    chosen = ~pauses.reason.isin(_lower(settings.system_pause_reasons)).to_numpy()
    free_start = covered(starts, cover, ["rep_id", "day"]) & ~covered(starts, scheduled, ["rep_id", "day"]) & chosen
    toggles = free_start & (pauses.length.to_numpy() < settings.toggle_pause_seconds)
    waiting = free_start & counted & _callers_waiting(pauses, legs, tables, settings)
    p = pd.DataFrame({
        "rep_id": pauses.rep_id, "day": pauses.day,
        "break_seconds": np.where(is_break & counted, unscheduled, 0),
        "peak_break_seconds": np.where(is_break & counted, np.clip(peak_part, 0, None), 0),
        "technical_seconds": np.where(is_tech & counted, unscheduled, 0),
        "site_wide_pause_seconds": np.where(~counted, pauses.length, 0),
        "scheduled_pause_seconds": sched_part,
        "unscheduled_pauses": (free_start & counted).astype(float),
        "pauses_while_waiting": waiting.astype(float),
        "toggles": toggles.astype(float),
    }).groupby(["rep_id", "day"]).sum()
    sums = pd.concat([logged, available, shift_seconds, peak_shift, start_hour, p], axis=1, join="outer")
    sums.index = sums.index.set_names(["rep_id", "day"])
    return {"sums": sums.astype("float64"), "cover": cover}


def _site_wide(pauses: pd.DataFrame, states: pd.DataFrame, settings: FeatureSettings) -> pd.Series:
    """Pauses that many reps started with the same reason at nearly the same time: an outage, not an excuse."""
    if pauses.empty:
        return pd.Series(False, index=pauses.index)
    half = settings.site_wide_window_minutes * 60 // 2
    # Count reps, not pauses: one rep toggling the same reason five times is not five colleagues.
    ordered = pauses.sort_values(["reason", "rep_id", "start"])
    previous = ordered.groupby(["reason", "rep_id"]).start.shift()
    counts = ordered[previous.isna() | (ordered.start - previous > 2 * half)]
    near = np.zeros(len(pauses), dtype=np.int64)
    for reason, group in pauses.groupby("reason"):
        t = np.sort(counts.loc[counts.reason == reason, "start"].to_numpy())
        at = group.start.to_numpy()
        near[group.index.to_numpy()] = np.searchsorted(t, at + half, side="right") - np.searchsorted(t, at - half, side="left")
    logged_in = count_open(states.start.to_numpy(), states.end.to_numpy(), pauses.start.to_numpy())
    needed = np.maximum(settings.site_wide_min_reps, np.ceil(settings.site_wide_share * logged_in))
    return pd.Series(near >= needed, index=pauses.index)


def _rep_queues(tables: dict[str, pd.DataFrame], legs: pd.DataFrame) -> pd.DataFrame:
    """Which queues can ring each rep: the roster's skills and the queues they answered."""
    reps = tables.get("reps")
    pairs = []
    if reps is not None and len(reps) and "queues" in reps:
        listed = reps[["rep_id", "queues"]].dropna()
        listed = listed.assign(queue=listed.queues.astype(str).str.split(";")).explode("queue")
        pairs.append(listed[["rep_id", "queue"]])
    pairs.append(legs.loc[legs.is_answered, ["rep_id", "queue"]].drop_duplicates())
    out = pd.concat(pairs, ignore_index=True).dropna()
    out["queue"] = out.queue.astype(str).str.strip()
    return out[out.queue != ""].drop_duplicates()


def _callers_waiting(pauses: pd.DataFrame, legs: pd.DataFrame, tables: dict[str, pd.DataFrame], settings: FeatureSettings) -> np.ndarray:
    """Whether a caller had been waiting (longer than `waiting_min_seconds`) in one of the rep's queues as the pause began."""
    queued = legs[legs.enqueued_at_ls.notna() & legs.direction.eq("inbound")]
    if queued.empty or pauses.empty:
        return np.zeros(len(pauses), dtype=bool)
    leave = queued.answered_at_ls.fillna(queued.ended_at_ls)
    waits = pd.DataFrame({"queue": queued.queue.astype(str).to_numpy(),
                          "enter": queued.enqueued_at_ls.astype("int64").to_numpy() + settings.waiting_min_seconds,
                          "leave": leave.astype("int64").to_numpy()})
    waits = waits[waits.leave > waits.enter]
    asks = pauses[["id", "rep_id", "start"]].merge(_rep_queues(tables, legs), on="rep_id")
    hit = np.zeros(len(pauses), dtype=bool)
    for queue, group in asks.groupby("queue"):
        w = waits[waits.queue == queue]
        if w.empty:
            continue
        n = count_open(w.enter.to_numpy(), w.leave.to_numpy(), group.start.to_numpy())
        hit[group.id.to_numpy()[n > 0]] = True
    return hit


EVIDENCE_KINDS = {
    "missed_offer": "offers the rep let ring out or declined",
    "skipped_repeat_caller": "offers from repeat callers the rep let ring or declined",
    "early_hangup": "calls the rep ended within seconds",
    "very_short_call": "answered calls over within seconds (who ended them unknown)",
    "long_hold": "calls with the longest hold",
    "hangup_on_hold": "calls where the caller hung up on hold",
    "quick_transfer": "calls transferred within seconds",
    "fast_escalation": "calls escalated within seconds",
    "self_service": "calls sent back to self-service",
    "personal_call": "outbound calls to numbers that never called in",
    "long_talk": "the longest completed calls against the queue median",
    "long_wrapup": "calls with the longest after-call work",
}


def _evidence(legs: pd.DataFrame, offers: pd.DataFrame, outbound: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Up to `examples_per_day` example call ids per rep, day and kind, the most telling first."""
    a = legs[legs.is_answered]
    frames = []

    def add(kind: str, rows: pd.DataFrame, magnitude: pd.Series) -> None:
        if len(rows):
            frames.append(pd.DataFrame({"rep_id": rows.rep_id.to_numpy(), "day": rows.day.astype("int64").to_numpy(), "kind": kind,
                                        "call_id": rows.call_id.to_numpy(), "magnitude": magnitude.astype(float).to_numpy()}))

    o = offers[offers.result.isin(MISSED_RESULTS)]
    add("missed_offer", o, -o.ring_seconds.astype(float))
    flag = o.repeat == 1.0
    add("skipped_repeat_caller", o[flag], -o.ring_seconds[flag].astype(float))
    add("early_hangup", a[a.is_short], -a.connected[a.is_short])
    add("very_short_call", a[a.is_very_short], -a.connected[a.is_very_short])
    held = a[a.hold.fillna(0) > 0]
    add("long_hold", held, held.hold)
    hung = a[a.on_hold.fillna(False).astype(bool)]
    add("hangup_on_hold", hung, hung.hold.fillna(0))
    add("quick_transfer", a[a.is_quick], -a.connected[a.is_quick])
    add("fast_escalation", a[a.is_fast_escalation], -a.connected[a.is_fast_escalation])
    add("self_service", a[a.is_self_service], -a.connected[a.is_self_service])
    personal = outbound[outbound.personal]
    add("personal_call", personal, (personal.ended_at_ls - personal.started_at_ls).astype(float))
    long = a[a.is_long_talk]
    add("long_talk", long, long.talk_ratio)
    wrapped = a[a.wrap.notna() & (a.wrap_excess > 0)]
    add("long_wrapup", wrapped, wrapped.wrap)
    if not frames:
        return pd.DataFrame({"rep_id": pd.Series(dtype="object"), "day": pd.Series(dtype="int64"), "kind": pd.Series(dtype="object"),
                             "call_id": pd.Series(dtype="object"), "magnitude": pd.Series(dtype="float64")})
    ev = pd.concat(frames, ignore_index=True)
    # The k most telling per rep, day and kind: one integer sort instead of sorting strings.
    rep_code, _ = pd.factorize(ev.rep_id)
    kind_code, _ = pd.factorize(ev.kind)
    order = np.lexsort((-ev.magnitude.to_numpy(), kind_code, ev.day.to_numpy(), rep_code))
    ev = ev.iloc[order].reset_index(drop=True)
    key = np.stack([rep_code[order], ev.day.to_numpy(), kind_code[order]])
    starts = np.r_[True, (np.diff(key, axis=1) != 0).any(axis=0)]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(ev)), 0))
    keep = (np.arange(len(ev)) - group_start) < settings.examples_per_day
    return ev[keep].sort_values(["rep_id", "day", "kind"], kind="stable").reset_index(drop=True)
