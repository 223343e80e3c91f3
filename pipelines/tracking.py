"""Where the MLflow store of a home is: light enough for any stage to ask without loading the model code."""

from __future__ import annotations

import os
from pathlib import Path

SQLITE = "sqlite:///"
EXPERIMENT = "cadet"

_home_stores: set[str] = set()


def tracking_uri(home: Path) -> str:
    """MLFLOW_TRACKING_URI when the user set it, else a SQLite store (with the model registry) under the home.

    `mlflow.set_tracking_uri` copies its argument into MLFLOW_TRACKING_URI, so a
    home's own store seen there is not the user's choice: one process serving
    several homes (tests, `cadet serve`) must not write to the first home's store.
    """
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured and configured not in _home_stores:
        return configured
    folder = Path(home).resolve() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"{SQLITE}{folder / 'mlflow.db'}"
    _home_stores.add(uri)
    return uri


def own_database(home: Path) -> Path | None:
    """The SQLite file of the home's own store; None when the user named a tracking server of their own."""
    uri = tracking_uri(home)
    return Path(uri[len(SQLITE):]) if uri.startswith(SQLITE) else None


def create_own_store(database: Path) -> None:
    """Create the home's MLflow database whole, or not at all.

    MLflow builds a new database with a series of migrations; a process killed
    in the middle leaves one that every later run fails to open ("table ...
    already exists").  Built in a temporary file and renamed into place, it is
    either absent (and built again) or complete.
    """
    if database.exists() and database.stat().st_size:
        return
    import mlflow

    from pipelines.storage import atomic_path

    with atomic_path(database) as building:
        client = mlflow.MlflowClient(tracking_uri=f"{SQLITE}{building}", registry_uri=f"{SQLITE}{building}")
        client.search_experiments(max_results=1)  # the tracking tables and every migration
        client.search_registered_models(max_results=1)  # the registry's, in the same file
