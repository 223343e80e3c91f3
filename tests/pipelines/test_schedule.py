"""`cadet serve` against a real Prefect server on 127.0.0.1: deployments registered, cron runs that the
server's scheduler creates complete, a run that cannot score ends Failed, and cadet's steps reach the run logs."""

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from simulator import SimulationConfig, simulate
from simulator.writers import write_canonical

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def prefect_api(tmp_path):
    """A real `prefect server start` on loopback, as the README tells operators to run it."""
    port = _free_port()
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-server"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               # the real scheduler, looking every 10 s rather than every 60 s, so a test waits for it less
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="10")
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(180):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the Prefect server did not start within 180 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def _client_env(tmp_path, url):
    env = dict(os.environ, PREFECT_API_URL=url, PREFECT_HOME=str(tmp_path / "prefect-client"))
    for name in ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return env


TRIGGER = """
import json, sys
from prefect.deployments import run_deployment
run = run_deployment(sys.argv[1], timeout=float(sys.argv[2]))
print(json.dumps({"state": run.state.type.value, "message": run.state.message}))
"""


def _trigger(name, env, timeout=400):
    done = subprocess.run([sys.executable, "-c", TRIGGER, name, str(timeout)], env=env, capture_output=True, text=True,
                          timeout=timeout + 60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _serving(tmp_path, url, *serve_options):
    """A drop folder of canonical files and `cadet serve` over it against the server at `url`."""
    drop = tmp_path / "drop"
    center = simulate(SimulationConfig(), n_reps=30, n_days=7, seed=5, workers=1)
    write_canonical(center.tables, drop, "csv")
    (drop / "truth.json").unlink(missing_ok=True)
    home = tmp_path / "home"
    env = _client_env(tmp_path, url)
    serve = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--home", str(home), "serve", "--source", "canonical",
                              *serve_options, str(drop)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    return drop, home, env, serve


def _stop(serve) -> None:
    serve.terminate()
    try:
        serve.wait(timeout=60)
    except subprocess.TimeoutExpired:
        serve.kill()


@pytest.mark.minutes
def test_serve_registers_the_schedules_and_a_triggered_nightly_run_completes(prefect_api, tmp_path):
    _, home, env, serve = _serving(tmp_path, prefect_api)
    try:
        listed = ""
        for _ in range(120):
            done = subprocess.run([sys.executable, "-m", "prefect", "deployment", "ls"], env=env, capture_output=True, text=True)
            listed = done.stdout
            if "nightly" in listed and "weekly-retrain" in listed:
                break
            assert serve.poll() is None, serve.stdout.read()
            time.sleep(1)
        assert "cadet-run/nightly" in listed and "cadet-train/weekly-retrain" in listed, listed
        inspected = subprocess.run([sys.executable, "-m", "prefect", "deployment", "inspect", "cadet-run/nightly"], env=env,
                                   capture_output=True, text=True).stdout
        assert "0 2 * * *" in inspected, "the nightly cron schedule is registered"
        first = _trigger("cadet-run/nightly", env)
        assert first["state"] == "COMPLETED", first
        reports = list((home / "reports").glob("*/report.html"))
        assert len(reports) == 1 and (reports[0].parent / "scores.parquet").exists()
        again = _trigger("cadet-run/nightly", env)
        assert again["state"] == "COMPLETED", again
        assert len(list((home / "reports").glob("*/report.html"))) == 1, "nothing new in the drop folder: nothing rescored"
    finally:
        _stop(serve)


def test_serve_without_a_prefect_server_says_how_to_start_one(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "serve", "--source", "canonical", str(tmp_path)],
                                env={"PREFECT_API_URL": ""})
    assert result.exit_code == 2 and "prefect server start --host 127.0.0.1" in result.output


def _api(url: str, path: str, body: dict) -> list[dict]:
    request = urllib.request.Request(f"{url}/{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _finished_nightly_runs(url: str) -> list[dict]:
    # the scheduler books many runs ahead: ask for the finished ones only
    finished = {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}
    return _api(url, "flow_runs/filter", {"deployments": {"name": {"any_": ["nightly"]}}, "flow_runs": {"state": finished},
                                          "limit": 50})


def _logged(url: str, flow_run_id: str, text: str, timeout: float = 60) -> bool:
    """Whether an INFO line holding `text` reaches the server's log of the run; the runner ships its logs in
    batches, so they may arrive a little after the run's final state."""
    deadline = time.monotonic() + timeout
    while True:
        logs = _api(url, "logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}, "level": {"ge_": 20, "le_": 20}},
                                         "sort": "TIMESTAMP_DESC", "limit": 200})
        if any(text in log["message"] for log in logs):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(2)


def _wait_for(url: str, serve, wanted, what: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in _finished_nightly_runs(url):
            if wanted(run):
                return run
        assert serve.poll() is None, serve.stdout.read()
        time.sleep(3)
    pytest.fail(f"no {what} within {timeout:.0f} s: {[(r['name'], r['state']['type']) for r in _finished_nightly_runs(url)]}")


@pytest.mark.minutes
def test_a_cron_schedule_fires_by_itself_and_a_run_that_reads_nothing_usable_fails(prefect_api, tmp_path):
    drop, home, _, serve = _serving(tmp_path, prefect_api, "--nightly", "* * * * *")
    try:
        # Nobody triggers anything: the server's scheduler creates the runs from the cron, the served runner runs them.
        first = _wait_for(prefect_api, serve, lambda r: r["state"]["type"] == "COMPLETED", "completed scheduled run")
        assert first["auto_scheduled"], "the run came from the schedule, not from a trigger"
        reports = list((home / "reports").glob("*/report.html"))
        assert len(reports) == 1 and (reports[0].parent / "scores.parquet").exists()
        assert _logged(prefect_api, first["id"], "scoring"), "cadet's steps are in the run's log"

        # A new file in the drop folder that holds nothing usable: the next scheduled run fails, visibly.
        broken_at = time.time()
        (drop / "calls-late.csv").write_text("this is not,a call export\n1,2\n")
        failed = _wait_for(prefect_api, serve, lambda r: r["state"]["type"] == "FAILED", "failed scheduled run")
        assert failed["auto_scheduled"]
        assert "nothing usable was read" in failed["state"]["message"], failed["state"]
        assert dt.datetime.fromisoformat(failed["start_time"]).timestamp() >= broken_at - 5
        assert len(list((home / "reports").glob("*/report.html"))) == 1, "a failed run publishes no report"
    finally:
        _stop(serve)
