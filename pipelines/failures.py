"""Why a run could not do its job, as an exception: Prefect marks the flow run Failed, the CLI exits non-zero.

A flow that returned an error in its result would end Completed in Prefect, so
no automation on failure could ever fire and `cadet serve` would show a broken
nightly run as a success.  Flows raise a `RunFailed` instead; its message says
what to do, and `summary` carries what the run did before it stopped (the
ingest table of a run that read nothing usable).

Exit codes (the CLI's `--help` and the README list them):
0 success; 1 the run failed on its input (nothing usable, nothing to score);
2 a usage error (bad option, bad settings file); 3 too little data for the
stage (a one-line reason, not a failure of the data); 4 another cadet is
working on the same home; 5 a service cadet depends on (MLflow, Prefect) did not
answer; 6 the disk said no: the home is full or read-only, or a file or folder
may not be read or written (permission); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

EXIT_FAILED = 1
EXIT_THIN_DATA = 3
EXIT_BUSY = 4
EXIT_SERVICE = 5
EXIT_STORAGE = 6
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report a process stopped by SIGINT


_interrupted = threading.Event()


def on_interrupt(signum, frame) -> None:
    """The CLI's SIGINT handler: Python's KeyboardInterrupt, remembered for the rest of the process."""
    import signal

    _interrupted.set()
    signal.default_int_handler(signum, frame)


def was_interrupted() -> bool:
    return _interrupted.is_set()


def stop_if_interrupted() -> None:
    """Raise a remembered Ctrl-C again.

    Prefect drops a KeyboardInterrupt that lands while a finished flow run
    tears down (its state is already final), and the flow that called it
    would go on for minutes; each flow checks this before it starts.
    """
    if _interrupted.is_set():
        raise KeyboardInterrupt


def error_chain(error: BaseException | None) -> Iterator[BaseException]:
    """An error, then the ones it was raised from (`raise ... from`, or during handling), each once."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


class RunFailed(Exception):
    """A run that cannot go on: the message is the one line the user reads, saying what to do."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message)
        self.summary = summary or {}


class ServiceUnavailable(RunFailed):
    """A service the run depends on (the MLflow tracking server) did not answer; retry once it is back."""

    exit_code = EXIT_SERVICE


class StoreDamaged(RunFailed):
    """The home's MLflow database is damaged or has lost its registry: never used, never silently recreated."""


class HomeUnwritable(RunFailed):
    """The home's disk is full, read-only or not ours to write: the message names which."""

    exit_code = EXIT_STORAGE
