"""`cadet features`: per-rep features and rule checks from the lake, one window at a time.

Reads only the days a window needs (plus a short look-back for repeat callers),
so memory follows the window, not the lake; windows are independent and run
in Prefect's process pool, one worker per core by default.  Writes, per window, into the lake:
`rep_day_features`, `rep_window_features`, `call_evidence`, `rule_hits` and
`rules_not_observable`; re-running a window replaces exactly its days.
"""

from __future__ import annotations

import datetime as dt
import math
import os

import numpy as np
import pandas as pd
import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner

from features.daily import rep_day_features
from features.windows import rep_window_features, windows
from models.rules import RuleSet
from pipelines.config import CadetConfig, Settings, settings_of
from pipelines.contracts import RepDaySums, RepWindowFeatures, RuleHits, check
from pipelines.failures import RunFailed
from pipelines.home import Home
from pipelines.lake import Lake
from pipelines.locking import holding_home
from pipelines.orphans import children_end_with_me
from pipelines.progress import advance
from pipelines.tables import CATALOG, DERIVED_TABLES, INPUT_TABLES


def lake_date_range(lake: Lake) -> tuple[dt.date, dt.date] | None:
    """First and last day with calls in the lake."""
    days = lake.days("calls")
    return (days[0], days[-1]) if days else None


def read_window(lake: Lake, start: dt.date, end: dt.date, config: CadetConfig) -> dict[str, pd.DataFrame]:
    """The lake tables a window needs: its days, a day either side for the site's zone, and the repeat look-back."""
    back = math.ceil(config.features.repeat_call_hours / 24) + 1
    spans = {"calls": (start - dt.timedelta(days=back), end + dt.timedelta(days=back)),
             "surveys": (start - dt.timedelta(days=1), end + dt.timedelta(days=3))}
    tables = {}
    for name in (n for n in INPUT_TABLES if CATALOG[n].day_column is not None):
        lo, hi = spans.get(name, (start - dt.timedelta(days=1), end + dt.timedelta(days=1)))
        tables[name] = lake.read(name, lo, hi).to_pandas()
    tables["reps"] = lake.read("reps").to_pandas()
    return tables


def known_customers(lake: Lake, start: dt.date, end: dt.date, config: CadetConfig) -> np.ndarray:
    """Caller keys that called in within the customer look-back around the window."""
    span = dt.timedelta(days=config.features.customer_lookback_days)
    calls = lake.read("calls", start - span, end + span, columns=["direction", "caller_key"])
    if calls.num_rows == 0 or "caller_key" not in calls.column_names:
        return np.zeros(0, dtype=np.int64)
    frame = calls.to_pandas()
    return frame.loc[frame.direction.eq("inbound") & frame.caller_key.notna(), "caller_key"].astype("int64").unique()


def _as_lake_rows(frame: pd.DataFrame, date_columns: list[str]) -> pa.Table:
    """Local dates become midnight timestamps (the lake's day partitions are keyed by timestamps)."""
    table = pa.Table.from_pandas(frame.drop(columns=date_columns), preserve_index=False)
    for column in date_columns:
        days = pa.array(pd.to_datetime(frame[column]).to_numpy(dtype="datetime64[us]"), pa.timestamp("us"))
        table = table.append_column(column, days.cast(pa.timestamp("us", tz="UTC")))
    table = table.select([c for c in frame.columns])
    for i, column in enumerate(table.schema):
        if pa.types.is_list(column.type) and pa.types.is_null(column.type.value_type):
            table = table.set_column(i, column.name, table[column.name].cast(pa.list_(pa.string())))
    return table


