"""Progress of a running flow, for whoever draws it (the CLI's bars); silent when nobody listens.

Flows run in the CLI's process, so a callback is enough: no Prefect state,
no output of its own.
"""

from __future__ import annotations

from collections.abc import Callable

Report = Callable[[int, int, str], None]
_listener: dict[str, Report] = {}


def listen(report: Report | None) -> None:
    """Have `report(done, total, what)` called as a flow moves on; None stops listening."""
    if report is None:
        _listener.pop("report", None)
    else:
        _listener["report"] = report


def advance(done: int, total: int, what: str) -> None:
    report = _listener.get("report")
    if report is not None:
        report(done, total, what)
