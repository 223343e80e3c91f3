"""What a cadet killed mid-run left marked as running, settled by the next run on the same home.

A process killed with `kill -9` (or by a power cut) cannot tell Prefect or
MLflow that it stopped: its flow runs stay Running and its MLflow run stays
RUNNING for ever, and a scoring run leaves a report folder without its report.
The data needs no repair (every write is atomic and every stage idempotent),
so only the records are settled: the next run on the home, holding the home's
lock (so no other cadet is working on it), marks those flow runs Crashed and
those MLflow runs KILLED, and removes the killed scoring run's folder, which a
re-run writes again whole.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
from pathlib import Path

from pipelines.home import WORK_UNITS, Home

HOME_TAG = "cadet.home"  # on every MLflow run: which home's run it is, on a tracking server several homes share
ABANDONED = "its cadet process ended without finishing (killed, or the machine stopped); found by the next run on the home"


def settle_abandoned_runs(home: str | Path, logger: logging.Logger | logging.LoggerAdapter) -> dict:
    """Mark what a killed cadet left running on this home as ended; called at the start of a run, under the lock."""
    home = Path(home).absolute()
    settled = {"flow_runs": 0, "mlflow_runs": 0, "report_folders": 0}
    for name, settle in (("flow_runs", _crash_flow_runs), ("mlflow_runs", _kill_mlflow_runs)):
        try:
            settled[name] = settle(home, settled)
        except Exception as exc:  # a record left Running must not stop today's run; the next run tries again
            logger.warning("could not settle the %s a killed run left open (%s); the next run tries again",
                           name.replace("_", " "), str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
    if any(settled.values()):
        logger.info("a cadet killed earlier on this home left %d flow run(s) Running and %d MLflow run(s) RUNNING: "
                    "marked Crashed and KILLED (%d unfinished report folder(s) removed); its data needed no repair",
                    settled["flow_runs"], settled["mlflow_runs"], settled["report_folders"])
    settled["leftover_files"] = remove_leftovers(home)
    if settled["leftover_files"]:
        logger.info("removed %d temporary file(s) a cadet killed mid-write left under %s", settled["leftover_files"], home)
    return settled


LEFTOVERS = (".*.tmp",)  # pipelines.storage.atomic_path's temporaries
HANDED_OVER = ("customers-*.npy",  # in the scratch folder: caller pseudonyms earlier versions handed to workers
               f"{WORK_UNITS}/*")  # and a large ingest's Master.csv rows spilled by work unit


def remove_leftovers(home: Home | Path | str) -> int:
    """Half-written temporaries, the workers' hand-over files and an ingest's spilled Master.csv rows of a killed run:
    under the lock, none is in use.

    Prefect's own folder is left to Prefect.
    """
    place = Home.of(home)
    home = place.root
    removed = 0
    for path in home.glob(LEFTOVERS[0]) if home.is_dir() else ():
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    for child in home.iterdir() if home.is_dir() else ():
        if not child.is_dir() or child.resolve() == place.prefect:
            continue
        patterns = LEFTOVERS + (HANDED_OVER if child == place.scratch else ())
        for pattern in patterns:
            for path in child.rglob(pattern):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
    return removed


def _same_home(value, home: Path) -> bool:
    return value is not None and Path(str(value)).absolute() == home


def _crash_flow_runs(home: Path, settled: dict) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.runtime import flow_run
    from prefect.states import Crashed

    current = {str(flow_run.id), str(flow_run.root_flow_run_id)}
    running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    crashed = 0
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_run_filter=running, limit=200):
            if str(run.id) not in current and _same_home(run.parameters.get("home"), home):
                client.set_flow_run_state(run.id, Crashed(message=ABANDONED), force=True)
                crashed += 1
    return crashed


def _kill_mlflow_runs(home: Path, settled: dict) -> int:
    from pipelines.tracking import EXPERIMENT, MlflowStore, own_database

    database = own_database(home)
    if database is not None and not _has_running_runs(database):
        return 0  # the common case, answered without importing MLflow
    client = MlflowStore(home).client
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return 0
    query = "attributes.status = 'RUNNING'"
    if database is None:  # a shared tracking server: only this home's runs
        query += f" and tags.`{HOME_TAG}` = '{home}'"
    killed = 0
    for run in client.search_runs([found.experiment_id], filter_string=query, max_results=500):
        client.set_terminated(run.info.run_id, status="KILLED")
        killed += 1
        folder = Home.of(home).report_folder(run.info.run_id)
        if folder.is_dir():
            shutil.rmtree(folder)
            settled["report_folders"] += 1
    return killed


def _has_running_runs(database: Path) -> bool:
    if not database.exists() or not database.stat().st_size:
        return False
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as connection:
        try:
            return connection.execute("SELECT 1 FROM runs WHERE status = 'RUNNING' LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:  # no runs table yet
            return False

