"""A large Asterisk export read one work unit at a time, so memory follows the unit, not the files.

queue_log is cut only where every line before the cut is older than every
line after it, so a cut never reorders any call's or session's events; a call
or session open across a cut is carried over to the next unit exactly as
across nightly ingests.  A file with lines out of order is cut less often
(possibly not at all), never wrongly.

A Master.csv row belongs to the unit in which its call ended: all its
queue_log events are in that unit or before, so it is never taken for a call
the queue_log does not know.  Rows of calls in progress at a cut (or that
ended shortly before it) are also given to the unit before as context, for
the start times of legs that end there.  Surveys, rosters and schedules go
with the last unit, when every call they refer to has been rebuilt.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.readers.arrow import arrow_table
from pipelines.readers.asterisk import (
    AsteriskInputs,
    CdrBlocks,
    CloserLook,
    Span,
    kind_of_file,
    read_cdr_closely,
    read_inputs,
    read_queue_log,
)

SCAN_BLOCK_BYTES = 32 << 20
CONTEXT_SECONDS = 3_600  # a CDR whose call ended this close before a cut still serves legs carried across it
_DIGITS = 11  # Unix seconds have 9 to 11 digits


@dataclass(frozen=True)
class Unit:
    """Lines of one or more queue_log files read together, and the newest second they hold."""

    spans: list[Span]
    lines: int
    newest: int  # every line of later units is younger than this


_NONE = np.iinfo(np.int64).max  # no timed line: older than nothing


@dataclass(frozen=True)
class FileScan:
    """What planning needs of one queue_log flat file, in memory that follows its possible cuts, not its lines.

    A cut before line i keeps time's order when every timed line before it is
    older than every timed line from it on; that can only hold where line i is
    untimed or newer than every line before it in its file (a *candidate*).
    Per candidate: its line, its first byte, the newest second before it in
    the file, and the oldest second from it to the end of its block; per
    block, its oldest second.  The oldest second from a candidate on is then
    the smaller of its block's rest and the blocks after it.
    """

    lines: int
    end: int  # the file's size in bytes
    line: np.ndarray  # candidates' line numbers (0-based)
    start: np.ndarray  # their first bytes
    newest_before: np.ndarray  # the newest timed second before each in the file (-1: none)
    oldest_in_block: np.ndarray  # the oldest timed second from each to the end of its block (_NONE: none)
    block: np.ndarray  # which block each is in
    block_oldest: np.ndarray  # per block, its oldest timed second (_NONE: none)
    newest: int  # the file's newest timed second (-1: none)

    @property
    def oldest(self) -> int:
        return int(self.block_oldest.min()) if len(self.block_oldest) else _NONE

    def oldest_after(self, later_files: int) -> np.ndarray:
        """Per candidate, the oldest timed second from it on, this file's later blocks and `later_files` included."""
        later_blocks = np.minimum.accumulate(np.r_[self.block_oldest, _NONE][::-1])[::-1][1:]
        return np.minimum(np.minimum(self.oldest_in_block, later_blocks[self.block]), later_files)


