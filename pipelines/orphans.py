"""Helper processes that end with the cadet that started them, however it ends.

A process killed with `kill -9` cannot stop its children: the local Prefect
server and the feature workers would live on, holding a port, memory and the
home's Prefect database.  Each of them watches its parent instead, and leaves
within about a second of it being gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time


def end_with(parent: int, grace_s: float = 10.0) -> None:
    """In a child: stop this process once `parent` is no longer its parent (SIGTERM first, then exit)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)  # a server shuts down cleanly on it
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name=f"end with cadet {parent}").start()
