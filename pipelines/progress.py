"""Progress of a running flow, for whoever draws it (the CLI's bars), and a line in the flow run's log.

Flows run in the CLI's process, so a callback is enough for the bars; the same
step is logged at INFO to the run's logger, so a scheduled run's steps show in
the Prefect UI.
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
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is not None or TaskRunContext.get() is not None:
        from prefect.logging import get_run_logger

        get_run_logger().info("%s (%d of %d)", what, done, total)
