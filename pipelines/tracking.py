"""Where the MLflow store of a home is: light enough for any stage to ask without loading the model code."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

SQLITE = "sqlite:///"
EXPERIMENT = "cadet"

_home_stores: set[str] = set()
log = logging.getLogger("cadet.tracking")
# Where MLflow's SQLite store writes absolute artifact locations: the experiment's, and each run's and model's under it.
ARTIFACT_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("model_versions", "storage_location"), ("logged_models", "artifact_location"))


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


def follow_moved_home(database: Path, busy_wait_s: float = 30) -> None:
    """A home moved or copied elsewhere keeps its models and reports under itself, not under the old home.

    MLflow records artifact locations as absolute paths, so a copied home would
    go on writing into the original's `mlflow/artifacts` (and a moved one would
    fail).  When the store points at another home's folder, every recorded
    location is rewritten to this home's, in one transaction.
    """
    from pipelines.failures import ServiceUnavailable, StoreDamaged

    if not database.exists() or not database.stat().st_size:
        return
    here = database.parent / "artifacts"
    with contextlib.closing(sqlite3.connect(database, timeout=busy_wait_s)) as connection:
        try:
            row = connection.execute("SELECT artifact_location FROM experiments WHERE name = ?", (EXPERIMENT,)).fetchone()
        except sqlite3.OperationalError:  # no tracking tables yet
            return
        if row is None or not str(row[0]).startswith("file:") or row[0] == here.as_uri():
            return
        old = row[0]
        before = Path(unquote(urlparse(old).path))
        if not here.exists() and before.is_dir() and any(before.iterdir()):
            raise StoreDamaged(f"{database} keeps its models under {before}, but {here} does not exist: this home's MLflow "
                               f"database was copied without its artifacts. Copy {before} to {here} (or copy the whole "
                               "home), then run this again")
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        try:
            with connection:
                for table, column in ARTIFACT_COLUMNS:
                    if table in tables:
                        connection.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608
                                           f"WHERE substr({column}, 1, ?) = ?", (here.as_uri(), len(old) + 1, len(old), old))
        except sqlite3.OperationalError as exc:
            raise ServiceUnavailable(f"{database} could not be updated for this home's new place ({exc}): let the "
                                     "program that holds it (an `mlflow ui`, a backup) finish, then run this again; "
                                     "nothing was changed") from None
    log.warning("this home was moved or copied from %s: its MLflow store now keeps models and reports under %s",
                before.parent.parent, here)
