"""Rep x window features, each compared with the rep's peers by a robust z-score.

A window (a week by default) sums its days, so its features are ratios over
the whole window, not averages of daily ratios.  Peers are reps on the same
primary queue, the same shift band, the same contract (part-timers with
part-timers) and the same tenure group (new hires with new hires); a group smaller than `min_peers` widens step by step,
keeping the queue as long as it can (queue+shift -> queue+contract+tenure -> queue+tenure -> queue -> the site).  The z-score
is (value - peer median) / (1.4826 * peer MAD, or wider, see below), with a floor on the spread so a
feature that most reps have at zero does not turn one event into a huge z.
Honest reps spread further above the median than below it, so the spread is
the wider of the MAD and the upper quartile's distance from the median (at
most a quarter wider than the MAD's): a wide honest right tail raises the bar instead of
producing false alarms.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.catalog import evidence_of, feature_names, feature_values, spread_of
from features.daily import SUM_COLUMNS
from features.settings import FeatureSettings

MAD_TO_SIGMA = 1.4826
UPPER_QUARTILE_TO_SIGMA = 0.6745  # the 75th percentile of a normal distribution, in standard deviations
UPPER_SPREAD_MAX_FACTOR = 1.25  # honest variation by factors (lognormal, sigma 0.6) gives about 1.25
BAND_NAMES = ("early shift", "day shift", "late shift", "night shift")


def windows(first_day: dt.date, last_day: dt.date, window_days: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive windows from `first_day`; the last one may be shorter."""
    out, start = [], first_day
    while start <= last_day:
        end = min(start + dt.timedelta(days=window_days - 1), last_day)
        out.append((start, end))
        start = end + dt.timedelta(days=1)
    return out


def rep_window_features(
    daily: pd.DataFrame,
    reps: pd.DataFrame | None,
    rep_queues: pd.DataFrame,
    observable: dict[str, bool],
    settings: FeatureSettings,
    first_day: dt.date,
    last_day: dt.date,
) -> pd.DataFrame:
    """One row per rep and window with sums, features, peer medians (`peer_<f>`) and z-scores (`z_<f>`)."""
    frames = []
    for start, end in windows(first_day, last_day, settings.window_days):
        days = daily[(daily.day >= start) & (daily.day <= end)]
        if days.empty:
            continue
        frames.append(_one_window(days, reps, rep_queues, observable, settings, start, end))
    if not frames:
        return pd.DataFrame(columns=["rep_id", "period_start", "period_end"])
    return pd.concat(frames, ignore_index=True)


def _one_window(days, reps, rep_queues, observable, settings, start, end) -> pd.DataFrame:
    sums = days.groupby("rep_id")[list(SUM_COLUMNS)].sum()
    # One bad day is not a pattern: the robust miss rate leaves out each rep's worst day.
    worst = days.sort_values(["offers_missed", "day"], ascending=[False, True]).drop_duplicates("rep_id").set_index("rep_id")
    several = days[days.offers_acted > 0].groupby("rep_id").size() >= 2
    drop = several.reindex(sums.index, fill_value=False)
    sums["offers_missed_robust"] = sums.offers_missed - np.where(drop, worst.offers_missed.reindex(sums.index), 0)
    sums["offers_acted_robust"] = sums.offers_acted - np.where(drop, worst.offers_acted.reindex(sums.index), 0)
    # Cherry-picking leaves out the same day: a do-not-disturb hour rings out whoever calls, repeat callers
    # included, and is no more a pattern of skipping them than of missing calls.
    for column in ("offers_repeat", "skips_repeat", "offers_first", "skips_first", "offers_unhappy", "skips_unhappy"):
        sums[column] = sums[column] - np.where(drop, worst[column].reindex(sums.index), 0)
    active = (days.logged_in_seconds > 0) | (days.answered > 0) | (days.offers_acted > 0)
    sums["days_active"] = days[active].groupby("rep_id").size().reindex(sums.index, fill_value=0)
    sums["shift_hours"] = sums.shift_seconds / 3600.0
    values = feature_values(sums, observable)
    groups = _peer_groups(sums.index, days, reps, rep_queues, settings, start)
    out = pd.concat([groups, sums, values], axis=1)
    out = pd.concat([out, _compare_with_peers(out, settings)], axis=1)
    out = out.drop(columns=[c for c in out.columns if c.startswith("_peers")])
    out.insert(0, "period_end", end)
    out.insert(0, "period_start", start)
    return out.reset_index(names="rep_id")


def _label(*parts: pd.Series, prefix: str = "") -> pd.Series:
    """' · '-joined non-empty parts; 'all reps' when nothing is known."""
    joined = pd.concat(parts, axis=1).apply(lambda row: " · ".join(p for p in row if p), axis=1)
    return joined.map(lambda text: prefix + text if text else "all reps")


