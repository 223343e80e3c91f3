"""What the commands print: tables sized to the terminal, a spinner for a long step, and one progress bar protocol.

Every long step reports `(done, total, what)`: the flows through
`pipelines.progress`, the simulator through the callback it is given.
"""

from __future__ import annotations

import contextlib

UNPIPED_WIDTH = 160  # a table piped to a file or another program is not folded at 80 columns


def console(stderr: bool = False):
    """A rich console as wide as the terminal; when not a terminal (a file, a pipe), wide enough for cadet's tables."""
    from rich.console import Console

    found = Console(stderr=stderr)
    if not found.is_terminal:
        found.width = UNPIPED_WIDTH
    return found


def print_rows(title: str, columns: list, rows: list, numbers_from: int | None = None, stderr: bool = False) -> None:
    """A rich table; columns from `numbers_from` on are right-aligned."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(str(column), justify="right" if numbers_from is not None and i >= numbers_from else "left")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console(stderr).print(table)


def print_frame(title, frame) -> None:
    rows = []
    for index, *row in frame.itertuples():
        cells = [str(index)]
        for value in row:
            if isinstance(value, float):
                cells.append("n/a" if value != value else (f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"))
            else:
                cells.append(str(value))
        rows.append(cells)
    print_rows(title, [frame.index.name or "", *frame.columns], rows, numbers_from=1)


def text_cell(value) -> str:
    """An optional text field for a table cell: empty, never 'None' or 'nan'."""
    return value if isinstance(value, str) else ""


def working(message: str):
    """A spinner with elapsed time on stderr while a long step runs (nothing when not a terminal)."""
    shown = console(stderr=True)
    if not shown.is_terminal:
        return contextlib.nullcontext()
    return shown.status(message)


def _unseen(done: int, total: int, what: str) -> None:
    return None


@contextlib.contextmanager
def progress_bar(title: str, first: str = "starting Prefect", shown: bool = True):
    """A progress bar on stderr for a long step; nothing when not a terminal or not `shown` (`--quiet`).

    Yields the `report(done, total, what)` to call, and listens to the running
    flows (`pipelines.progress`) with it, so a flow and the simulator draw the
    same bar.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipelines import progress

    terminal = console(stderr=True)
    if not shown or not terminal.is_terminal:
        yield _unseen
        return
    with Progress(SpinnerColumn(), TextColumn(f"[bold]{title}[/] {{task.description}}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=terminal, transient=True) as bar:
        task = bar.add_task(first, total=None)

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        progress.listen(report)
        try:
            yield report
        finally:
            progress.listen(None)
