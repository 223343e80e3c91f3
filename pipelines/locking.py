"""One cadet at a time per home: an exclusive lock under the home, held for the whole of a run.

Two runs writing one lake at once would interleave their day files (one
writer's rows lost) and race for MLflow's "first champion".  Each writing flow
takes `<home>/.cadet.lock` with `flock`: the operating system releases it when
the process ends, however it ends, so a lock left by a killed process is never
in force (the file stays, with the last holder's details, and is simply taken).
Nested flows of the same process (a run's ingest, features, training and
scoring) share the hold.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import inspect
import json
import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

from pipelines.failures import EXIT_BUSY, RunFailed, stop_if_interrupted
from pipelines.home import Home

_held: dict[Path, int] = {}
_flows_in: dict[Path, int] = {}  # flows of this process running on each home
_guard = threading.Lock()


class HomeBusy(RunFailed):
    """Another process holds the home's lock."""

    exit_code = EXIT_BUSY


def busy(home: Path, holder: str) -> HomeBusy:
    return HomeBusy(f"{home} is in use by {holder}: wait for it to finish, or stop it, then run this again "
                    "(a lock left by a process that has ended is released by itself)")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} (`{info.get('command')}`, since {info.get('since')})"


@contextmanager
def home_lock(home: str | Path, what: str):
    """Hold the home's lock while the block runs; `HomeBusy` at once if another process holds it."""
    home = Path(home).resolve()
    with _guard:
        if home in _held:
            _held[home] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[home] -= 1
        return
    home.mkdir(parents=True, exist_ok=True)
    path = Home(home).lock_file
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy(home, _holder(path)) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": what,
                "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps(info).encode(), 0)
        with _guard:
            _held[home] = 1
        try:
            yield
        finally:
            with _guard:
                _held.pop(home, None)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def _flow_starts(home: Path) -> bool:
    """Count a flow in on the home; True when it is the outermost one there."""
    with _guard:
        outermost = not _flows_in.get(home)
        _flows_in[home] = _flows_in.get(home, 0) + 1
    return outermost


def _flow_ends(home: Path) -> None:
    with _guard:
        _flows_in[home] -= 1


# The wrapper below reaches this module's state only through functions: Prefect's process pool pickles the
# running flow (wrapper included) for its workers, and a lock cannot be pickled.
def holding_home(what: str):
    """Decorate a flow function taking `home`: its whole body runs under the home's lock.

    The outermost flow on the home first settles what a killed run left
    marked as running (see `pipelines.recovery`): under the lock, nothing else
    can be running there.  Its logs, and the message of an error it raises,
    carry no caller number.
    """
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            stop_if_interrupted()
            home = Path(signature.bind(*args, **kwargs).arguments["home"]).absolute()
            with home_lock(home, what):
                outermost = _flow_starts(home)
                try:
                    if outermost:
                        from prefect import get_run_logger

                        from pipelines.privacy import scrub_log_handlers
                        from pipelines.recovery import settle_abandoned_runs

                        scrub_log_handlers()
                        settle_abandoned_runs(home, get_run_logger())
                    return function(*args, **kwargs)
                except Exception as error:  # Prefect stores the message as the run's state: no caller number in it
                    from pipelines.privacy import scrub_exception

                    scrub_exception(error)
                    raise
                finally:
                    _flow_ends(home)

        # Prefect builds a flow's parameter model from its signature, resolving names in the wrapper's module:
        # hand it the flow's own annotations, already resolved where they were written.
        locked.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
        return locked

    return decorate