def _peer_groups(rep_ids, days, reps, rep_queues, settings: FeatureSettings, start: dt.date) -> pd.DataFrame:
    g = pd.DataFrame(index=rep_ids)
    roster = reps.set_index("rep_id") if reps is not None and len(reps) else pd.DataFrame()
    primary = roster["primary_queue"] if "primary_queue" in roster else pd.Series(dtype="object")
    busiest = rep_queues.sort_values(["answered", "queue"], ascending=[False, True]).drop_duplicates("rep_id").set_index("rep_id").queue \
        if len(rep_queues) else pd.Series(dtype="object")
    # Peers by the calls a rep actually got: a rep labelled "general" who spends the week on the technical
    # queue is compared with the technical queue; the roster's label serves only reps who answered nothing.
    g["primary_queue"] = busiest.reindex(rep_ids).fillna(primary.reindex(rep_ids)).fillna("unknown queue").astype(str)
    hour = days.groupby("rep_id").shift_start_hour.median().reindex(rep_ids)
    band = np.searchsorted(np.asarray(settings.shift_band_hours, dtype=float), hour.fillna(12.0).to_numpy(), side="right")
    # no presence and no schedule: the shift is unknown, and the label says nothing about it
    g["shift_band"] = [BAND_NAMES[min(b, len(BAND_NAMES) - 1)] if known else "" for b, known in zip(band, hour.notna())]
    if "hired_on" in roster:
        hired = pd.to_datetime(roster["hired_on"], errors="coerce", utc=True).dt.tz_localize(None).reindex(rep_ids)
    else:
        hired = pd.Series(pd.NaT, index=rep_ids, dtype="datetime64[ns]")
    tenure = (pd.Timestamp(start) - hired).dt.days
    g["new_hire"] = (tenure < settings.new_hire_tenure_days).fillna(False).astype(bool).to_numpy()
    contract = roster["contract"].reindex(rep_ids) if "contract" in roster else pd.Series(None, index=rep_ids, dtype="object")
    g["part_time"] = contract.eq("part_time").to_numpy()
    # A label names only what the roster says: no contract given, no "full-time"; no hiring date, no "tenured".
    tenure_name = pd.Series(np.where(g.new_hire, "new hires", np.where(hired.notna().to_numpy(), "tenured", "")), index=rep_ids)
    hours_name = pd.Series(np.where(g.part_time, "part-time", np.where(contract.eq("full_time").to_numpy(), "full-time", "")),
                           index=rep_ids)
    everyone = pd.Series("", index=rep_ids)
    levels = [
        _label(g.primary_queue, g.shift_band, hours_name, tenure_name),
        _label(g.primary_queue, hours_name, tenure_name),
        # A queue's calls are its own (tier 2 takes the escalations): the queue outranks contract and tenure.
        _label(g.primary_queue, tenure_name),
        _label(g.primary_queue),
        _label(everyone, hours_name, tenure_name, prefix="all "),
        _label(everyone, tenure_name, prefix="all "),
        pd.Series("all reps", index=rep_ids),
    ]
    level = pd.Series(len(levels) - 1, index=rep_ids)
    for i, label in reversed(list(enumerate(levels))):
        level[label.map(label.value_counts()) >= settings.min_peers] = i
    for i, label in enumerate(levels):
        g[f"_peers{i}"] = label
    g["peer_level"] = level
    g["peer_group"] = [levels[lv][rep] for rep, lv in level.items()]
    g["n_peers"] = [int((levels[lv] == levels[lv][rep]).sum()) for rep, lv in level.items()]
    return g


def _peer_stat(frame: pd.DataFrame, values: pd.DataFrame, stat, fill=np.nan) -> pd.DataFrame:
    """`stat` of each rep's peers (everyone in the rep's group at the rep's level) for every column."""
    out = pd.DataFrame(fill, index=frame.index, columns=values.columns)
    for level in sorted(frame.peer_level.unique()):
        at_level = (frame.peer_level == level).to_numpy()
        out[at_level] = stat(values.groupby(frame[f"_peers{level}"]))[at_level]
    return out


def _compare_with_peers(frame: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Peer median (`peer_<f>`) and robust z (`z_<f>`) of every feature; reps with too little evidence get no z.

    Each rep's peers are everyone in the rep's group at the rep's level (a
    widened group includes the narrower ones).  With fewer than three usable
    peers the whole site is the reference.
    """
    names = feature_names()
    usable = pd.DataFrame(index=frame.index)
    for name in names:
        evidence_column, minimum = evidence_of(name)
        minimum = settings.min_events_for_rate if minimum is None else minimum
        usable[name] = frame[name].where(frame[evidence_column].fillna(0) >= minimum)
    median = _peer_stat(frame, usable, lambda grouped: grouped.transform("median"))
    count = _peer_stat(frame, usable, lambda grouped: grouped.transform("count"), fill=0)
    upper = _peer_stat(frame, usable, lambda grouped: grouped.transform("quantile", 0.75))
    small = count < 3
    median = median.mask(small, pd.DataFrame([usable.median()] * len(frame), index=frame.index))
    upper = upper.mask(small, pd.DataFrame([usable.quantile(0.75)] * len(frame), index=frame.index))
    mad = _peer_stat(frame, (usable - median).abs(), lambda grouped: grouped.transform("median"))
    mad = mad.mask(small, pd.DataFrame([(usable - usable.median()).abs().median()] * len(frame), index=frame.index))
    # The upper quartile widens the MAD's spread by at most a quarter: enough for honest skew (module docstring),
    # not enough for an elevated minority (a third of a centre's agents cutting calls short) to hide behind.
    floors = np.broadcast_to(np.array([spread_of(name) for name in names]), mad.shape)
    two_sided = np.maximum(MAD_TO_SIGMA * mad.fillna(0.0).to_numpy(), floors)
    upper_side = ((upper - median) / UPPER_QUARTILE_TO_SIGMA).fillna(0.0).to_numpy()
    spread = np.maximum(two_sided, np.minimum(upper_side, UPPER_SPREAD_MAX_FACTOR * two_sided))
    z = ((frame[names].to_numpy(dtype="float64") - median.to_numpy()) / spread)
    z = np.where(usable.notna().to_numpy(), z, np.nan)
    out = {}
    for i, name in enumerate(names):
        out[f"peer_{name}"] = median[name].to_numpy()
        out[f"z_{name}"] = z[:, i]
    return pd.DataFrame(out, index=frame.index)
