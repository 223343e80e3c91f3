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

import contextlib
import datetime as dt
import hashlib
import json
import logging
import sqlite3
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from models.anomaly import RepAnomalyModel, too_thin_for_a_model
from models.promotion import TrainingSettings, promotion_gates
from models.review import ReviewSettings
from pipelines.config import load_config
from pipelines.failures import RunFailed, ServiceUnavailable, StoreDamaged
from pipelines.locking import holding_home
from pipelines.lake import Lake
from pipelines.recovery import HOME_TAG
from pipelines.review import read_verdicts
from pipelines.storage import write_text_atomic
from pipelines.tracking import EXPERIMENT, SQLITE, create_own_store, follow_moved_home, own_database, tracking_uri  # noqa: F401 (the stages' MLflow names)

log = logging.getLogger("cadet.training")
MODEL_NAME = "cadet-rep-anomaly"
MODEL_FILE = "model.skops"  # the one file a model is loaded from, whatever the artifact's MLmodel says
DIGEST_TAG = "cadet.model_sha256"  # on each registered version: the SHA-256 of its MODEL_FILE
CHAMPION = "champion"
# skops loads only these types back: the model's own class and functions, the trees, numpy dtypes.
SKOPS_TRUSTED_TYPES = ["models.anomaly.RepAnomalyModel", "models.anomaly._clip", "models.anomaly._with_extremes",
                       "sklearn.tree._tree.Tree", "numpy.dtype"]


def _experiment(client, home: Path) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    artifacts = (Path(home).resolve() / "mlflow" / "artifacts").as_uri()
    return client.create_experiment(EXPERIMENT, artifact_location=artifacts)


def _pip_requirements() -> list[str]:
    import numpy
    import pandas
    import scipy
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}",
            f"scipy=={scipy.__version__}", f"skops=={skops.__version__}"]


