"""One cadet per home: a second process is refused at once, naming the holder; a killed holder's lock is free."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.home import Home
from pipelines.locking import HomeBusy, home_lock

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pipelines.locking import home_lock
with home_lock(sys.argv[1], "cadet run --source asterisk"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the home's lock, as a running `cadet run` would."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_second_process_is_refused_naming_the_holder(tmp_path, holder):
    with pytest.raises(HomeBusy) as refused:
        with home_lock(tmp_path, "cadet ingest"):
            pytest.fail("two processes must never write one home at once")
    assert f"pid {holder.pid}" in str(refused.value) and "cadet run --source asterisk" in str(refused.value)
    assert refused.value.exit_code == 4


def test_the_lock_of_a_killed_process_is_not_in_force(tmp_path, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert Home.of(tmp_path).lock_file.exists(), "the file stays behind, as after kill -9"
    with home_lock(tmp_path, "cadet run"):
        assert "cadet run" in Home.of(tmp_path).lock_file.read_text()


def test_nested_runs_of_one_process_share_the_hold(tmp_path):
    with home_lock(tmp_path, "cadet run"):
        with home_lock(tmp_path, "cadet ingest"):
            assert _try_from_another_process(tmp_path) == "busy", "held while the nested runs work"
    assert _try_from_another_process(tmp_path) == "took it", "released once the outer run ended"


def _try_from_another_process(home: Path) -> str:
    attempt = subprocess.run([sys.executable, "-c", "import sys\nfrom pipelines.locking import HomeBusy, home_lock\n"
                              "try:\n    with home_lock(sys.argv[1], 'x'): print('took it')\n"
                              "except HomeBusy: print('busy')", str(home)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    return attempt.stdout.strip()


def test_a_busy_home_is_refused_by_the_cli_before_prefect_starts(tmp_path, holder):
    junk = tmp_path / "calls.csv"
    junk.write_text("rep_id\n")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "run", "--source", "canonical", str(junk)])
    assert result.exit_code == 4 and f"pid {holder.pid}" in result.output and "wait for it" in result.output
    assert not (tmp_path / "prefect").exists() and time.monotonic() - started < 10


def test_a_ctrl_c_prefect_drops_after_a_flow_finished_still_stops_the_next_one(tmp_path, prefect_server):
    """Prefect discards an interrupt that lands while a finished flow run tears down; cadet remembers it."""
    from prefect import flow

    from pipelines import failures
    from pipelines.locking import holding_home

    done = []

    def press_ctrl_c(*_):  # runs once the child's state is final, as the teardown does
        signal.raise_signal(signal.SIGINT)

    @flow(on_completion=[press_ctrl_c])
    @holding_home("child")
    def ingest_like(home: str):
        done.append("ingest")

    @flow
    @holding_home("parent")
    def run_like(home: str):
        ingest_like(home)
        done.append("between")
        ingest_like(home)
        done.append("end")

    previous = signal.signal(signal.SIGINT, failures.on_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_like(str(tmp_path / "home"))
    finally:
        signal.signal(signal.SIGINT, previous)
        failures._interrupted.clear()
    assert done == ["ingest", "between"]  # the second stage never began
