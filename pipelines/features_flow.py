"""`cadet features`: per-rep features and rule checks from the lake, one window at a time.

Reads only the days a window needs (plus a short look-back for repeat callers),
so memory follows the window, not the lake; windows are independent and run
in parallel worker processes, one per core by default.  Writes, per window, into the lake:
`rep_day_features`, `rep_window_features`, `call_evidence`, `rule_hits` and
`rules_not_observable`; re-running a window replaces exactly its days.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from features.daily import rep_day_features
from features.windows import rep_window_features, windows
from models.rules import RuleSet
from pipelines.config import CadetConfig, load_config, load_rules
from pipelines.failures import RunFailed
from pipelines.locking import holding_home
from pipelines.lake import Lake
from pipelines.orphans import end_with
from pipelines.progress import advance
from pipelines.storage import atomic_path

INPUT_TABLES = ("calls", "offers", "agent_states", "surveys", "schedules")
OUTPUT_TABLES = {
    "rep_day_features": "day",
    "rep_window_features": "period_start",
    "call_evidence": "day",
    "rule_hits": "period_start",
    "rules_not_observable": "period_start",
}


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
    for name in INPUT_TABLES:
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


def compute_window(home: str, config_path: str | None, start: dt.date, end: dt.date, customers: str | None = None) -> dict:
    """Read a window's days, compute its features and rule hits, write them; returns the window's summary.

    `customers` is a .npy file of caller keys known to have called in (the
    flow gathers them once for the whole range); without it they are read here.
    """
    config = load_config(config_path)
    rules = RuleSet.from_config(load_rules(config, config_path))
    lake = Lake(Path(home) / "lake")
    tables = read_window(lake, start, end, config)
    known = np.load(customers) if customers else known_customers(lake, start, end, config)
    daily = rep_day_features(tables, config.features, config.site.timezone, config.site.allotted_wrapup_seconds,
                             start, end, known)
    window = rep_window_features(daily.sums, tables["reps"], daily.rep_queues, daily.observable, config.features, start, end)
    every_day = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if window.empty:  # a week the centre was closed, or its logs are missing: nothing to judge, said so
        nothing = pa.table({})
        for name in ("rep_day_features", "call_evidence"):
            lake.write(name, nothing, "day", replace_days=every_day)
        for name in ("rep_window_features", "rule_hits", "rules_not_observable"):
            lake.write(name, nothing, "period_start", replace_days=[start])
        return {"period_start": start.isoformat(), "period_end": end.isoformat(), "reps": 0, "rep_days": 0, "hits": 0,
                "hits_by_severity": {}, "hits_by_code": {}, "flagged_reps": 0, "not_observable": [],
                "observable": daily.observable, "empty": "no rep worked in these days (no calls, offers or presence)"}
    rules.fit(window, observable=daily.observable)
    hits = rules.evaluate(window, daily.sums, daily.evidence)
    blind = rules.not_observable().assign(period_start=start, period_end=end)
    lake.write("rep_day_features", _as_lake_rows(daily.sums, ["day"]), "day", replace_days=every_day)
    lake.write("call_evidence", _as_lake_rows(daily.evidence, ["day"]), "day", replace_days=every_day)
    for name, frame in (("rep_window_features", window), ("rule_hits", hits), ("rules_not_observable", blind)):
        lake.write(name, _as_lake_rows(frame, ["period_start", "period_end"]), "period_start", replace_days=[start])
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


_workers: dict[str, ProcessPoolExecutor] = {}


@task(name="features and rules for one window", cache_policy=NO_CACHE)
def features_for_window(home: str, config_path: str | None, start: dt.date, end: dt.date, customers: str | None = None) -> dict:
    """One window, in a worker process when the flow has them (windows are independent)."""
    pool = _workers.get("pool")
    if pool is None:
        return compute_window(home, config_path, start, end, customers)
    return pool.submit(compute_window, home, config_path, start, end, customers).result()


@task(name="gather known customers", cache_policy=NO_CACHE)
def gather_customers(home: str, config_path: str | None, first: dt.date, last: dt.date) -> str:
    """Caller keys that called in around the range, once for every window (pseudonyms only, removed after the run)."""
    config = load_config(config_path)
    keys = known_customers(Lake(Path(home) / "lake"), first, last, config)
    folder = Path(home) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"customers-{first}-{last}-{os.getpid()}.npy"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, keys)
    return str(path)


def _warm_up() -> None:
    import features.daily  # noqa: F401
    import models.rules  # noqa: F401


@contextmanager
def _worker_pool(workers: int, windows_to_do: int):
    """Worker processes for the windows; none when one would do.  Memory grows with workers x window."""
    workers = min(workers or os.cpu_count() or 1, windows_to_do)
    if workers <= 1:
        yield
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=end_with,
                               initargs=(os.getpid(), 0.0))
    for _ in range(workers):
        pool.submit(_warm_up)  # start the workers and their imports while the flow gathers the customers
    _workers["pool"] = pool
    try:
        yield
    finally:
        _workers.pop("pool", None)
        pool.shutdown(cancel_futures=True)


@flow(name="cadet-features", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=8))
@holding_home("cadet features")
def features_flow(home: str, config_path: str | None = None, start: str | None = None, end: str | None = None,
                  workers: int = 0) -> dict:
    """Features and rule hits for every window in [start, end] (default: every day in the lake).

    Windows run in `workers` processes (0 = one per core), each task waiting for its window; with one worker
    (or one window) they run one after the other here, so `--workers 1` holds one window in memory at a time.
    """
    config = load_config(config_path)
    lake = Lake(Path(home) / "lake")
    found = lake_date_range(lake)
    if found is None:
        raise RunFailed("the lake has no calls yet: run `cadet ingest` (or `cadet run`) on the platform's logs first")
    first = dt.date.fromisoformat(start) if start else found[0]
    last = dt.date.fromisoformat(end) if end else found[1]
    if last < first:
        raise RunFailed(f"--end {last} is before --start {first}: swap them")
    todo = windows(first, last, config.features.window_days)
    customers = None
    try:
        with _worker_pool(workers, len(todo)):
            customers = gather_customers(home, config_path, first, last)
            if _workers.get("pool") is None:  # one worker: one window at a time, in this process
                results = []
                for done, (lo, hi) in enumerate(todo, start=1):
                    results.append(features_for_window(home, config_path, lo, hi, customers))
                    advance(done, len(todo), f"window from {results[-1]['period_start']}")
            else:  # the tasks only wait for the pool's processes, which bound how many windows run at once
                futures = [features_for_window.submit(home, config_path, lo, hi, customers) for lo, hi in todo]
                for done, finished in enumerate(as_completed(futures), start=1):
                    advance(done, len(futures), f"window from {finished.result()['period_start']}")
                results = [future.result() for future in futures]
    finally:
        if customers:
            Path(customers).unlink(missing_ok=True)
    return {"lake": str(lake.root), "start": first.isoformat(), "end": last.isoformat(), "windows": results}