def train_and_register(home: Path, windows: pd.DataFrame, settings: TrainingSettings, data_range: tuple[dt.date, dt.date],
                       review: ReviewSettings | None = None) -> dict:
    """Fit, log, register; promote to champion when every gate passes."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri(home))
    verify_store(home)
    start, end = data_range
    thin = too_thin_for_a_model(windows, settings.min_reps)
    if thin is not None:
        return {"skipped": thin, "model": MODEL_NAME, "champion": champion_version(home), "rep_windows": len(windows),
                "start": str(start), "end": str(end), "tracking_uri": tracking_uri(home)}
    client = mlflow.MlflowClient()
    experiment = _experiment(client, home)
    model = RepAnomalyModel(n_estimators=settings.n_estimators, null_rows=settings.null_rows,
                            random_state=settings.random_state).fit(windows)
    matrix = windows[model.features_in_]
    scores = model.anomaly_score(windows)
    newest = windows[windows.period_start == windows.period_start.max()]
    champion, champion_before = champion_model(home)
    gates = promotion_gates(model, champion, newest, settings, windows, read_verdicts(home), review)
    promoted = all(g.passed for g in gates)
    with mlflow.start_run(experiment_id=experiment, run_name=f"train {start}..{end}",
                          tags={HOME_TAG: str(Path(home).absolute())}) as run:
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
        client.set_model_version_tag(MODEL_NAME, version, DIGEST_TAG, hashlib.sha256(_model_bytes(version)).hexdigest())
        _record_version(home, version)
        if promoted:
            client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        client.set_model_version_tag(MODEL_NAME, version, "role", CHAMPION if promoted else "challenger")
        mlflow.set_tag("promoted", str(promoted).lower())
    return {
        "run_id": run.info.run_id, "model": MODEL_NAME, "version": version, "promoted": promoted,
        "champion_before": champion_before,
        "champion": version if promoted else champion_before,
        "gates": [asdict(g) for g in gates], "rep_windows": len(windows), "tracking_uri": tracking_uri(home),
        "start": str(start), "end": str(end),
    }


NO_FEATURES = "no window features in the lake for that range: run `cadet features` first"


def window_range(home: str, start: str | None, end: str | None) -> tuple[dt.date | None, dt.date | None] | None:
    """The requested range as dates, or None when the lake has no window features in it."""
    first = dt.date.fromisoformat(start) if start else None
    last = dt.date.fromisoformat(end) if end else None
    if not Lake(Path(home) / "lake").days("rep_window_features", first, last):
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
def train_task(home: str, config_path: str | None, start: dt.date | None, end: dt.date | None) -> dict:
    config = load_config(config_path)
    windows = read_windowed(Lake(Path(home) / "lake"), "rep_window_features", start, end)
    return train_and_register(Path(home), windows, config.training, (windows.period_start.min(), windows.period_start.max()),
                              config.review)


@flow(name="cadet-train")
@holding_home("cadet train")
def train_flow(home: str, config_path: str | None = None, start: str | None = None, end: str | None = None) -> dict:
    """Train on the window features of [start, end] (default: all of them) and register the model."""
    found = window_range(home, start, end)
    if found is None:
        raise RunFailed(NO_FEATURES)
    return train_task(home, config_path, *found)


BUSY_WAIT_S = 30  # how long a database another program holds (an `mlflow ui`, a backup) is waited for


def locked(database: Path | str) -> str:
    return (f"{database} is locked by another program (an `mlflow ui`, a backup, a copy in progress?) and stayed so "
            f"for {BUSY_WAIT_S} s: let it finish or stop it, then run this again; nothing was changed")


REGISTRY_RECORD = "registry.json"  # beside mlflow.db: the newest version cadet registered there


def verify_store(home: Path) -> None:
    """The home's own MLflow database is whole and still holds every version cadet registered in it.

    MLflow recreates an emptied database without a word, so a lost registry would
    promote the next model as the first: `StoreDamaged` instead, with what to do.
    A tracking server the user named is theirs to keep and is not checked here.
    """
    database = own_database(home)
    if database is None:
        return
    record = database.parent / REGISTRY_RECORD
    try:
        expected = int(json.loads(record.read_text(encoding="utf-8"))["latest_version"]) if record.exists() else 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreDamaged(f"{record}, cadet's record of the newest model it registered, cannot be read ({exc}): "
                           "restore it from a backup, or delete it if mlflow.db is known to be whole") from None
    if not expected:
        create_own_store(database)
    newest = 0
    if database.exists() and database.stat().st_size:
        try:
            with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                                    timeout=BUSY_WAIT_S)) as connection:
                check = connection.execute("PRAGMA quick_check").fetchone()[0]
                if check == "ok" and expected:
                    found = connection.execute("SELECT MAX(CAST(version AS INTEGER)) FROM model_versions WHERE name = ?",
                                               (MODEL_NAME,)).fetchone()[0]
                    newest = int(found or 0)
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):  # in use, not damaged: another program holds it
                raise ServiceUnavailable(locked(database)) from None
            check = str(exc)
        if check != "ok":
            raise StoreDamaged(f"{database} is damaged (SQLite says: {check[:120]}): restore it from a backup, or move "
                               f"{database.parent} aside to start a new registry (the model history starts over)")
    if newest < expected:
        raise StoreDamaged(f"{database} holds {'no' if not newest else f'only up to version {newest} of'} "
                           f"{MODEL_NAME}, but cadet registered version {expected} there ({record}): the registry was "
                           f"emptied or replaced. Restore mlflow.db from a backup, or move {database.parent} aside to "
                           "start a new registry on purpose")
    follow_moved_home(database, BUSY_WAIT_S)


def _record_version(home: Path, version: str) -> None:
    database = own_database(home)
    if database is not None:
        write_text_atomic(database.parent / REGISTRY_RECORD, json.dumps({"model": MODEL_NAME, "latest_version": int(version)}))


def champion_version(home: Path) -> str | None:
    """The version the `champion` alias points at, or None when no model has been promoted yet."""
    import mlflow

    verify_store(home)
    uri = tracking_uri(home)
    mlflow.set_tracking_uri(uri)
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except mlflow.exceptions.MlflowException as exc:
        # Only "no such model" or "no such alias" means no champion; anything else (a server that does not answer)
        # must not let a new model be promoted past the gates as if it were the first.
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (exc.error_code == "INVALID_PARAMETER_VALUE"
                                                          and "not found" in exc.message):
            return None
        first_line = exc.message.strip().splitlines()[0] if exc.message.strip() else exc.error_code
        first_line = first_line if len(first_line) <= 160 else first_line[:157] + "..."
        raise ServiceUnavailable(f"MLflow at {uri} could not say which model is the champion ({first_line}): check that "
                                 "it is running and reachable, or unset MLFLOW_TRACKING_URI to use the store under the "
                                 "home; then run this again") from None


def champion_model(home: Path):
    """The registered champion and its version, or (None, None) when no model has been promoted yet.

    Loaded from its skops file with cadet's own list of trusted types, never as
    the artifact's MLmodel file says (whoever can write the artifact store could
    switch that to pickle and run code as the cadet user), and only if the file
    still has the digest recorded when the version was registered.
    """
    import mlflow
    import skops.io

    version = champion_version(home)
    if version is None:
        return None, None
    data = _model_bytes(version)
    recorded = mlflow.MlflowClient().get_model_version(MODEL_NAME, version).tags.get(DIGEST_TAG)
    if recorded is None:
        log.warning("model version %s was registered without a digest (by an older cadet): loaded with skops and "
                    "cadet's trusted types only; train a new model to have its file checked too", version)
    elif hashlib.sha256(data).hexdigest() != recorded:
        raise StoreDamaged(f"the file of {MODEL_NAME} version {version} (the champion) is not the one registered: its "
                           f"digest differs from the {DIGEST_TAG} tag. Something changed the artifact store: restore it "
                           "from a backup, or move the champion alias to a version you trust and train again")
    return skops.io.loads(data, trusted=SKOPS_TRUSTED_TYPES), version


def _model_bytes(version: str) -> bytes:
    """The skops file of a registered version, fetched from wherever the artifact store is."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory(prefix="cadet-model-") as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=folder)
        return (Path(local) / MODEL_FILE).read_bytes()
