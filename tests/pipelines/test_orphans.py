"""Feature workers end with their cadet even when it is killed while they are still starting."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A parent that starts a spawn pool the way the features flow does, then is killed at once.  Its workers
# re-run this script as they start; the sleep stands in for imports that take long on a busy machine.
PARENT = textwrap.dedent("""
    import pipelines
    import multiprocessing, os, signal, sys, time
    from concurrent.futures import ProcessPoolExecutor
    if __name__ != "__main__":
        time.sleep(120)
    else:
        from pipelines.orphans import children_end_with_me
        with children_end_with_me():
            pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
            pool.submit(os.getpid)
            pool.submit(os.getpid)
            time.sleep(1)
            print(*[process.pid for process in pool._processes.values()], flush=True)
            assert os.environ["CADET_END_WITH_PARENT"] == str(os.getpid())
        assert "CADET_END_WITH_PARENT" not in os.environ, "the hand-over outlived its block"
        print("closed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="follows the workers through /proc (Linux)")
def test_workers_still_starting_leave_within_seconds_of_their_cadet_being_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {k: v for k, v in os.environ.items() if k != "CADET_END_WITH_PARENT"}
    said = tmp_path / "said.txt"  # a file, not a pipe: a worker that lived on would hold a pipe open
    with said.open("w") as out:
        parent = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, timeout=60)
    assert parent.returncode == -signal.SIGKILL, said.read_text()
    first, closed = said.read_text().split("\n")[:2]
    assert closed == "closed"
    workers = [int(pid) for pid in first.split()]
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its killed cadet"


def test_a_process_not_started_by_the_hand_over_does_not_watch_anyone(tmp_path):
    from pipelines.orphans import HANDED_DOWN

    env = os.environ | {HANDED_DOWN: "1"}  # handed down by some other process, not this one's parent
    child = subprocess.run([sys.executable, "-c", "import pipelines, threading, time; time.sleep(1.5); "
                            "print([t.name for t in threading.enumerate()])"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    assert "end with cadet" not in child.stdout
