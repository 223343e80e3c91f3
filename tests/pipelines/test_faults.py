"""kill -9 at random points of a real `cadet run`: nothing lost, nothing half-written, nothing left Running.

Each kill lands at a random moment after one of the run's stages has begun
(landing calls, computing windows, registering a model, scoring); the seed is
in every failure message, and `CADET_FAULT_SEED` replays it.  The next run on
the home is the "next command" that must find no record left Running.
"""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from simulator import SimulationConfig, simulate
from simulator.writers import write_canonical

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CADET_FAULT_SEED", random.SystemRandom().randrange(10_000)))
# what shows, from outside the process, that this run's stage has begun: a file it wrote since it started
STAGES = {
    "ingest": "lake/calls/*/part.parquet",
    "features": "lake/rep_day_features/*/part.parquet",
    "train": "mlflow/mlflow.db",
    "score": "reports/*/scores.parquet",
}


def _begun(home: Path, stage: str, since: float) -> bool:
    return any(path.stat().st_mtime > since for path in home.glob(STAGES[stage]))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    center = simulate(SimulationConfig(), n_reps=30, n_days=9, seed=11, workers=1)
    write_canonical(center.tables, folder, "csv")
    (folder / "truth.json").unlink(missing_ok=True)
    return folder


KEY = {"CADET_PSEUDONYM_KEY": "fault-injection-test-key"}  # one key, so both homes' caller keys agree


@pytest.fixture(scope="module")
def api_url(prefect_server):
    """The session's Prefect server: the killed runs and the next ones report to it, as under `cadet serve`."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def _start(home: Path, logs: Path, api_url: str | None = None, *command: str) -> subprocess.Popen:
    # as users run it: the feature windows in Prefect's process pool, whose workers must leave with a killed cadet
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_TRACKING", "CADET_WORKERS"))} | KEY
    if api_url:
        env["PREFECT_API_URL"] = api_url
    command = command or ("run", "--source", "canonical", str(logs))
    output = open(home.parent / f"{home.name}-{time.monotonic_ns()}.log", "w+")  # a file, not a pipe: a killed
    # process's pipes are not always closed in time for communicate() to return
    run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--home", str(home), *command], env=env, cwd=REPO,
                           stdout=output, stderr=subprocess.STDOUT, text=True)
    run.output = output
    return run


def _finish(run: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for the process; what it printed."""
    run.wait(timeout=timeout)
    run.output.seek(0)
    said = run.output.read()
    run.output.close()
    return said


def _flow_run_states(home: Path) -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [run.state.name for run in client.read_flow_runs(limit=200) if run.parameters.get("home") == str(home)]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _all_gone(pids: list[int], within_s: float = 15) -> bool:
    deadline = time.monotonic() + within_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return f"{pid} (gone)"


def _lake(home: Path) -> dict:
    tables = {}
    for part in sorted((home / "lake").rglob("*.parquet")):
        frame = pq.read_table(part).to_pandas().astype(str)
        tables[str(part.relative_to(home))] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return tables


def _newest_scores(home: Path):
    newest = max((home / "reports").glob("*/scores.parquet"), key=lambda p: p.stat().st_mtime)
    frame = pq.read_table(newest).to_pandas()[["rep_id", "period_start", "score", "tier", "behaviours"]].astype(str)
    return frame.sort_values(["rep_id", "period_start"]).reset_index(drop=True)


def _rows(database: Path, query: str) -> list:
    with sqlite3.connect(database) as db:
        return db.execute(query).fetchall()