def _scan(path: Path) -> FileScan:
    """One pass over the file in blocks, keeping only what `FileScan` holds (never the text, never a value per line)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("line", "start", "newest_before", "oldest_in_block", "block")}
    block_oldest: list[int] = []
    offset = lines = 0
    newest = -1
    rest = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(SCAN_BLOCK_BYTES)
            data = rest + block
            if not data:
                break
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: read on
                    rest = data
                    continue
                whole, rest = data[:cut], data[cut:]
            else:
                whole, rest = data, b""
            raw = np.frombuffer(whole, dtype=np.uint8)
            first = np.r_[0, np.flatnonzero(raw == 10) + 1]
            if raw[-1] == 10:  # the block ends at a newline: no line starts after it
                first = first[:-1]
            seconds = _leading_seconds(raw, first)
            timed = seconds >= 0
            before = np.maximum(np.r_[-1, np.maximum.accumulate(np.where(timed, seconds, -1))[:-1]], newest)
            oldest_from = np.minimum.accumulate(np.where(timed, seconds, _NONE)[::-1])[::-1]
            chosen = np.flatnonzero(~timed | (seconds > before))
            for name, values in (("line", chosen + lines), ("start", first[chosen] + offset), ("newest_before", before[chosen]),
                                 ("oldest_in_block", oldest_from[chosen]), ("block", np.full(len(chosen), len(block_oldest)))):
                parts[name].append(np.asarray(values, dtype=np.int64))
            block_oldest.append(int(oldest_from[0]) if len(oldest_from) else _NONE)
            if timed.any():
                newest = max(newest, int(seconds[timed].max()))
            lines += len(first)
            offset += len(whole)
            if not block:
                break
    joined = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in parts.items()}
    return FileScan(lines, offset, joined["line"], joined["start"], joined["newest_before"], joined["oldest_in_block"],
                    joined["block"], np.asarray(block_oldest, dtype=np.int64), newest)


def _leading_seconds(raw: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The Unix second each line starts with (digits, then '|'), -1 where it starts otherwise.

    Read a digit column at a time (Horner's rule over the first _DIGITS + 1 bytes of every line at once), so the
    cost is a dozen passes over the lines, not a lines x digits matrix.
    """
    if not len(first):
        return np.array([], dtype=np.int64)
    n = len(raw)
    value = np.zeros(len(first), dtype=np.int64)
    run = np.zeros(len(first), dtype=np.int64)
    going = np.ones(len(first), dtype=bool)
    for k in range(_DIGITS + 1):
        byte = raw[np.minimum(first + k, n - 1)]
        going &= (byte >= 48) & (byte <= 57) & (first + k < n)
        value = np.where(going, value * 10 + (byte.astype(np.int64) - 48), value)
        run += going
    beyond = np.minimum(first + run, n - 1)
    ok = (run >= 9) & (run <= _DIGITS) & (raw[beyond] == ord("|")) & (first + run < n)
    return np.where(ok, value, -1)


def plan_units(queue_logs: list[Path], lines_per_unit: int) -> list[Unit] | None:
    """Work units of at least `lines_per_unit` lines (the last may be smaller), cut only where time allows.

    None when a file is a database export (read whole, as one unit) or the
    files fit in one unit: then nothing is gained by cutting.  Files are taken
    oldest first, one after another, as if they were one.
    """
    scans = []
    for path in queue_logs:
        with open(path, "rb") as handle:
            head = handle.readline()
        if b"|" not in head and b"," in head:
            return None
        scans.append((path, _scan(path)))
    total = sum(scan.lines for _, scan in scans)
    if total <= lines_per_unit:
        return None
    scans.sort(key=lambda item: item[1].oldest if item[1].oldest != _NONE else -1)
    file_first = np.cumsum([0] + [scan.lines for _, scan in scans])
    newest_of_files = np.maximum.accumulate([-1] + [scan.newest for _, scan in scans])  # before each file, and all
    oldest_of_files = np.minimum.accumulate([_NONE] + [scan.oldest for _, scan in scans][::-1])[::-1]  # from each on
    safe, newest_at = [], []
    for n, (_, scan) in enumerate(scans):
        newest_before = np.maximum(scan.newest_before, newest_of_files[n])
        ok = newest_before < scan.oldest_after(int(oldest_of_files[n + 1]))
        position = scan.line + file_first[n]
        ok &= position > 0
        safe.append(position[ok])
        newest_at.append(newest_before[ok])
    cut_at, newest_then = np.concatenate(safe), np.concatenate(newest_at)
    cuts, at = [], 0
    while True:
        i = int(np.searchsorted(cut_at, at + lines_per_unit))
        if i >= len(cut_at):
            break
        at = int(cut_at[i])
        cuts.append(i)
    bounds = [0, *[int(cut_at[i]) for i in cuts], total]
    newest = [*[int(newest_then[i]) for i in cuts], int(newest_of_files[-1])]

    def byte(scan: FileScan, line: int) -> int:
        if line == scan.lines:
            return scan.end
        return int(scan.start[np.searchsorted(scan.line, line)])  # a cut or a file's first line: a candidate

    units = []
    for (a, b), latest in zip(zip(bounds, bounds[1:]), newest):
        spans = []
        for (path, scan), f0, f1 in zip(scans, file_first, file_first[1:]):
            lo, hi = max(a, f0), min(b, f1)
            if lo < hi:
                spans.append(Span(path, byte(scan, int(lo - f0)), byte(scan, int(hi - f0)), int(lo - f0 + 1)))
        units.append(Unit(spans, b - a, latest))
    return units


