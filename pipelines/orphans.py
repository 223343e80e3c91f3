"""Helper processes that end with the cadet that started them, however it ends.

A process killed with `kill -9` cannot stop its children: the local Prefect
server and the feature workers would live on, holding a port, memory and the
home's Prefect database.  Each of them watches its parent instead, and leaves
within about a second of it being gone.

A process-pool worker starts by importing cadet's modules, which takes seconds
on a busy machine; a watcher started only once those imports are done would
miss a parent killed meanwhile for that long.  So the parent hands its pid down
in the environment (`children_end_with_me`), and the worker's watch begins as
its first cadet import runs (`pipelines/__init__.py`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

HANDED_DOWN = "CADET_END_WITH_PARENT"  # the pid of the process whose children end with it


def end_with(parent: int, grace_s: float = 10.0) -> None:
    """In a child: stop this process once `parent` is no longer its parent (SIGTERM first, then exit)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # a server shuts down cleanly on it
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name=f"end with cadet {parent}").start()


@contextmanager
def children_end_with_me() -> Iterator[None]:
    """While open, every child this process starts ends with it (at once) from its first cadet import."""
    before = os.environ.get(HANDED_DOWN)
    os.environ[HANDED_DOWN] = str(os.getpid())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(HANDED_DOWN, None)
        else:
            os.environ[HANDED_DOWN] = before


def watch_parent_if_handed_down() -> None:
    """Run at cadet's first import: a child of a `children_end_with_me` parent starts watching it."""
    if os.environ.get(HANDED_DOWN) == str(os.getppid()):  # a grandchild sees another pid and does nothing
        end_with(os.getppid(), 0.0)