@pytest.mark.minutes
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds helper processes through /proc (Linux)")
def test_kill_9_at_random_points_of_a_run_loses_nothing_and_the_next_run_settles_the_records(logs, tmp_path, api_url,
                                                                                                monkeypatch):
    from click.testing import CliRunner

    from pipelines.cli import cli

    rng = random.Random(SEED)
    clean = tmp_path / "clean"
    monkeypatch.setenv(*next(iter(KEY.items())))
    finished = CliRunner().invoke(cli, ["--home", str(clean), "run", "--source", "canonical", str(logs)])
    assert finished.exit_code == 0, finished.output

    home = tmp_path / "killed"
    kills = []
    for stage in rng.sample(list(STAGES), k=len(STAGES)):
        delay = round(rng.uniform(0, 2.0), 2)
        since = time.time()
        run = _start(home, logs, api_url)
        deadline = time.monotonic() + 300
        while not _begun(home, stage, since) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        if run.poll() is not None:  # the stage had nothing to do in this run (a champion exists): it finished
            kills.append((stage, delay, f"finished, exit {run.returncode}"))
            assert run.returncode == 0, (SEED, kills, _finish(run))
            continue
        helpers = _descendants(run.pid)  # the feature workers, when the kill lands while they work
        run.send_signal(signal.SIGKILL)
        _finish(run)
        kills.append((stage, delay, "killed"))
        assert _all_gone(helpers), (f"seed {SEED}, {kills}: {len(helpers)} helper process(es) outlived their cadet: "
                                    f"{[_command_line(pid) for pid in helpers if _alive(pid)]}")

    final = _start(home, logs, api_url)
    said = _finish(final)
    context = f"seed {SEED}, kills {kills}"
    assert final.returncode == 0, (context, said)

    after, uninterrupted = _lake(home), _lake(clean)
    assert after.keys() == uninterrupted.keys(), context
    for part, frame in uninterrupted.items():
        assert after[part].equals(frame), f"{context}: {part} differs from an uninterrupted run's"
    assert _newest_scores(home).equals(_newest_scores(clean)), context
    assert not list(home.rglob(".*.tmp")), f"{context}: temporary files left behind"

    states = _flow_run_states(home)
    assert "Running" not in states, (context, states)
    assert ("Crashed" in states) == any(k[2] == "killed" for k in kills), (context, states)
    mlflow_runs = _rows(home / "mlflow" / "mlflow.db", "SELECT run_uuid, status FROM runs")
    assert all(status != "RUNNING" for _, status in mlflow_runs), (context, mlflow_runs)
    for folder in (home / "reports").iterdir():
        assert (folder / "report.html").exists(), f"{context}: {folder.name} is a killed run's unfinished report"
    champion = _rows(home / "mlflow" / "mlflow.db", "SELECT version FROM registered_model_aliases WHERE alias = 'champion'")
    assert champion, context


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the server process through /proc (Linux)")
def test_the_local_prefect_server_stops_when_its_cadet_is_killed(logs, tmp_path):
    run = _start(tmp_path / "home", logs, None, "ingest", "--source", "canonical", str(logs / "reps.csv"))
    deadline = time.monotonic() + 120
    while not (servers := _children(run.pid)) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers, _finish(run)
    time.sleep(rng_delay := random.Random(SEED).uniform(0, 3))
    run.send_signal(signal.SIGKILL)
    _finish(run)
    assert _all_gone(servers), f"killed {rng_delay:.1f} s after the server started: it outlived cadet"


@pytest.fixture
def small_disk(tmp_path):
    """A real 200 KB file system (tmpfs), too small for the logs' lake; needs root to mount."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small file system needs root")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mounts a tmpfs (Linux)")
def test_a_disk_that_fills_during_ingest_is_named_in_one_line_and_the_next_ingest_lands_the_same(
        logs, tmp_path, api_url, small_disk):
    ingest = ("ingest", "--source", "canonical", str(logs))
    clean = tmp_path / "clean"
    first = _start(clean, logs, api_url, *ingest)
    said = _finish(first)
    assert first.returncode == 0, said

    full = _start(small_disk / "home", logs, api_url, *ingest)
    said = _finish(full).strip()
    assert full.returncode == 6, said
    assert f"the disk holding {small_disk / 'home'} is full" in said and "free some space" in said
    assert len(said.splitlines()) == 1, said
    assert list((small_disk / "home" / "lake").rglob("*.parquet")), "the disk filled before any day landed"

    moved = tmp_path / "moved"  # the user frees space: here, the home moves to a roomy disk
    shutil.copytree(small_disk / "home", moved, symlinks=True)
    again = _start(moved, logs, api_url, *ingest)
    said = _finish(again)
    assert again.returncode == 0, said
    after, uninterrupted = _lake(moved), _lake(clean)
    assert after.keys() == uninterrupted.keys()
    for part, frame in uninterrupted.items():
        assert after[part].equals(frame), f"{part} differs from an ingest that had room"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bind-mounts the home read-only (Linux)")
def test_a_read_only_home_is_named_in_one_line_and_left_as_it_was(logs, tmp_path, api_url):
    home = tmp_path / "home"
    first = _start(home, logs, api_url, "ingest", "--source", "canonical", str(logs / "reps.csv"))
    said = _finish(first)
    assert first.returncode == 0, said
    before = {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(home), str(home)], capture_output=True).returncode:
        pytest.skip("bind-mounting the home read-only needs root")
    try:
        assert subprocess.run(["mount", "-o", "remount,bind,ro", str(home)], capture_output=True).returncode == 0
        run = _start(home, logs, api_url, "run", "--source", "canonical", str(logs))
        said = _finish(run).strip()
    finally:
        subprocess.run(["umount", str(home)], check=True)
    assert run.returncode == 6, said
    assert f"{home} is on a read-only file system" in said and "remount it writable" in said
    assert len(said.splitlines()) == 1, said
    assert {path: path.read_bytes() for path in home.rglob("*") if path.is_file()} == before