def unit_inputs(files: list[Path], timezone: str, lines_per_unit: int, spill: Path, read_ahead: bool = False
                ) -> tuple[list[Callable[[], AsteriskInputs]], Callable[[], None]]:
    """The files as work units, each a function that reads its unit's inputs when it is its turn, and the function
    that removes what the units spilled to the folder `spill` (call it when the ingest ends, however it ends).

    Files that fit in one unit (or cannot be cut) are one unit, read as
    `read_inputs` reads them.  Nothing is read here but the first pass over
    queue_log, so a file that cannot be read is reported by the unit that reads it.
    With `read_ahead`, reading a unit starts the next one's read on a thread (see `_ReadAhead`).
    """
    try:
        queue_logs = [f for f in files if kind_of_file(f) == "queue_log"]
        units = plan_units(queue_logs, lines_per_unit) if queue_logs else None
    except OSError:  # unreadable: the whole read reports it, file by file
        units = None
    if units is None:
        return [lambda: read_inputs(files, timezone)], lambda: None
    reader = _UnitReader(files, queue_logs, units, timezone, spill)
    reads = [partial(reader.read, n) for n in range(len(units))]
    if not read_ahead or len(reads) == 1:
        return reads, reader.close
    ahead = _ReadAhead(reads)

    def release() -> None:
        ahead.close()  # before the spill goes: a read under way still takes its rows
        reader.close()

    return [partial(ahead.read, n) for n in range(len(reads))], release


