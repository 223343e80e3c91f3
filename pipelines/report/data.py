"""What the report is made of: the scores of one run, the lake rows behind the listed reps, and their worst days.

The edge of the report: it reads the lake and the verdicts; `views` turns
what it read into what each section shows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import feature_values
from features.daily import MISSED_RESULTS
from models.combine import TIERS
from models.review import apply_verdicts
from models.rules import HIT_COLUMNS
from pipelines.config import CadetConfig
from pipelines.contracts import SCHEMAS
from pipelines.home import Home
from pipelines.lake import Lake
from pipelines.review import read_verdicts

REPORT_FILE = "report.html"
CSV_FILE = "flagged.csv"
META_FILE = "report.json"
TIER_ORDER = {str(tier): rank for rank, tier in enumerate(TIERS)}
STATE_COLUMNS = list(SCHEMAS["agent_states"].columns)
OFFER_COLUMNS = list(SCHEMAS["offers"].columns)


@dataclass
class ReportData:
    """What the report shows: the scores of one run and the lake rows behind them."""

    scores: pd.DataFrame
    hits: pd.DataFrame
    windows: pd.DataFrame
    daily: pd.DataFrame
    not_observable: pd.DataFrame
    ingests: pd.DataFrame
    meta: dict
    best: pd.DataFrame = field(default_factory=pd.DataFrame)  # each rep's highest window, ranked
    worst: dict[str, list[dt.date]] = field(default_factory=dict)  # each listed rep's worst days
    days: dict[dt.date, dict[str, pd.DataFrame]] = field(default_factory=dict)


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def read_report_data(home: Home | Path | str, folder: Path, config: CadetConfig) -> ReportData:
    """The scores of `folder` and, from the lake, the hits, features and activity of the reps on a list."""
    scores = apply_verdicts(pd.read_parquet(folder / "scores.parquet"), read_verdicts(home), config.review)
    meta = json.loads((folder / META_FILE).read_text()) if (folder / META_FILE).exists() else {}
    lake = Lake(Home.of(home).lake)
    first, last = scores.period_start.min(), scores.period_start.max()
    # a window with no rule hit (or a lake without day features) reads as an empty table with no columns
    hits = _dates(lake.read("rule_hits", first, last).to_pandas(), "period_start", "period_end")
    hits = hits if len(hits.columns) else pd.DataFrame(columns=HIT_COLUMNS)
    windows = _dates(lake.read("rep_window_features", first, last).to_pandas(), "period_start", "period_end")
    daily = _dates(lake.read("rep_day_features", first, scores.period_end.max()).to_pandas(), "day")
    listed = set(scores.loc[scores.tier != "clear", "rep_id"])
    daily = daily[daily.rep_id.isin(listed)] if len(daily.columns) else pd.DataFrame(columns=["rep_id", "day"])
    not_observable = lake.read("rules_not_observable", first, last).to_pandas()
    ingests = lake.read("ingest_runs").to_pandas()
    data = ReportData(scores, hits, windows, daily, not_observable, ingests, meta, best_windows(scores))
    shown = data.best[data.best.tier != "clear"].rep_id.head(config.report.max_rep_sections)
    daily_values = pd.DataFrame()
    if len(daily):
        daily_values = feature_values(daily.set_index(["rep_id", "day"]), observable=_all_observable()).replace(
            [np.inf, -np.inf], np.nan)
    data.worst = {rep: worst_days(data, rep, daily_values, config) for rep in shown}
    queues: set[str] = set()  # the drawn reps' primary queues, whose arrivals their timelines show
    if data.worst and {"rep_id", "period_start", "primary_queue"} <= set(data.windows.columns):
        drawn_windows = data.windows.merge(data.best[data.best.rep_id.isin(list(data.worst))][["rep_id", "period_start"]],
                                           on=["rep_id", "period_start"])
        queues = set(drawn_windows.primary_queue.astype(str))
    for day in sorted({d for days in data.worst.values() for d in days}):
        drawn = {rep for rep, days in data.worst.items() if day in days}
        data.days[day] = _activity(lake, day, config.site.timezone, drawn, queues)
    return data


def _of(table: pa.Table, wanted: dict[str, set[str]]) -> pa.Table:
    """The rows whose value in any of the given columns is one of that column's wanted values."""
    if not table.num_rows:
        return table
    masks = [pc.is_in(table[column].cast(pa.string()), value_set=pa.array(sorted(values), pa.string()))
             for column, values in wanted.items()]
    mask = masks[0]
    for more in masks[1:]:
        mask = pc.or_kleene(mask, more)
    return table.filter(pc.fill_null(mask, False))


