"""The simulated center's calendar: opening hours, rosters, planned pauses and demand.

Everything here is drawn up front and vectorised with numpy; only routing, which
depends on who is free when, is left to the event engine.  Times are whole
seconds since the Unix epoch (UTC); each day's local midnight is converted once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from simulator.population import REASON, Reps
from simulator.settings import SimulationConfig

HOUR = 3600
MINUTE = 60
INTERVAL = 15 * MINUTE

# Opening hours, local time, by weekday (Mon=0); Sunday closed.
OPEN_HOURS = {0: (8, 20), 1: (8, 20), 2: (8, 20), 3: (8, 20), 4: (8, 20), 5: (9, 17)}
PEAK_CENTRES_H = (10.75, 14.75)  # late morning and mid-afternoon humps

BLOCK_PAUSE = 0
BLOCK_OUTBOUND = 1


@dataclass
class Day:
    index: int
    date: dt.date
    midnight: int  # epoch seconds of local midnight
    opens: int
    closes: int


@dataclass
class Plan:
    days: list[Day]
    # one row per rep-day worked
    shift_rep: np.ndarray
    shift_day: np.ndarray
    shift_start: np.ndarray
    shift_end: np.ndarray
    login: np.ndarray
    logout: np.ndarray
    # planned blocks: pauses and outbound calls
    block_rep: np.ndarray
    block_start: np.ndarray
    block_end: np.ndarray
    block_kind: np.ndarray
    block_reason: np.ndarray
    block_fixed_end: np.ndarray  # True: ends at block_end (scheduled); False: lasts its duration
    block_number: np.ndarray  # outbound: index into numbers; -1 otherwise
    block_personal: np.ndarray  # outbound to a personal (non-customer) number
    # the published schedule (rep, activity, start, end)
    schedule_rep: np.ndarray
    schedule_activity: np.ndarray
    schedule_start: np.ndarray
    schedule_end: np.ndarray
    # site events and accidents
    outages: list[tuple[int, int]]
    dnd_rep: np.ndarray
    dnd_start: np.ndarray
    dnd_end: np.ndarray
    # demand, before routing
    arrival_time: np.ndarray
    arrival_queue: np.ndarray
    arrival_caller: np.ndarray
    arrival_repeat: np.ndarray
    arrival_ivr: np.ndarray  # 0 queued, 1 self-service in IVR, 2 hung up in IVR menu
    caller_difficult: np.ndarray
    n_callers: int


SCHEDULE_ACTIVITIES = ("shift", "break", "lunch", "meeting", "training")


def build_days(cfg: SimulationConfig, n_days: int, timezone: str) -> list[Day]:
    zone = ZoneInfo(timezone)
    days = []
    for i in range(n_days):
        date = cfg.start_date + dt.timedelta(days=i)
        midnight = int(dt.datetime.combine(date, dt.time(0), tzinfo=zone).timestamp())
        hours = OPEN_HOURS.get(date.weekday())
        if hours is None:
            continue
        # Opening hours are wall-clock times: convert each separately so DST days are right.
        opens = int(dt.datetime.combine(date, dt.time(hours[0]), tzinfo=zone).timestamp())
        closes = int(dt.datetime.combine(date, dt.time(hours[1]), tzinfo=zone).timestamp())
        days.append(Day(i, date, midnight, opens, closes))
    return days


def demand_shape(hours_local: np.ndarray) -> np.ndarray:
    """Relative call demand by local hour of day: a floor plus two peaks."""
    shape = np.full_like(hours_local, 0.45, dtype=float)
    for centre in PEAK_CENTRES_H:
        shape += np.exp(-0.5 * ((hours_local - centre) / 0.9) ** 2)
    return shape


def _rosters(reps: Reps, days: list[Day], rng: np.random.Generator):
    """Which rep works which day, and when their shift starts and ends."""
    n = len(reps)
    # Weekly pattern Mon..Sat; full-timers work five days, some swap a weekday for Saturday.
    pattern = np.zeros((n, 6), dtype=bool)
    pattern[:, :5] = True
    saturday = rng.random(n) < 0.25
    swap = rng.integers(0, 5, n)
    pattern[saturday, 5] = True
    pattern[np.flatnonzero(saturday), swap[saturday]] = False
    pt = reps.part_time
    for r in np.flatnonzero(pt):
        pattern[r] = False
        pattern[r, rng.choice(6, size=3, replace=False)] = True
    ft_start_h = rng.choice([8.0, 9.0, 10.0, 11.5], size=n, p=[0.3, 0.3, 0.2, 0.2])
    pt_start_h = rng.choice([8.0, 12.0, 15.5], size=n)
    pt_sat_h = rng.choice([9.0, 12.5], size=n)

    rows_rep, rows_day, rows_start, rows_end = [], [], [], []
    for day in days:
        wd = day.date.weekday()
        works = pattern[:, wd] & (rng.random(n) >= 0.03)  # 3% absence
        reps_today = np.flatnonzero(works)
        if wd == 5:
            start_h = np.where(pt[reps_today], pt_sat_h[reps_today], 9.0)
            length_h = np.where(pt[reps_today], 4.5, 8.0)
        else:
            start_h = np.where(pt[reps_today], pt_start_h[reps_today], ft_start_h[reps_today])
            length_h = np.where(pt[reps_today], 4.5, 8.5)
        start = day.midnight + (start_h * HOUR).astype(np.int64)
        end = start + (length_h * HOUR).astype(np.int64)
        end = np.minimum(end, day.closes)
        start = np.maximum(start, day.opens)
        rows_rep.append(reps_today)
        rows_day.append(np.full(len(reps_today), day.index))
        rows_start.append(start)
        rows_end.append(end)
    cat = lambda xs, dtype=np.int64: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)  # noqa: E731
    return cat(rows_rep), cat(rows_day), cat(rows_start), cat(rows_end)


def _place(rng, start, end, count, length, peak_bias=None, midnight=None):
    """Random starts for `count` blocks per shift, inside the shift; optionally peak-biased."""
    owner = np.repeat(np.arange(len(start)), count)
    s, e = start[owner], end[owner]
    span = np.maximum(e - s - length, 1)
    at = s + (rng.random(len(owner)) * span).astype(np.int64)
    if peak_bias is not None and len(owner):
        centres = np.array(PEAK_CENTRES_H) * HOUR
        centre = centres[rng.integers(0, len(centres), len(owner))]
        peak_at = midnight[owner] + (centre + rng.normal(0, 0.6 * HOUR, len(owner))).astype(np.int64)
        use_peak = (rng.random(len(owner)) < peak_bias[owner]) & (peak_at >= s) & (peak_at + length <= e)
        at = np.where(use_peak, peak_at, at)
    return owner, at


def build_plan(reps: Reps, cfg: SimulationConfig, n_days: int, timezone: str, rng: np.random.Generator) -> Plan:
    days = build_days(cfg, n_days, timezone)
    day_by_index = {d.index: d for d in days}
    shift_rep, shift_day, shift_start, shift_end = _rosters(reps, days, rng)
    n_shifts = len(shift_rep)
    midnight = np.array([day_by_index[d].midnight for d in shift_day], dtype=np.int64)
    login = shift_start + np.clip(rng.normal(-2, 3, n_shifts) * MINUTE, -8 * MINUTE, 5 * MINUTE).astype(np.int64)
    logout = shift_end + (rng.random(n_shifts) * 5 * MINUTE).astype(np.int64)
    part = reps.part_time[shift_rep]
    params = reps.params

    blocks: dict[str, list[np.ndarray]] = {k: [] for k in ("rep", "start", "end", "kind", "reason", "fixed", "number", "personal")}
    sched: dict[str, list[np.ndarray]] = {k: [] for k in ("rep", "activity", "start", "end")}

    def add_block(owner, at, length, reason, fixed, kind=BLOCK_PAUSE, number=None, personal=False):
        m = len(owner)
        blocks["rep"].append(shift_rep[owner])
        blocks["start"].append(at.astype(np.int64))
        blocks["end"].append((at + length).astype(np.int64))
        blocks["kind"].append(np.full(m, kind, dtype=np.int8))
        blocks["reason"].append(np.full(m, reason, dtype=np.int8) if np.isscalar(reason) else reason.astype(np.int8))
        blocks["fixed"].append(np.full(m, fixed, dtype=bool))
        blocks["number"].append(np.full(m, -1, dtype=np.int64) if number is None else number.astype(np.int64))
        blocks["personal"].append(np.full(m, personal, dtype=bool))

    def add_schedule(owner, at, length, activity):
        sched["rep"].append(shift_rep[owner])
        sched["activity"].append(np.full(len(owner), SCHEDULE_ACTIVITIES.index(activity), dtype=np.int8))
        sched["start"].append(at.astype(np.int64))
        sched["end"].append((at + length).astype(np.int64))

    all_shifts = np.arange(n_shifts)
    add_schedule(all_shifts, shift_start, shift_end - shift_start, "shift")

    def scheduled(owner, offset_h, jitter_min, length_min, reason, activity):
        at = shift_start[owner] + int(offset_h * HOUR) + (rng.uniform(-jitter_min, jitter_min, len(owner)) * MINUTE).astype(np.int64)
        at = (at // (5 * MINUTE)) * 5 * MINUTE  # schedules are published on 5-minute marks
        length = np.full(len(owner), length_min * MINUTE, dtype=np.int64)
        keep = at + length <= shift_end[owner]
        owner, at, length = owner[keep], at[keep], length[keep]
        add_schedule(owner, at, length, activity)
        add_block(owner, at, length, REASON[reason], True)

    full = np.flatnonzero(~part & (shift_end - shift_start >= 8 * HOUR))
    scheduled(full, 2.0, 15, 15, "Break", "break")
    scheduled(full, 4.0, 30, 30, "Lunch", "lunch")
    scheduled(full, 6.5, 15, 15, "Break", "break")
    scheduled(np.flatnonzero(part), 2.0, 15, 15, "Break", "break")

    heavy = np.array([reps.confounder[r] == "heavy_meetings" for r in shift_rep])
    meeting_prob = np.where(heavy, 1.0, 0.12)
    has_meeting = np.flatnonzero(rng.random(n_shifts) < meeting_prob)
    m_len = np.where(heavy[has_meeting], rng.choice([60, 90], len(has_meeting)), 30) * MINUTE
    owner, at = _place(rng, shift_start[has_meeting], shift_end[has_meeting], 1, int(m_len.max()) if len(m_len) else 0)
    at = (at // (15 * MINUTE)) * 15 * MINUTE
    owner = has_meeting[owner]
    add_schedule(owner, at, m_len, "meeting")
    add_block(owner, at, m_len, REASON["Meeting"], True)
    training = np.flatnonzero(heavy & (rng.random(n_shifts) < 0.3))
    owner, at = _place(rng, shift_start[training], shift_end[training], 1, HOUR)
    at = (at // (15 * MINUTE)) * 15 * MINUTE
    owner = training[owner]
    add_schedule(owner, at, np.full(len(owner), HOUR), "training")
    add_block(owner, at, np.full(len(owner), HOUR), REASON["Training"], True)

    def unscheduled(rate, low_s, high_s, reason, peak_bias=None, fixed=False):
        per_rep = rate[shift_rep]
        count = rng.poisson(per_rep)
        owner, at = _place(rng, shift_start, shift_end, count, high_s, peak_bias=peak_bias, midnight=midnight)
        length = rng.integers(low_s, high_s + 1, len(owner))
        if callable(reason):
            reason = reason(len(owner))
        add_block(owner, at, length, reason, fixed)

    unscheduled(params["honest_pauses_per_day"], 2 * MINUTE, 8 * MINUTE, REASON["Personal"])
    unscheduled(np.full(len(reps), 0.04), 3 * MINUTE, 10 * MINUTE, REASON["Technical"])
    unscheduled(
        params["extra_breaks_per_day"], 8 * MINUTE, 20 * MINUTE,
        lambda m: np.where(rng.random(m) < 0.6, REASON["Personal"], REASON["Break"]),
        peak_bias=np.full(n_shifts, 0.7),
    )
    unscheduled(params["tech_pauses_per_day"], 15 * MINUTE, 35 * MINUTE, REASON["Technical"])
    unscheduled(params["toggles_per_day"], 10, 45, REASON["Admin"])

    # Outbound calls: honest callbacks to customers, and avoiders' personal calls.
    count = rng.poisson(params["outbound_per_day"][shift_rep])
    owner, at = _place(rng, shift_start, shift_end, count, 6 * MINUTE)
    length = rng.integers(90, 6 * MINUTE, len(owner))
    outbound_owner_customer = (owner, at, length)
    count = rng.poisson(params["personal_calls_per_day"][shift_rep])
    owner_p, at_p = _place(rng, shift_start, shift_end, count, 12 * MINUTE)
    length_p = rng.integers(4 * MINUTE, 12 * MINUTE, len(owner_p))

    # Site-wide outages: every logged-in rep pauses "Technical" until it is over.
    outages: list[tuple[int, int]] = []
    weekdays = [d for d in days if d.date.weekday() < 5]
    n_out = rng.poisson(cfg.confounders.outages_per_30_days * len(days) / 26.0) if weekdays else 0
    if cfg.confounders.outages_per_30_days > 0 and weekdays and n_out == 0 and len(days) >= 10:
        n_out = 1
    for _ in range(n_out):
        day = weekdays[int(rng.integers(0, len(weekdays)))]
        start = int(day.opens + rng.uniform(1.5, 9.0) * HOUR)
        outages.append((start, start + int(rng.uniform(20, 60) * MINUTE)))
    outages.sort()
    for o_start, o_end in outages:
        on = np.flatnonzero((shift_start < o_start) & (shift_end > o_end))
        at = o_start + rng.integers(0, 60, len(on))
        add_block(on, at, o_end - at, REASON["Technical"], True)

    # Accidental do-not-disturb: one hour on one of the rep's days.
    dnd_rep, dnd_start = [], []
    for r in (i for i, c in enumerate(reps.confounder) if c == "dnd_accident"):
        mine = np.flatnonzero(shift_rep == r)
        if len(mine) == 0:
            continue
        s = mine[int(rng.integers(0, len(mine)))]
        dnd_rep.append(r)
        dnd_start.append(int(shift_start[s] + rng.uniform(0.5, 3.5) * HOUR))
    dnd_rep_a = np.array(dnd_rep, dtype=np.int64)
    dnd_start_a = np.array(dnd_start, dtype=np.int64)

    arrivals = _arrivals(reps, cfg, days, shift_rep, shift_start, shift_end, rng)
    (a_time, a_queue, a_caller, a_repeat, a_ivr, difficult, n_callers) = arrivals

    # Outbound numbers: customers are callers (index < n_callers); personal numbers
    # are encoded as -(rep * 8 + k) - 2 so that they never collide with a customer.
    owner, at, length = outbound_owner_customer
    # Honest outbound calls go back to people who called in (callbacks to customers).
    called_in = a_caller[rng.integers(0, len(a_caller), len(owner))] if len(a_caller) else np.zeros(len(owner), np.int64)
    add_block(owner, at, length, -1, False, kind=BLOCK_OUTBOUND, number=called_in)
    personal_slot = rng.integers(0, 3, len(owner_p))
    add_block(
        owner_p, at_p, length_p, -1, False, kind=BLOCK_OUTBOUND,
        number=-(shift_rep[owner_p] * 8 + personal_slot) - 2, personal=True,
    )

    cat = lambda key, store: np.concatenate(store[key]) if store[key] else np.zeros(0, np.int64)  # noqa: E731
    order = np.lexsort((cat("start", blocks), cat("rep", blocks)))
    b = {k: cat(k, blocks)[order] for k in blocks}
    s_order = np.lexsort((cat("start", sched), cat("rep", sched)))
    s = {k: cat(k, sched)[s_order] for k in sched}
    return Plan(
        days=days,
        shift_rep=shift_rep, shift_day=shift_day, shift_start=shift_start, shift_end=shift_end,
        login=login, logout=logout,
        block_rep=b["rep"], block_start=b["start"], block_end=b["end"], block_kind=b["kind"],
        block_reason=b["reason"], block_fixed_end=b["fixed"], block_number=b["number"], block_personal=b["personal"],
        schedule_rep=s["rep"], schedule_activity=s["activity"], schedule_start=s["start"], schedule_end=s["end"],
        outages=outages, dnd_rep=dnd_rep_a, dnd_start=dnd_start_a, dnd_end=dnd_start_a + HOUR,
        arrival_time=a_time, arrival_queue=a_queue, arrival_caller=a_caller, arrival_repeat=a_repeat,
        arrival_ivr=a_ivr, caller_difficult=difficult, n_callers=n_callers,
    )


def _arrivals(reps: Reps, cfg: SimulationConfig, days: list[Day], shift_rep, shift_start, shift_end, rng):
    """Inbound calls per queue and 15-minute interval, sized to the staffing and shaped by demand."""
    queues = cfg.queues
    primary = reps.primary_queue[shift_rep]
    times, qs = [], []
    ivr_share = cfg.ivr_self_service_share + cfg.ivr_hangup_share
    for day in days:
        edges = np.arange(day.opens, day.closes + 1, INTERVAL, dtype=np.int64)
        if len(edges) < 2:
            continue
        today = (shift_start < day.closes) & (shift_end > day.opens)
        hours_local = ((edges[:-1] + INTERVAL / 2) - day.midnight) / HOUR
        shape = demand_shape(hours_local)
        for q_index, queue in enumerate(queues):
            mine = today & (primary == q_index)
            s, e = shift_start[mine], shift_end[mine]
            lo = np.maximum(s[:, None], edges[None, :-1])
            hi = np.minimum(e[:, None], edges[None, 1:])
            staffed = np.clip(hi - lo, 0, None).sum(axis=0).astype(float) * 0.85  # less breaks and meetings
            if staffed.sum() <= 0:
                continue
            handle = queue.mean_talk_seconds * 1.05 + 8 + 45 + 10
            # Small teams cannot run as busy as large ones at the same service level (Erlang C).
            mean_staff = staffed.sum() / 0.85 / (day.closes - day.opens)
            occupancy = cfg.target_occupancy * np.clip(1 - 0.5 / np.sqrt(max(mean_staff, 1)), 0.5, 1) / (1 - 0.5 / np.sqrt(20))
            total = min(occupancy, 0.95) * staffed.sum() / handle * queue.direct_volume_factor / (1 - ivr_share)
            # Demand follows staffing (the roster is built to the forecast) but is peakier.
            weight = staffed * shape**0.4
            weight = weight / weight.sum()
            counts = rng.poisson(total * weight)
            at = np.repeat(edges[:-1], counts) + rng.integers(0, INTERVAL, counts.sum())
            times.append(at)
            qs.append(np.full(len(at), q_index, dtype=np.int16))
    if not times:
        z = np.zeros(0, np.int64)
        return z, z.astype(np.int16), z, z.astype(bool), z.astype(np.int8), np.zeros(0, bool), 0
    t = np.concatenate(times)
    q = np.concatenate(qs)
    order = np.argsort(t, kind="stable")
    t, q = t[order], q[order]
    n = len(t)
    n_callers = max(int(n * 0.8), 1)
    caller = rng.integers(0, n_callers, n)
    # Repeat callers: a share of calls comes from someone who called in the last 48 hours.
    repeat = rng.random(n) < cfg.repeat_caller_share
    lo = np.searchsorted(t, t - 48 * HOUR)
    idx = np.arange(n)
    can = repeat & (lo < idx)
    src = idx.copy()
    src[can] = lo[can] + (rng.random(can.sum()) * (idx[can] - lo[can])).astype(np.int64)
    src[can] = np.minimum(src[can], idx[can] - 1)
    for _ in range(64):  # follow chains of repeats back to a first call
        nxt = src[src]
        if np.array_equal(nxt, src):
            break
        src = nxt
    caller = caller[src]
    repeat = src != idx
    u = rng.random(n)
    ivr = np.where(u < cfg.ivr_self_service_share, 1, np.where(u < ivr_share, 2, 0)).astype(np.int8)
    difficult = rng.random(n_callers) < 0.15
    return t, q, caller, repeat, ivr, difficult, n_callers
