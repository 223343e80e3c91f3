"""The Prefect API a command talks to: the user's server, or an embedded one that dies with the command.

With PREFECT_API_URL set, that server is checked first, within a bounded time,
so a server that is down is one line and exit 5 rather than minutes of client
retries and a traceback.  Without it, cadet starts a local Prefect server for
the command on loopback, its database under the home.  Prefect's own temporary
server would do the same, but a cadet killed with `kill -9` leaves it running
for ever (holding a port and the home's Prefect database); this one watches
the process that started it and stops within a second or two of it ending.

Everything here runs before Prefect is imported (it reads its settings then),
so the server is started with the standard library only.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.failures import HomeUnwritable, RunFailed, ServiceUnavailable

API_URL = "PREFECT_API_URL"
# the first start migrates the home's Prefect database: allow for it
STARTUP_TIMEOUT_S = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
REACH_ATTEMPTS = (0, 2, 4)  # seconds to wait before each check of a configured server: answers or fails in ~15 s
_server: subprocess.Popen | None = None


def healthy(api_url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as answer:
            return answer.status == 200
    except (OSError, ValueError):
        return False


def check_configured(api_url: str) -> None:
    """The user's Prefect server answers, or `ServiceUnavailable` saying how to check it."""
    for wait in REACH_ATTEMPTS:
        time.sleep(wait)
        if healthy(api_url):
            return
    raise ServiceUnavailable(f"the Prefect API at {api_url} did not answer (tried {len(REACH_ATTEMPTS)} times over "
                             f"{sum(REACH_ATTEMPTS)} s): start it (`prefect server start`) or check the address, or "
                             f"unset {API_URL} to let cadet run its own; then run this again")


def start_embedded(home: Path) -> str:
    """Start a local Prefect server for this command; its API URL is set in the environment and returned."""
    global _server
    if _server is not None and _server.poll() is None:
        return os.environ[API_URL]
    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
    for _ in range(3):  # another program may take the free port before the server binds it
        port = _free_port()
        command = [sys.executable, "-m", "pipelines.prefect_api", str(os.getpid()), "--app-dir", str(prefect_dir.parent),
                   "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "error", "--lifespan", "on"]
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop(API_URL, None)
        said = tempfile.TemporaryFile()
        # its own session: a Ctrl-C at the terminal reaches cadet alone, which still needs the server to record
        # its runs as Crashed before it stops the server on its way out
        _server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=said, start_new_session=True)
        api_url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while _server.poll() is None and time.monotonic() < deadline:
            if healthy(api_url, timeout=1):
                atexit.register(stop_embedded)
                os.environ[API_URL] = api_url
                return api_url
            time.sleep(0.1)
        if _server.poll() == 3:  # uvicorn: the port was taken
            continue
        break
    said = _last_line(_server, said)
    stop_embedded()
    from pipelines.storage import write_probe

    problem = write_probe(Path(os.environ.get("PREFECT_HOME", home)), Path(home))
    if problem:
        raise HomeUnwritable(f"cadet's local Prefect server could not start: {problem}")
    raise RunFailed(f"cadet's local Prefect server (database under {os.environ.get('PREFECT_HOME', home)}) did not "
                    f"start{': ' + said if said else ''}. Check that the home is writable and has free space, or set "
                    f"{API_URL} to a Prefect server")


def stop_embedded() -> None:
    global _server
    server, _server = _server, None
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _last_line(server: subprocess.Popen, said) -> str:
    """What a server that stopped at start-up said last (uvicorn ends on the reason)."""
    if server.poll() is None:
        return ""
    said.seek(0)
    lines = [line.strip() for line in said.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _serve_while_parent_lives(parent: int, uvicorn_args: list[str]) -> None:
    """The server process: uvicorn, stopping once the cadet that started it has gone."""
    import uvicorn.main

    from pipelines.orphans import end_with

    end_with(parent)
    sys.argv = ["uvicorn", *uvicorn_args]
    uvicorn.main.main()


if __name__ == "__main__":
    _serve_while_parent_lives(int(sys.argv[1]), sys.argv[2:])
