"""Interval arithmetic on site-local clock seconds, vectorised.

Features reason in the site's wall-clock time (shifts, peak hours, "per day"),
so timestamps are turned into int64 seconds of the local clock once, and every
overlap is computed by joining intervals of the same rep and day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86_400


QUARTER_HOUR = 900  # every zone's offset changes on a quarter-hour boundary


def local_seconds(stamps: pd.Series, timezone: str) -> pd.Series:
    """UTC timestamps as seconds of the site's wall clock, as float (NaN where the stamp is missing).

    The zone's offset is looked up once per distinct quarter hour, not per
    timestamp: millions of calls fall in a few thousand quarter hours.
    """
    utc = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = utc.isna().to_numpy()
    seconds = utc.to_numpy(dtype="datetime64[s]").astype("int64")
    if missing.all():
        return pd.Series(np.nan, index=stamps.index)
    buckets = seconds // QUARTER_HOUR
    distinct = np.unique(buckets[~missing])
    instants = pd.DatetimeIndex(pd.to_datetime(distinct * QUARTER_HOUR, unit="s", utc=True))
    offsets = (instants.tz_convert(timezone).tz_localize(None) - instants.tz_localize(None)).total_seconds().to_numpy()
    offset = offsets[np.clip(np.searchsorted(distinct, buckets), 0, len(distinct) - 1)]
    local = (seconds + offset).astype("float64")
    local[missing] = np.nan
    return pd.Series(local, index=stamps.index)


def split_at_midnight(frame: pd.DataFrame, start: str = "start", end: str = "end") -> pd.DataFrame:
    """Cut intervals at local midnights so each piece belongs to one day; adds `day` (int days since 1970)."""
    frame = frame[frame[end] > frame[start]]
    pieces = []
    rest = frame
    while len(rest):
        day = rest[start] // DAY
        cut = np.minimum(rest[end].to_numpy(), (day.to_numpy() + 1) * DAY)
        pieces.append(rest.assign(**{end: cut, "day": day.to_numpy()}))
        remainder = rest[rest[end].to_numpy() > cut]
        rest = remainder.assign(**{start: (remainder[start] // DAY + 1) * DAY})
    if not pieces:
        return frame.assign(day=pd.Series(dtype="int64"))
    return pd.concat(pieces, ignore_index=True)


def overlap(a: pd.DataFrame, b: pd.DataFrame, on: list[str], a_id: str = "id") -> pd.Series:
    """Seconds each row of `a` overlaps the rows of `b` sharing `on`; indexed by `a[a_id]`.

    Rows of `b` with the same keys must not overlap each other (shifts,
    scheduled activities, peak intervals do not).
    """
    if a.empty or b.empty:
        return pd.Series(0, index=pd.Index(a[a_id].unique(), name=a_id), dtype="int64")
    joined = a[[*on, a_id, "start", "end"]].merge(b[[*on, "start", "end"]], on=on, suffixes=("", "_b"))
    seconds = np.clip(np.minimum(joined.end, joined.end_b) - np.maximum(joined.start, joined.start_b), 0, None)
    return seconds.groupby(joined[a_id]).sum().reindex(a[a_id].unique(), fill_value=0).astype("int64")


def intersect(a: pd.DataFrame, b: pd.DataFrame, on: list[str], a_id: str = "id") -> pd.DataFrame:
    """The pieces where rows of `a` and `b` (same `on` keys) overlap, keeping `a`'s id and keys."""
    joined = a[[*on, a_id, "start", "end"]].merge(b[[*on, "start", "end"]], on=on, suffixes=("", "_b"))
    joined["start"] = np.maximum(joined.start, joined.start_b)
    joined["end"] = np.minimum(joined.end, joined.end_b)
    return joined.loc[joined.end > joined.start, [*on, a_id, "start", "end"]]


def covered(points: pd.DataFrame, intervals: pd.DataFrame, on: list[str], at: str = "at") -> np.ndarray:
    """Whether each point lies inside one of the intervals with the same keys (half-open)."""
    if points.empty or intervals.empty:
        return np.zeros(len(points), dtype=bool)
    left = points[[*on, at]].reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    joined = left.merge(intervals[[*on, "start", "end"]], on=on)
    inside = (joined[at] >= joined.start) & (joined[at] < joined.end)
    hit = np.zeros(len(points), dtype=bool)
    hit[joined.loc[inside, "_row"].to_numpy()] = True
    return hit


def count_open(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """How many [start, end) intervals contain each time in `at`."""
    return np.searchsorted(np.sort(starts), at, side="right") - np.searchsorted(np.sort(ends), at, side="right")