def _activity(lake: Lake, day: dt.date, timezone: str, reps: set[str], queues: set[str]) -> dict[str, pd.DataFrame]:
    """One local day's states, answered calls and offers of `reps`, and arrivals in `queues`, in the site's zone.

    Only the rows drawn are converted to local time: the day of a 2,000-rep centre is read, not converted whole.
    """
    lo, hi = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    start = pd.Timestamp(day).tz_localize(timezone)
    stop = start + pd.Timedelta(days=1)

    def local(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        frame = frame.copy()
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(timezone)
        return frame

    states = _of(lake.read("agent_states", lo, hi, columns=STATE_COLUMNS), {"rep_id": reps}).to_pandas()
    states = local(states, ["started_at", "ended_at"])
    states = states[(states.ended_at > start) & (states.started_at < stop)]
    calls = _of(lake.read("calls", lo, hi, columns=["call_id", "direction", "queue", "enqueued_at", "answered_at", "ended_at",
                                                     "rep_id"]), {"rep_id": reps, "queue": queues}).to_pandas()
    calls = local(calls, ["enqueued_at", "answered_at", "ended_at"])
    calls = calls[calls.direction == "inbound"]
    offers = local(_of(lake.read("offers", lo, hi, columns=OFFER_COLUMNS), {"rep_id": reps}).to_pandas(), ["offered_at"])
    return {"states": states,
            "answered": calls[calls.answered_at.notna() & (calls.answered_at < stop) & (calls.ended_at > start)],
            "queued": calls[calls.enqueued_at.notna() & (calls.enqueued_at >= start) & (calls.enqueued_at < stop)],
            "missed": offers[offers.result.isin(MISSED_RESULTS) & (offers.offered_at >= start) & (offers.offered_at < stop)],
            "start": start}


def best_windows(scores: pd.DataFrame) -> pd.DataFrame:
    """Each rep's highest-scored window, ranked: investigate first, then by score."""
    listed = scores.assign(flagged_windows=(scores.tier != "clear").groupby(scores.rep_id).transform("sum").astype(int))
    best = listed.sort_values("score", ascending=False).drop_duplicates("rep_id")
    return best.assign(order=best.tier.map(TIER_ORDER)).sort_values(["order", "score"], ascending=[True, False])


def worst_days(data: ReportData, rep_id: str, daily_values: pd.DataFrame, config: CadetConfig) -> list[dt.date]:
    """The days of the rep's best window where its strongest flagged feature was highest.

    `daily_values` holds every feature per (rep_id, day) of the listed reps.
    """
    row = data.best[data.best.rep_id == rep_id]
    if row.empty or row.tier.iloc[0] == "clear" or daily_values.empty or rep_id not in daily_values.index.get_level_values(0):
        return []
    start, end = row.period_start.iloc[0], row.period_end.iloc[0]
    values = daily_values.loc[rep_id]
    values = values[(values.index >= start) & (values.index <= end)]
    if values.empty:
        return []
    mine = data.hits[(data.hits.rep_id == rep_id) & (data.hits.period_start == start)].sort_values("z", ascending=False)
    candidates = list(mine.feature) + [f for f in row.top_features.iloc[0] if f in values]
    for name in candidates:
        if name in values and values[name].notna().any():
            return list(values[name].dropna().sort_values(ascending=False).index[: config.report.worst_days])
    return list(values.index[: config.report.worst_days])


def _all_observable() -> dict[str, bool]:
    """Every source field counted as present: the daily values only rank a rep's own days, NaN where it has no data."""
    from features.catalog import OBSERVABLE_FROM

    return dict.fromkeys(OBSERVABLE_FROM, True)