def compute_window(home: Home, settings: Settings, start: dt.date, end: dt.date,
                   customers: np.ndarray | None = None) -> dict:
    """Read a window's days, compute its features and rule hits, write them; returns the window's summary.

    `customers` are the caller keys known to have called in (the flow gathers
    them once for the whole range); without them they are read here.
    """
    config = settings.config
    rules = RuleSet.from_config(settings.rules)
    lake = Lake(home.lake)
    tables = read_window(lake, start, end, config)
    known = customers if customers is not None else known_customers(lake, start, end, config)
    daily = rep_day_features(tables, config.features, config.site.timezone, config.site.allotted_wrapup_seconds,
                             start, end, known)
    window = rep_window_features(daily.sums, tables["reps"], daily.rep_queues, daily.observable, config.features, start, end)
    every_day = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if window.empty:  # a week the centre was closed, or its logs are missing: nothing to judge, said so
        for name in DERIVED_TABLES:
            lake.write(name, pa.table({}), CATALOG[name].day_column,
                       replace_days=every_day if CATALOG[name].day_column == "day" else [start])
        return {"period_start": start.isoformat(), "period_end": end.isoformat(), "reps": 0, "rep_days": 0, "hits": 0,
                "hits_by_severity": {}, "hits_by_code": {}, "flagged_reps": 0, "not_observable": [],
                "observable": daily.observable, "empty": "no rep worked in these days (no calls, offers or presence)"}
    check(RepDaySums, daily.sums, "features")
    check(RepWindowFeatures, window, "features")
    rules.fit(window, observable=daily.observable)
    hits = check(RuleHits, rules.evaluate(window, daily.sums, daily.evidence), "the rule checks")
    blind = rules.not_observable().assign(period_start=start, period_end=end)
    for name, frame in (("rep_day_features", daily.sums), ("call_evidence", daily.evidence)):
        lake.write(name, _as_lake_rows(frame, ["day"]), CATALOG[name].day_column, replace_days=every_day)
    for name, frame in (("rep_window_features", window), ("rule_hits", hits), ("rules_not_observable", blind)):
        lake.write(name, _as_lake_rows(frame, ["period_start", "period_end"]), CATALOG[name].day_column,
                   replace_days=[start])
    return {
        "period_start": start.isoformat(), "period_end": end.isoformat(),
        "reps": int(window.rep_id.nunique()) if len(window) else 0,
        "rep_days": len(daily.sums),
        "hits": int(len(hits)),
        "hits_by_severity": {k: int(v) for k, v in hits.severity.value_counts().items()} if len(hits) else {},
        "hits_by_code": {k: int(v) for k, v in hits.code.value_counts().sort_index().items()} if len(hits) else {},
        "flagged_reps": int(hits.loc[hits.severity != "low", "rep_id"].nunique()) if len(hits) else 0,
        "not_observable": blind[["rule_id", "code", "missing"]].to_dict("records"),
        "observable": daily.observable,
    }


@task(name="features and rules for one window", cache_policy=NO_CACHE)
def features_for_window(home: Home, settings: Settings, start: dt.date, end: dt.date,
                        customers: np.ndarray | None = None) -> dict:
    """One window (windows are independent, so the flow runs them in Prefect's process pool)."""
    return compute_window(home, settings, start, end, customers)


@task(name="gather known customers", cache_policy=NO_CACHE)
def gather_customers(home: Home, settings: Settings, first: dt.date, last: dt.date) -> np.ndarray:
    """Caller keys that called in around the range, once for every window (pseudonyms only)."""
    return known_customers(Lake(home.lake), first, last, settings.config)


def worker_count(workers: int, windows_to_do: int) -> int:
    """How many processes compute the windows: `workers` (0 = one per core), never more than there are windows."""
    return max(1, min(workers or os.cpu_count() or 1, windows_to_do))


def window_runner(workers: int, windows_to_do: int) -> ProcessPoolTaskRunner | None:
    """Prefect's process pool for the windows; None when one process would do (then they run here, one at a time).

    Memory grows with workers x window.  Started inside `children_end_with_me`, each worker watches this
    process and leaves with it, even after a kill -9 (see `pipelines.orphans`).
    """
    count = worker_count(workers, windows_to_do)
    return None if count == 1 else ProcessPoolTaskRunner(max_workers=count)


@flow(name="cadet-features", log_prints=False)
@holding_home("cadet features")
def features_flow(home: str, settings: Settings | str | None = None, start: str | None = None, end: str | None = None,
                  workers: int = 0) -> dict:
    """Features and rule hits for every window in [start, end] (default: every day in the lake).

    `settings` is a settings file, or the settings a parent flow already loaded.
    Windows run in `workers` processes of Prefect's process pool (0 = one per core); with one worker (or one
    window) they run one after the other here, so `--workers 1` holds one window in memory at a time.
    """
    home, settings = Home.of(home), settings_of(settings)
    lake = Lake(home.lake)
    found = lake_date_range(lake)
    if found is None:
        raise RunFailed("the lake has no calls yet: run `cadet ingest` (or `cadet run`) on the platform's logs first")
    first = dt.date.fromisoformat(start) if start else found[0]
    last = dt.date.fromisoformat(end) if end else found[1]
    if last < first:
        raise RunFailed(f"--end {last} is before --start {first}: swap them")
    todo = windows(first, last, settings.config.features.window_days)
    customers = gather_customers(home, settings, first, last)
    runner = window_runner(workers, len(todo))
    if runner is None:  # one window at a time, in this process
        results = []
        for done, (lo, hi) in enumerate(todo, start=1):
            results.append(features_for_window(home, settings, lo, hi, customers))
            advance(done, len(todo), f"window from {results[-1]['period_start']}")
    else:
        with children_end_with_me(), runner:
            futures = [runner.submit(features_for_window, {"home": home, "settings": settings, "start": lo, "end": hi,
                                                           "customers": customers}) for lo, hi in todo]
            for done, finished in enumerate(as_completed(futures), start=1):
                advance(done, len(futures), f"window from {finished.result()['period_start']}")
            results = [future.result() for future in futures]
    return {"lake": str(lake.root), "start": first.isoformat(), "end": last.isoformat(),
            "workers": worker_count(workers, len(todo)), "windows": results}
