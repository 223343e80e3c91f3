"""`cadet score`: every rep and window scored by the champion model and the rules, one report folder per run.

Writes `<home>/reports/<run>/scores.parquet` (one row per rep and window:
rep_id, period_start, period_end, score in [0, 1] with higher = more
suspicious, tier, behaviours, anomaly_score, rule_hits, and how the score was
made) and, beside it, the analyst's report.html and flagged.csv; logs the run
and the files to MLflow, and trains a first model when no champion exists yet.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from models.anomaly import too_thin_for_a_model
from models.combine import TIERS, combine
from models.review import apply_verdicts
from pipelines.config import Settings, settings_of
from pipelines.contracts import Scores, check
from pipelines.failures import RunFailed
from pipelines.home import Home
from pipelines.lake import Lake
from pipelines.locking import holding_home
from pipelines.recovery import HOME_TAG
from pipelines.report import CSV_FILE, META_FILE, REPORT_FILE, write_report
from pipelines.review import read_verdicts
from pipelines.storage import atomic_path, write_text_atomic
from pipelines.tracking import EXPERIMENT, MODEL_NAME, MlflowStore
from pipelines.training import NO_FEATURES, read_windowed, train_task, window_range

SCORES_SCHEMA = pa.schema([
    ("rep_id", pa.string()), ("period_start", pa.date32()), ("period_end", pa.date32()), ("score", pa.float64()),
    ("tier", pa.string()), ("behaviours", pa.list_(pa.string())), ("anomaly_score", pa.float64()),
    ("rule_hits", pa.list_(pa.string())), ("rule_score", pa.float64()), ("model_score", pa.float64()),
    ("sustained", pa.bool_()), ("top_features", pa.list_(pa.string())), ("flag_tier", pa.string()),
    ("verdict", pa.string()), ("previously_dismissed", pa.bool_()), ("dismissed_reason", pa.string()),
])


def blind_behaviours(lake: Lake, settings: Settings, start: dt.date | None, end: dt.date | None):
    """(period_start, code) pairs for which none of the behaviour's rules could be fed by the source."""
    import pandas as pd

    blind = read_windowed(lake, "rules_not_observable", start, end)
    if blind.empty or "code" not in blind:
        return pd.DataFrame(columns=["period_start", "code"])
    per_code = pd.Series([r.code for r in settings.rules.rules]).value_counts()
    counted = blind.groupby(["period_start", "code"]).rule_id.nunique().reset_index()
    return counted[counted.rule_id >= counted.code.map(per_code).fillna(np.inf)][["period_start", "code"]]


@task(name="score reps with the champion and the rules", cache_policy=NO_CACHE)
def score_task(home: Home, settings: Settings, start: dt.date | None, end: dt.date | None) -> dict:
    import mlflow

    config = settings.config
    lake = Lake(home.lake)
    # the window before `start` is read too: whether a pattern is sustained depends on it
    context = start - dt.timedelta(days=config.features.window_days) if start else None
    windows = read_windowed(lake, "rep_window_features", context, end)
    hits = read_windowed(lake, "rule_hits", context, end)
    store = MlflowStore(home)
    model, version = store.champion_model()
    no_model = None
    if model is None:  # too few reps for a model (see `cadet train`): the rules alone score, and the report says so
        no_model = too_thin_for_a_model(windows, config.training.min_reps) or "no model has been promoted to champion"
        anomaly, tops = np.full(len(windows), np.nan), [[] for _ in range(len(windows))]
    else:
        anomaly, tops = model.anomaly_score(windows), model.top_contributors(windows, k=3)
    scores = combine(windows, hits, anomaly, tops, config.scoring, blind=blind_behaviours(lake, settings, context, end))
    if start is not None:
        scores = scores[scores.period_start >= start].reset_index(drop=True)
    scores = check(Scores, apply_verdicts(scores, read_verdicts(home), config.review), "scoring")
    with store.active(), mlflow.start_run(experiment_id=store.experiment_id(), tags={HOME_TAG: str(home)},
                                          run_name=f"score {scores.period_start.min()}..") as run:
        folder = home.report_folder(run.info.run_id)
        with atomic_path(folder / "scores.parquet") as tmp:
            pq.write_table(pa.Table.from_pandas(scores, schema=SCORES_SCHEMA, preserve_index=False), tmp)
        meta = {"run_id": run.info.run_id, "model": MODEL_NAME, "model_version": version, "no_model": no_model,
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "tracking_uri": store.uri}
        write_text_atomic(folder / META_FILE, json.dumps(meta, indent=1))
        written = write_report(home, folder, config)
        tiers = scores.tier.value_counts()
        mlflow.set_tags({"stage": "score", "model": f"{MODEL_NAME}/{version}" if version else f"none: {no_model}", "data_start": str(scores.period_start.min()),
                         "data_end": str(scores.period_end.max())})
        mlflow.log_metrics({"rep_windows": float(len(scores)), "reps": float(scores.rep_id.nunique()),
                            **{f"tier_{t}": float(tiers.get(t, 0)) for t in TIERS}})
        for name in ("scores.parquet", REPORT_FILE, CSV_FILE):
            mlflow.log_artifact(str(folder / name))
    return {"report": str(folder), "html": written["report"], "csv": written["csv"], "run_id": run.info.run_id,
            "model_version": version, "no_model": no_model, "rep_windows": len(scores),
            "tiers": {str(t): int(tiers.get(t, 0)) for t in TIERS},
            "top": scores.head(10)[["rep_id", "period_start", "score", "tier", "behaviours"]].astype({"period_start": str})
            .to_dict("records"), "tracking_uri": store.uri, "experiment": EXPERIMENT}


@flow(name="cadet-score")
@holding_home("cadet score")
def score_flow(home: str, settings: Settings | str | None = None, start: str | None = None, end: str | None = None) -> dict:
    """Score [start, end] (default: every window in the lake); trains a first model when there is no champion.

    `settings` is a settings file, or the settings a parent flow already loaded.
    """
    home, settings = Home.of(home), settings_of(settings)
    found = window_range(home, start, end)
    if found is None:
        raise RunFailed(NO_FEATURES)
    trained = train_task(home, settings, None, None) if MlflowStore(home).champion_version() is None else None
    result = score_task(home, settings, *found)
    result["trained_first"] = trained
    return result
