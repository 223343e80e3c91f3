"""`cadet run`: the scheduled pipeline in one Prefect flow.

Ingest the new logs, recompute the windows they touched, train a first model
when there is no champion, and score those windows.  Each step is the same flow
its own command runs, so a run shows in Prefect as one parent with its steps.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from features.windows import windows
from pipelines.config import Settings, settings_of
from pipelines.failures import RunFailed
from pipelines.features_flow import features_flow, lake_date_range
from pipelines.home import Home
from pipelines.ingest import ingest_flow
from pipelines.lake import Lake
from pipelines.locking import holding_home
from pipelines.progress import advance
from pipelines.scoring import score_flow
from pipelines.tracking import MlflowStore
from pipelines.training import train_flow


def windows_touched(lake_days: tuple[dt.date, dt.date], touched: list[dt.date], window_days: int) -> tuple[dt.date, dt.date]:
    """The span of the lake's windows (anchored on its first day) that hold a touched day.

    Recomputing only these keeps a nightly run's cost flat as the lake grows,
    and keeps the windows aligned with the ones computed before.
    """
    first, last = lake_days
    spans = [(lo, hi) for lo, hi in windows(first, last, window_days) if any(lo <= day <= hi for day in touched)]
    if not spans:
        return first, last
    return spans[0][0], spans[-1][1]


@flow(name="cadet-run")
@holding_home("cadet run")
def run_flow(source: str, paths: list[str], home: str, settings: Settings | str | None = None, start: str | None = None,
             end: str | None = None, workers: int = 0, only_changed: bool = False) -> dict:
    """Ingest -> features for the windows touched -> train if no champion -> score (and the report).

    `only_changed` skips files already ingested unchanged; when nothing is new
    the run ends there, successfully, saying so.  A run that cannot score
    raises `RunFailed` (a Failed flow run), carrying what it did before.
    The settings are read once, here, and each step gets the same object.
    """
    settings = settings_of(settings)
    steps = 4
    advance(0, steps, "ingesting")
    result = {"ingest": None, "features": None, "trained": None, "score": None}
    try:
        result["ingest"] = ingested = ingest_flow(source, paths, home, settings, only_changed)
    except RunFailed as failure:
        failure.summary = result | {"ingest": failure.summary}
        raise
    if not ingested["files"] and ingested["unchanged"]:
        return result | {"nothing_new": f"no new or changed files since the last ingest ({len(ingested['unchanged'])} unchanged)"}
    lake_days = lake_date_range(Lake(Home.of(home).lake))
    if lake_days is None:
        raise RunFailed("the lake holds no calls yet, so there is nothing to score: ingest the call records too", result)
    if start is None and end is None:
        touched = [dt.date.fromisoformat(day) for day in ingested["days"]]
        first, last = windows_touched(lake_days, touched, settings.config.features.window_days)
        start, end = first.isoformat(), last.isoformat()
    try:
        advance(1, steps, f"features {start} .. {end}")
        result["features"] = features_flow(home, settings, start, end, workers)
        if MlflowStore(home).champion_version() is None:
            advance(2, steps, "training a first model")
            result["trained"] = train_flow(home, settings)
        advance(3, steps, "scoring")
        result["score"] = score_flow(home, settings, start, end)
    except RunFailed as failure:  # the same failure (and exit code), carrying what the run did before it
        failure.summary = result
        raise
    advance(steps, steps, "done")
    return result | {"report": result["score"]["report"], "start": start, "end": end}