class _ReadAhead:
    """Reads unit n + 1 on a thread while unit n is rebuilt and landed.

    Parsing is mostly Arrow kernels that let go of the GIL, so on two cores
    the next read hides behind the rebuild, at the cost of one more unit's
    inputs in memory.  The units are read one after another, in order, as
    without it; a read's fault is raised to whoever asks for that unit, and a
    fault stops the reading ahead.
    """

    def __init__(self, reads: list[Callable[[], AsteriskInputs]]):
        self.reads = reads
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cadet-read-ahead")
        self.ahead: tuple[int, Future[AsteriskInputs]] | None = None

    def read(self, n: int) -> AsteriskInputs:
        started, self.ahead = self.ahead, None
        future = started[1] if started is not None and started[0] == n else self.pool.submit(self.reads[n])
        inputs = future.result()
        if n + 1 < len(self.reads):
            self.ahead = (n + 1, self.pool.submit(self.reads[n + 1]))
        return inputs

    def close(self) -> None:
        """Waits for a read under way (one nobody will ask for, when the ingest stopped early) and drops it."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.ahead = None


SPILL_SUFFIX = ".cdr-unit"


class _UnitReader:
    """Reads one unit after another.

    Master.csv is read once, a block at a time, and each row is spilled (as
    Arrow, in a folder of the home) to the unit that owns it and to those
    that need it as context; a unit reads its own rows and removes them, so no
    process holds a large Master.csv whole.
    """

    def __init__(self, files: list[Path], queue_logs: list[Path], units: list[Unit], timezone: str, spill: Path):
        self.files, self.queue_logs, self.units, self.timezone, self.spill = files, queue_logs, units, timezone, spill
        self.cdr_files = [f for f in files if f not in queue_logs and kind_of_file(f) == "cdr"]
        self.others: AsteriskInputs | None = None
        self.bad: list[pd.DataFrame] = []
        self.empty: list[pd.DataFrame] = []
        self.token = uuid.uuid4().hex

    def _spill_path(self, file: int, unit: int) -> Path:
        return self.spill / f"{self.token}-{file}-{unit}{SPILL_SUFFIX}"

    def _load(self) -> AsteriskInputs:
        if self.others is None:
            self.spill.mkdir(parents=True, exist_ok=True)
            dealt = [self._spill(i, path) for i, path in enumerate(self.cdr_files)]  # a fault here leaves no half state
            self.bad, self.empty = [bad for bad, _ in dealt], [empty for _, empty in dealt]
            self.others = read_inputs([f for f in self.files if f not in self.queue_logs and f not in self.cdr_files],
                                      self.timezone)
        return self.others

    def _spill(self, i: int, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Deals one Master.csv's rows to the units; returns its quarantined rows and an empty frame of its rows."""
        writers: dict[int, tuple[pa.RecordBatchStreamWriter, pa.Schema]] = {}
        blocks = CdrBlocks(path, self.timezone)
        empty = None
        try:
            try:
                for rows in blocks:
                    empty = self._deal(i, rows, writers)
                bad = blocks.quarantine
            except CloserLook:  # the careful reader reads it whole, as one read would
                self._close(i, writers, remove=True)
                empty = None
            if empty is None:  # that, or a file without rows
                rows, bad = read_cdr_closely(path, self.timezone)
                empty = self._deal(i, rows, writers)
        finally:
            self._close(i, writers)
        return bad, empty

    def _deal(self, i: int, rows: pd.DataFrame, writers: dict) -> pd.DataFrame:
        """Appends each row to the spill of every unit that reads it; returns an empty frame of these rows."""
        start, end = _seconds(rows.start), _seconds(rows.end)
        lower = -(2**62)
        for n, unit in enumerate(self.units):
            owned = (end > lower) & ((n == len(self.units) - 1) | (end <= unit.newest))
            context = ~owned & (start <= unit.newest) & (end > lower - CONTEXT_SECONDS)
            chosen = owned | context
            lower = unit.newest
            if chosen.any():
                table = arrow_table(rows[chosen].assign(context=context[chosen]))
                if n not in writers:
                    writers[n] = (pa.ipc.new_stream(self._spill_path(i, n), table.schema), table.schema)
                writer, schema = writers[n]
                writer.write_table(table.cast(schema))
        return rows.iloc[:0].assign(context=np.zeros(0, dtype=bool))

    def _close(self, i: int, writers: dict, remove: bool = False) -> None:
        for n, (writer, _) in writers.items():
            writer.close()
            if remove:
                self._spill_path(i, n).unlink()
        writers.clear()

    def read(self, n: int) -> AsteriskInputs:
        unit, last = self.units[n], n == len(self.units) - 1
        inputs = AsteriskInputs(judge_conventions=n == 0)
        for span in unit.spans:
            log, bad = read_queue_log(span.path, self.timezone, span)
            inputs.logs.append((span.path, log, bad))
        others = self._load()
        for i, path in enumerate(self.cdr_files):
            spill = self._spill_path(i, n)
            rows = self.empty[i]
            if spill.exists():
                with pa.ipc.open_stream(spill) as stream:
                    rows = stream.read_all().to_pandas()
                spill.unlink()
            inputs.cdrs.append((path, rows, self.bad[i] if n == 0 else self.bad[i].iloc[:0]))
        if last:
            inputs.surveys, inputs.canonical, inputs.unreadable = others.surveys, others.canonical, others.unreadable
        return inputs

    def close(self) -> None:
        """Removes what is left spilled (units not read: an ingest stopped by a fault)."""
        for path in self.spill.glob(f"{self.token}-*{SPILL_SUFFIX}"):
            with contextlib.suppress(OSError):
                path.unlink()


def _seconds(times: pd.Series) -> np.ndarray:
    return pd.to_datetime(times, utc=True).dt.as_unit("s").astype("int64").to_numpy()
