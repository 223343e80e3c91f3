"""The home's MLflow store: where it is, that it is whole, and one adapter (`MlflowStore`) that every stage uses.

The module imports MLflow only when a store is opened, so a stage that only
asks where the store is does not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipelines.failures import ServiceUnavailable, StoreDamaged
from pipelines.home import Home

SQLITE = "sqlite:///"
EXPERIMENT = "cadet"
MODEL_NAME = "cadet-rep-anomaly"
MODEL_FILE = "model.skops"  # the one file a model is loaded from, whatever the artifact's MLmodel says
DIGEST_TAG = "cadet.model_sha256"  # on each registered version: the SHA-256 of its MODEL_FILE
CHAMPION = "champion"
# skops loads only these types back: the model's own class and functions, the trees, numpy dtypes.
SKOPS_TRUSTED_TYPES = ["models.anomaly.RepAnomalyModel", "models.anomaly._clip", "models.anomaly._with_extremes",
                       "sklearn.tree._tree.Tree", "numpy.dtype"]
BUSY_WAIT_S = 30  # how long a database another program holds (an `mlflow ui`, a backup) is waited for

_home_stores: set[str] = set()
log = logging.getLogger("cadet.tracking")
# Where MLflow's SQLite store writes absolute artifact locations: the experiment's, and each run's and model's under it.
ARTIFACT_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("model_versions", "storage_location"), ("logged_models", "artifact_location"))


def tracking_uri(home: Home | Path | str) -> str:
    """MLFLOW_TRACKING_URI when the user set it, else a SQLite store (with the model registry) under the home.

    `mlflow.set_tracking_uri` copies its argument into MLFLOW_TRACKING_URI, so a
    home's own store seen there is not the user's choice: one process serving
    several homes (tests, `cadet serve`) must not write to the first home's store.
    """
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured and configured not in _home_stores:
        return configured
    home = Home.of(home)
    home.mlflow.mkdir(parents=True, exist_ok=True)
    uri = f"{SQLITE}{home.mlflow_database}"
    _home_stores.add(uri)
    return uri


def own_database(home: Home | Path | str) -> Path | None:
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


def follow_moved_home(database: Path, busy_wait_s: float = BUSY_WAIT_S) -> None:
    """A home moved or copied elsewhere keeps its models and reports under itself, not under the old home.

    MLflow records artifact locations as absolute paths, so a copied home would
    go on writing into the original's `mlflow/artifacts` (and a moved one would
    fail).  When the store points at another home's folder, every recorded
    location is rewritten to this home's, in one transaction.
    """
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


def locked(database: Path | str) -> str:
    return (f"{database} is locked by another program (an `mlflow ui`, a backup, a copy in progress?) and stayed so "
            f"for {BUSY_WAIT_S} s: let it finish or stop it, then run this again; nothing was changed")


class MlflowStore:
    """The MLflow store of one home (or the server MLFLOW_TRACKING_URI names): its URI, its client, its registry.

    Every stage talks to MLflow through one of these.  The client is built for
    this store's URI; MLflow's run and model-logging calls, which only know a
    process-wide URI, are pointed at it inside `active()` and back after, so
    one process serving several homes writes each home's runs to its own store.
    """

    def __init__(self, home: Home | Path | str):
        self.home = Home.of(home)
        self.uri = tracking_uri(self.home)
        self._verified = False

    @functools.cached_property
    def client(self):
        """A client of this store only, opened once the store is known to be whole (MLflow would rebuild an
        emptied database the moment a client touched it)."""
        import mlflow

        self.verify()
        return mlflow.MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    @contextlib.contextmanager
    def active(self):
        """MLflow's fluent API (`start_run`, `log_model`, `download_artifacts`) on this store while inside."""
        import mlflow

        before = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(self.uri)
        try:
            yield self
        finally:
            mlflow.set_tracking_uri(before)

    def experiment_id(self) -> str:
        """cadet's experiment, created with its artifacts under the home when new."""
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(EXPERIMENT, artifact_location=self.home.artifacts.resolve().as_uri())

    def verify(self) -> None:
        """The home's own MLflow database is whole and still holds every version cadet registered in it.

        MLflow recreates an emptied database without a word, so a lost registry would
        promote the next model as the first: `StoreDamaged` instead, with what to do.
        A tracking server the user named is theirs to keep and is not checked here.
        """
        if self._verified:  # once per store object: a stage's lookups, client and runs all follow one check
            return
        database = own_database(self.home)
        if database is None:
            return
        record = self.home.registry_record
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
                        found = connection.execute("SELECT MAX(CAST(version AS INTEGER)) FROM model_versions "
                                                   "WHERE name = ?", (MODEL_NAME,)).fetchone()[0]
                        newest = int(found or 0)
            except sqlite3.DatabaseError as exc:
                if "locked" in str(exc) or "busy" in str(exc):  # in use, not damaged: another program holds it
                    raise ServiceUnavailable(locked(database)) from None
                check = str(exc)
            if check != "ok":
                raise StoreDamaged(f"{database} is damaged (SQLite says: {check[:120]}): restore it from a backup, or "
                                   f"move {database.parent} aside to start a new registry (the model history starts over)")
        if newest < expected:
            raise StoreDamaged(f"{database} holds {'no' if not newest else f'only up to version {newest} of'} "
                               f"{MODEL_NAME}, but cadet registered version {expected} there ({record}): the registry "
                               f"was emptied or replaced. Restore mlflow.db from a backup, or move {database.parent} "
                               "aside to start a new registry on purpose")
        follow_moved_home(database, BUSY_WAIT_S)
        self._verified = True

    def record_version(self, version: str) -> None:
        """cadet's own note of the newest version it registered, which `verify` holds the database to."""
        from pipelines.storage import write_text_atomic

        if own_database(self.home) is not None:
            write_text_atomic(self.home.registry_record,
                              json.dumps({"model": MODEL_NAME, "latest_version": int(version)}))

    def champion_version(self) -> str | None:
        """The version the `champion` alias points at, or None when no model has been promoted yet."""
        import mlflow

        self.verify()
        try:
            return str(self.client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
        except mlflow.exceptions.MlflowException as exc:
            # Only "no such model" or "no such alias" means no champion; anything else (a server that does not answer)
            # must not let a new model be promoted past the gates as if it were the first.
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (exc.error_code == "INVALID_PARAMETER_VALUE"
                                                              and "not found" in exc.message):
                return None
            first_line = exc.message.strip().splitlines()[0] if exc.message.strip() else exc.error_code
            first_line = first_line if len(first_line) <= 160 else first_line[:157] + "..."
            raise ServiceUnavailable(f"MLflow at {self.uri} could not say which model is the champion ({first_line}): "
                                     "check that it is running and reachable, or unset MLFLOW_TRACKING_URI to use the "
                                     "store under the home; then run this again") from None

    def champion_model(self):
        """The registered champion and its version, or (None, None) when no model has been promoted yet.

        Loaded from its skops file with cadet's own list of trusted types, never as
        the artifact's MLmodel file says (whoever can write the artifact store could
        switch that to pickle and run code as the cadet user), and only if the file
        still has the digest recorded when the version was registered.
        """
        import skops.io

        version = self.champion_version()
        if version is None:
            return None, None
        data = self.model_bytes(version)
        recorded = self.client.get_model_version(MODEL_NAME, version).tags.get(DIGEST_TAG)
        if recorded is None:
            log.warning("model version %s was registered without a digest (by an older cadet): loaded with skops and "
                        "cadet's trusted types only; train a new model to have its file checked too", version)
        elif hashlib.sha256(data).hexdigest() != recorded:
            raise StoreDamaged(f"the file of {MODEL_NAME} version {version} (the champion) is not the one registered: "
                               f"its digest differs from the {DIGEST_TAG} tag. Something changed the artifact store: "
                               "restore it from a backup, or move the champion alias to a version you trust and train "
                               "again")
        return skops.io.loads(data, trusted=SKOPS_TRUSTED_TYPES), version

    def model_bytes(self, version: str) -> bytes:
        """The skops file of a registered version, fetched from wherever the artifact store is."""
        import tempfile

        import mlflow

        with tempfile.TemporaryDirectory(prefix="cadet-model-") as folder, self.active():
            local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=folder)
            return (Path(local) / MODEL_FILE).read_bytes()
