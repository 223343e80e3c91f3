"""`cadet train`: fit the isolation forest on the lake's window features, track it in MLflow, promote it only if better.

Every training is an MLflow run (parameters, metrics, the feature list, the
data range, the model with its signature and explicit pip requirements) and a
new version of the registered model `cadet-rep-anomaly`.  The version becomes
the `champion` alias only when it passes the promotion gates against the
current champion; otherwise it stays a challenger and the run says why:

- **score stability**: on the newest window, the candidate ranks reps like the
  champion does (Spearman >= `min_score_stability`); a model that reshuffles
  everyone would change who gets investigated for no reason in the data;
- **feature drift**: no feature's median z moved more than `max_feature_drift`
  between the champion's training data and the candidate's (peer z-scores
  centre on 0, so a large shift means the data, or the lake, changed);
- **confirmed flags**: of the k rep-windows the candidate finds most unusual
  (k = analyst-confirmed flags in the training range, `cadet review`), the
  share confirmed must not fall more than `review.max_confirmed_drop` below the
  champion's; without confirmed flags the gate says so and does not block.

The first model has no champion to beat and is promoted.  The MLflow store is
`<home>/mlflow/mlflow.db` (SQLite, with the model registry) and
`<home>/mlflow/artifacts`, unless MLFLOW_TRACKING_URI points elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from models.anomaly import RepAnomalyModel, too_thin_for_a_model
from models.promotion import TrainingSettings, promotion_gates
from models.review import ReviewSettings
from pipelines.config import Settings, settings_of
from pipelines.failures import RunFailed
from pipelines.home import Home
from pipelines.lake import Lake
from pipelines.locking import holding_home
from pipelines.recovery import HOME_TAG
from pipelines.review import read_verdicts
from pipelines.tracking import CHAMPION, DIGEST_TAG, MODEL_NAME, SKOPS_TRUSTED_TYPES, MlflowStore

log = logging.getLogger("cadet.training")


def _pip_requirements() -> list[str]:
    import numpy
    import pandas
    import scipy
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}",
            f"scipy=={scipy.__version__}", f"skops=={skops.__version__}"]


def train_and_register(home: Home | Path | str, windows: pd.DataFrame, settings: TrainingSettings,
                       data_range: tuple[dt.date, dt.date], review: ReviewSettings | None = None) -> dict:
    """Fit, log, register; promote to champion when every gate passes."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    home = Home.of(home)
    store = MlflowStore(home)
    store.verify()
    start, end = data_range
    thin = too_thin_for_a_model(windows, settings.min_reps)
    if thin is not None:
        return {"skipped": thin, "model": MODEL_NAME, "champion": store.champion_version(), "rep_windows": len(windows),
                "start": str(start), "end": str(end), "tracking_uri": store.uri}
    client = store.client
    experiment = store.experiment_id()
    model = RepAnomalyModel(n_estimators=settings.n_estimators, null_rows=settings.null_rows,
                            random_state=settings.random_state).fit(windows)
    matrix = windows[model.features_in_]
    scores = model.anomaly_score(windows)
    newest = windows[windows.period_start == windows.period_start.max()]
    champion, champion_before = store.champion_model()
    gates = promotion_gates(model, champion, newest, settings, windows, read_verdicts(home), review)
    promoted = all(g.passed for g in gates)
    with store.active(), mlflow.start_run(experiment_id=experiment, run_name=f"train {start}..{end}",
                                          tags={HOME_TAG: str(home)}) as run:
        mlflow.log_params({"n_estimators": settings.n_estimators, "random_state": settings.random_state,
                           "clip_z": model.clip_z, "n_features": len(model.features_in_),
                           "null_rows": len(model.null_raw_)})
        mlflow.set_tags({"data_start": str(start), "data_end": str(end), "stage": "train",
                         "not_observable": ", ".join(model.not_observable_) or "-"})
        mlflow.log_metrics({"rep_windows": float(len(windows)), "reps": float(windows.rep_id.nunique()),
                            "raw_score_p50": float(np.median(model.train_raw_)),
                            "raw_score_p99": float(np.quantile(model.train_raw_, 0.99)),
                            "share_above_0_9": float((scores >= 0.9).mean()),
                            "share_beyond_null_0_999": float((scores > 0.999).mean())})
        mlflow.log_dict({"features": model.features_in_, "not_observable": model.not_observable_,
                         "feature_medians": model.feature_medians_}, "features.json")
        mlflow.log_dict({"gates": [asdict(g) for g in gates], "promoted": promoted}, "promotion.json")
        for gate in gates:
            if gate.value is not None:
                mlflow.log_metric(f"gate_{gate.name.replace(' ', '_')}", gate.value)
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(matrix, model.predict(windows)),
            pip_requirements=_pip_requirements(), serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES, registered_model_name=MODEL_NAME,
        )
        version = str(info.registered_model_version)
        client.set_model_version_tag(MODEL_NAME, version, DIGEST_TAG, hashlib.sha256(store.model_bytes(version)).hexdigest())
        store.record_version(version)
        if promoted:
            client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        client.set_model_version_tag(MODEL_NAME, version, "role", CHAMPION if promoted else "challenger")
        mlflow.set_tag("promoted", str(promoted).lower())
    return {
        "run_id": run.info.run_id, "model": MODEL_NAME, "version": version, "promoted": promoted,
        "champion_before": champion_before,
        "champion": version if promoted else champion_before,
        "gates": [asdict(g) for g in gates], "rep_windows": len(windows), "tracking_uri": store.uri,
        "start": str(start), "end": str(end),
    }


NO_FEATURES = "no window features in the lake for that range: run `cadet features` first"


def window_range(home: Home, start: str | None, end: str | None) -> tuple[dt.date | None, dt.date | None] | None:
    """The requested range as dates, or None when the lake has no window features in it."""
    first = dt.date.fromisoformat(start) if start else None
    last = dt.date.fromisoformat(end) if end else None
    if not Lake(home.lake).days("rep_window_features", first, last):
        return None
    return first, last


def read_windowed(lake: Lake, table: str, start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    """A per-window lake table with its period columns as dates again."""
    frame = lake.read(table, start, end).to_pandas()
    for column in ("period_start", "period_end"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


@task(name="fit, log and register the model", cache_policy=NO_CACHE)
def train_task(home: Home, settings: Settings, start: dt.date | None, end: dt.date | None) -> dict:
    windows = read_windowed(Lake(home.lake), "rep_window_features", start, end)
    return train_and_register(home, windows, settings.config.training,
                              (windows.period_start.min(), windows.period_start.max()), settings.config.review)


@flow(name="cadet-train")
@holding_home("cadet train")
def train_flow(home: str, settings: Settings | str | None = None, start: str | None = None, end: str | None = None) -> dict:
    """Train on the window features of [start, end] (default: all of them) and register the model.

    `settings` is a settings file, or the settings a parent flow already loaded.
    """
    home = Home.of(home)
    found = window_range(home, start, end)
    if found is None:
        raise RunFailed(NO_FEATURES)
    return train_task(home, settings_of(settings), *found)


