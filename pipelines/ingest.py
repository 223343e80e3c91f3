"""`cadet ingest`: platform logs into the validated, pseudonymised Parquet lake.

The flow reads each input file (bad rows to the quarantine, with file, line and
reason), replaces caller numbers by keyed pseudonyms, and merges the good rows
into the lake by key, so re-running the same input changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandera import errors as pa_errors
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from pipelines.config import CadetConfig, Settings, settings_of
from pipelines.contracts import VERSION_COLUMN
from pipelines.failures import RunFailed
from pipelines.home import Home
from pipelines.inputs import find_input_files, wrong_source
from pipelines.lake import Lake
from pipelines.locking import holding_home
from pipelines.privacy import PseudonymKeyError, load_key, mask_numbers, pseudonymise
from pipelines.progress import advance
from pipelines.readers.arrow import arrow_table, as_text, before_first, distinct, member_of, texts
from pipelines.readers.asterisk import (
    CALLER_KEY,
    CARRY_COLUMNS,
    AsteriskHistory,
    AsteriskInputs,
    landed_legs,
    rebuild_asterisk,
)
from pipelines.readers.asterisk_units import unit_inputs
from pipelines.readers.canonical import ReadResult, UnreadableFile, read_canonical
from pipelines.readers.connect import CARRY_COLUMNS as CONNECT_CARRY_COLUMNS
from pipelines.readers.connect import ConnectHistory, read_connect_incremental
from pipelines.storage import atomic_path
from pipelines.tables import CATALOG, INPUT_TABLES


@dataclass
class FileReport:
    """What happened to one input file."""

    file: str
    table: str | None
    read: int = 0
    landed: int = 0
    quarantined: int = 0
    skipped: int = 0
    skipped_because: str | None = None
    error: str | None = None
    landed_lines: int | None = None  # an event log's lines that went into the rows landed (read = these + quarantined + skipped)


@dataclass
class IngestSummary:
    files: list[FileReport] = field(default_factory=list)
    lake: str = ""
    quarantine: str = ""
    warnings: list[str] = field(default_factory=list)
    units: int = 1  # work units the input was read in (a large Asterisk export: more than one)

    @property
    def landed(self) -> int:
        return sum(f.landed for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    def as_dict(self) -> dict:
        return {
            "lake": self.lake,
            "quarantine": self.quarantine,
            "landed": self.landed,
            "quarantined": self.quarantined,
            "files": [f.__dict__ for f in self.files],
            "warnings": self.warnings,
            "work_units": self.units,
        }


def _protect(result: ReadResult, key: bytes) -> ReadResult:
    """Caller numbers become `caller_key`; quarantined text keeps pseudonyms, never numbers."""
    good = result.good
    if "remote_number" in good.columns:
        numbers = good["remote_number"].astype(object)
        done = numbers.map(lambda n: isinstance(n, str) and n.startswith(CALLER_KEY))  # pseudonymised by the reader
        keys = pd.Series(pseudonymise(pa.array(numbers.where(~done, None), pa.string()), key).to_pylist(),
                         index=good.index, dtype="Int64")
        keys[done] = numbers[done].str[len(CALLER_KEY):].astype("int64")
        good = good.drop(columns=["remote_number"]).assign(caller_key=keys.array)
    if "transfer_to" in good.columns:  # a transfer to an outside number names that number: keep only its pseudonym
        good = good.assign(transfer_to=good["transfer_to"].map(lambda t: mask_numbers(t, key) if isinstance(t, str) else t))
    quarantine = result.quarantine.assign(
        raw=result.quarantine["raw"].map(lambda text: mask_numbers(text, key)),
        reason=result.quarantine["reason"].map(lambda text: mask_numbers(text, key)),
    )
    return dataclasses.replace(result, good=good, quarantine=quarantine)


@task(name="read canonical file", cache_policy=NO_CACHE)
def read_canonical_file(path: Path, home: Home) -> list[ReadResult | FileReport]:
    """One file: typed good rows and quarantined bad rows, numbers already pseudonymised."""
    try:
        result = read_canonical(path)
    except UnreadableFile as exc:
        return [FileReport(file=str(path), table=None, error=str(exc))]
    except Exception as exc:  # noqa: BLE001 - see _reader_fault
        return [_reader_fault(str(path), exc)]
    return [_protect(result, load_key(home))]


HOME_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}  # no read fails so: it is a write, in the home


def _reader_fault(files: str, error: Exception) -> FileReport:
    """A reader that fails on a file in a way it does not know: that file is reported, the others still land.

    The traceback goes to the run's logs and the message to the ingest table,
    both without caller numbers (a reader's error can quote the line it read).
    """
    from prefect import get_run_logger

    from pipelines.privacy import scrub_exception, scrub_numbers

    scrub_exception(error)
    if isinstance(error, OSError) and error.errno in HOME_WRITE_ERRNOS:
        raise error  # a reader writes only its spill in the home: the home's disk, said once for the run (exit 6)
    if isinstance(error, OSError):  # the file system's answer (permission denied, a vanished file), not cadet's fault
        return FileReport(file=files, table=None, error=f"cannot read it: {error.strerror or error}")
    get_run_logger().warning("cadet's reader failed on %s", files, exc_info=error)
    return FileReport(file=files, table=None, error=scrub_numbers(
        f"cadet could not read it ({type(error).__name__}: {error}); a fault in cadet, not a bad row: "
        "please report it with the run's log (not the file, which holds caller numbers)"))


def _platform_results(reader, files: list[Path], home: Home) -> list[ReadResult | FileReport]:
    """A platform's files read together, held to the contracts, numbers pseudonymised."""
    try:
        results = reader(files)
    except UnreadableFile as exc:
        return [FileReport(file=", ".join(str(f) for f in files), table=None, error=str(exc))]
    except Exception as exc:  # noqa: BLE001 - see _reader_fault
        return [_reader_fault(", ".join(str(f) for f in files), exc)]
    key = load_key(home)
    return [_protect(enforce_contract(r), key) for r in results]


ASTERISK_CARRY = CATALOG["asterisk_carry"]  # what the next Asterisk ingest continues (see AsteriskHistory)


def asterisk_history(home: Home) -> AsteriskHistory:
    """What the lake knows that the next Asterisk files continue: open calls and sessions, the reps it knows, whether
    the centre logs wrap-up; its calls are read for each work unit's own ids (`landed_in_lake`), never held whole."""
    lake = Lake(home.lake)
    carried = lake.read(ASTERISK_CARRY.name).to_pandas()
    reps: set[str] = set()
    wrapup_logged = False
    for day in lake.days("calls"):  # a day at a time: a year's lake is never in memory at once
        calls = lake.read("calls", day, day, columns=["rep_id", "queue", "enqueued_at", "wrapup_seconds"])
        reps |= distinct(calls["rep_id"])
        wrapup_logged = wrapup_logged or _wrapup_shown(calls.to_pandas())
    for day in lake.days("agent_states"):
        reps |= distinct(lake.read("agent_states", day, day, columns=["rep_id"])["rep_id"])
    return AsteriskHistory(carried if len(carried) else pd.DataFrame(columns=CARRY_COLUMNS), landed_legs(), load_key(home),
                           frozenset(reps), wrapup_logged, look_up=partial(landed_in_lake, lake))


LOOK_AROUND = dt.timedelta(days=2)  # a call's day (its UTC start) lies within this of any of its events or CDR times


def landed_in_lake(lake: Lake, calls: pa.Array | None, span: tuple[int, int] | None) -> tuple[pa.Table, pa.Array]:
    """The lake's queued legs of `calls` (all calls with None) as `landed_legs` (with the second each call started),
    and the ids among `calls` it holds.

    Only the days around `span` (Unix seconds; None: every day) are read, a day at a time.
    """
    bounds = [dt.datetime.fromtimestamp(second, dt.UTC).date() + shift
              for second, shift in zip(span, (-LOOK_AROUND, LOOK_AROUND))] if span else [None, None]
    landed, known = [landed_legs()], [pa.array([], pa.string())]
    for day in lake.days("calls", *bounds):
        stored = lake.read("calls", day, day, columns=["call_id", "queue", "enqueued_at", "started_at"]).combine_chunks()
        call = before_first(stored["call_id"].combine_chunks(), "#").cast(pa.string())
        if calls is not None:
            mine = pc.fill_null(pc.is_in(call, value_set=calls), False)
            stored, call = stored.filter(mine), call.filter(mine)
        known.append(call)
        queued = stored.filter(pc.and_(pc.is_valid(stored["queue"]), pc.is_valid(stored["enqueued_at"])))
        entered, started = (pc.cast(pc.cast(queued[c], pa.timestamp("s", "UTC"), safe=False), pa.int64())
                            for c in ("enqueued_at", "started_at"))
        landed.append(landed_legs(queued["call_id"].combine_chunks().cast(pa.string()), entered.to_numpy(), started))
    return pa.concat_tables(landed), pa.concat_arrays(known)


def _wrapup_shown(calls: pd.DataFrame) -> bool:
    queued = calls.queue.notna() & calls.enqueued_at.notna()
    return bool(calls.wrapup_seconds[queued].notna().any())


def _after_unit(history: AsteriskHistory, results: list[ReadResult], carry: pa.Table | None,
                origins: np.ndarray | None) -> AsteriskHistory:
    """`history` as the next work unit sees it: the reps this unit showed, what it left open (and which file held it);
    the calls it landed the next unit reads from the lake."""
    calls = [r.good for r in results if r.table == "calls" and len(r.good)]
    states = [r.good.rep_id.dropna() for r in results if r.table == "agent_states" and len(r.good)]
    reps = [c.rep_id.dropna() for c in calls] + states
    if reps:
        history = dataclasses.replace(history, reps=history.reps | frozenset(pd.concat(reps)))
    if any(_wrapup_shown(c) for c in calls):
        history = dataclasses.replace(history, wrapup_logged=True)
    carried = carry.to_pandas() if carry is not None else pd.DataFrame()  # as the next ingest would read it from the lake
    if len(carried) and origins is not None:
        carried["origin"] = origins
    return dataclasses.replace(history, carried=carried if len(carried) else pd.DataFrame(columns=CARRY_COLUMNS))


RELANDED_WITHIN = pd.Timedelta(days=2)  # a row lands again only while its call is carried: within a day of a cut


def _key_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A key column as text that tells its values apart; a time as its nanoseconds (formatting dates is slow)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(pc.cast(column, pa.timestamp("ns", column.type.tz)), pa.int64())
    return pc.cast(column, pa.string())


def _landed_again(results: list[ReadResult], recent: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Per file, the rows an earlier work unit of this ingest landed already (a call carried to settle its wrap-up).

    `recent` holds, per table, the keys (and times) of the rows the last two days of units landed; it takes this unit's.
    """
    again: dict[str, int] = {}
    for result in results:
        if not len(result.good):
            continue
        table = CATALOG[result.table]
        columns = arrow_table(result.good[table.key_columns])
        keys = pc.binary_join_element_wise(*[_key_text(columns[c]) for c in table.key_columns], "\x1f",
                                           null_handling="replace").combine_chunks()
        landed = pd.DataFrame({"key": texts(keys),
                               "time": result.good[table.day_column] if table.day_column else pd.NaT})
        before = recent.get(table.name)
        if before is not None:
            found = pc.is_in(keys, value_set=as_text(before.key))
            again[str(result.file)] = again.get(str(result.file), 0) + int(pc.sum(found).as_py() or 0)
        both = pd.concat([before, landed], ignore_index=True) if before is not None else landed
        times = pd.to_datetime(both["time"], utc=True)
        recent[table.name] = both[times >= times.max() - RELANDED_WITHIN] if times.notna().any() else both
    return again


@task(name="read asterisk files", cache_policy=NO_CACHE)
def read_asterisk_files(read_unit: Callable[[], AsteriskInputs], files: list[Path], home: Home, config: CadetConfig,
                        history: AsteriskHistory) -> tuple[list[ReadResult | FileReport], pa.Table | None, np.ndarray | None]:
    """queue_log, CDRs and surveys of one center (or one work unit of them, `read_unit`), continuing what `history`
    left open; a file that cannot be read, or a fault of cadet's, is reported for the files, not raised.

    Returns the results, the events to carry over (None when nothing was read) and the file each was read from.
    """
    carry = []

    def read(_paths):
        results, left_open = rebuild_asterisk(read_unit(), config.ingest.asterisk, history)
        carry.append(left_open)
        return results

    outcomes = _platform_results(read, files, home)
    if not carry:
        return outcomes, None, None
    frame = carry[0].astype({"epoch": "int64", "n_fields": "int64"})
    return outcomes, pa.Table.from_pandas(frame, schema=ASTERISK_CARRY.storage, preserve_index=False), frame["origin"].to_numpy()


ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_returning_memory_pool() -> None:
    """Arrow's jemalloc pool for the work units, unless $ARROW_DEFAULT_MEMORY_POOL chooses one.

    The units allocate and free the same sizes over and over; with the wheels'
    default (mimalloc) the process keeps more of what was freed between units
    (see benchmarks/README.md: peak memory by pool).
    """
    if os.environ.get(ARROW_POOL_ENV):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
        pass


def ingest_asterisk(files: list[Path], home: Home, config: CadetConfig) -> tuple[IngestSummary, dict[Path, list[pd.DataFrame]], set[str]]:
    """One center's Asterisk files, a work unit at a time: each unit is read, landed and carried over before the next.

    Returns the summary, the quarantined rows by file and the days landed.
    """
    history = asterisk_history(home)
    units, release = unit_inputs(files, config.site.timezone, config.ingest.lines_per_unit, home.work_units,
                                  config.ingest.read_ahead)
    n_units = len(units)
    steps = n_units * (1 + len(INPUT_TABLES))
    summary = IngestSummary(lake=str(home.lake), quarantine=str(home.quarantine))
    quarantines: dict[Path, list[pd.DataFrame]] = {}
    days: set[str] = set()
    recent: dict[str, pd.DataFrame] = {}  # per table, the rows the latest units landed (see _landed_again)
    try:
        for unit, read_unit in enumerate(units):
            first = unit * (1 + len(INPUT_TABLES))
            part = f" (work unit {unit + 1} of {n_units})" if n_units > 1 else ""
            advance(first, steps, f"reading {len(files)} Asterisk files{part}")
            outcomes, carry, origins = read_asterisk_files(read_unit, files, home, config, history)
            results = [o for o in outcomes if isinstance(o, ReadResult)]
            days |= _land(home, results, first + 1, steps)
            again = _landed_again(results, recent)
            if carry is not None:
                write_carry(home, ASTERISK_CARRY.name, carry)
            history = _after_unit(history, results, carry, origins)
            for path, rows in _quarantine_by_file(results).items():
                quarantines.setdefault(path, []).append(rows)
            summary = _summary(home, outcomes, summary)
            for report in summary.files:  # a row landed again (a call carried to settle its wrap-up) is one row
                report.landed -= again.get(report.file, 0)
            if any(isinstance(o, FileReport) for o in outcomes):
                break  # cadet failed on this unit (said per file): the units after it would continue from a hole
            del outcomes, results  # the next unit's memory, not this one's
    finally:
        release()  # the Master.csv rows spilled for units a fault kept from reading
    summary.units = n_units
    return summary, quarantines, days


@task(name="carry open calls over", cache_policy=NO_CACHE)
def write_carry(home: Home, table: str, carry: pa.Table) -> None:
    """After the tables landed: a run killed before this leaves the old carry, which the next run re-reads whole."""
    Lake(home.lake).write(table, carry, CATALOG[table].day_column)


CONNECT_CARRY = CATALOG["connect_carry"]  # what the next Amazon Connect ingest continues (see ConnectHistory)


@task(name="read amazon connect files", cache_policy=NO_CACHE)
def read_connect_files(files: list[Path], home: Home, config: CadetConfig
                       ) -> tuple[list[ReadResult | FileReport], pa.Table | None, pd.DataFrame | None]:
    """Contact records and agent events together (offers need both), continuing what earlier ingests left open.

    Returns the results, the events to carry over, and the transfers that complete contacts landed before.
    """
    lake = Lake(home.lake)
    carried = lake.read(CONNECT_CARRY.name).to_pandas()
    known = ["call_id", "answered_at", "ended_at", "queue"]
    stored = lake.read("calls", columns=known).to_pandas()
    history = ConnectHistory(carried if len(carried) else pd.DataFrame(columns=CONNECT_CARRY_COLUMNS),
                             stored if len(stored) else pd.DataFrame(columns=known))
    carry = []

    def read(paths):
        results, left_open, transfers = read_connect_incremental(paths, config.ingest.connect, history)
        carry.append((left_open, transfers))
        return results

    outcomes = _platform_results(read, files, home)
    if not carry:
        return outcomes, None, None
    frame = carry[0][0].reindex(columns=CONNECT_CARRY_COLUMNS)
    for column in ("event_at", "since"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return outcomes, pa.Table.from_pandas(frame, schema=CONNECT_CARRY.storage, preserve_index=False), carry[0][1]


@task(name="complete earlier transfers", cache_policy=NO_CACHE)
def complete_transfers(home: Home, transfers: pd.DataFrame, tier2_queues: list[str]) -> list[str]:
    """A contact landed in an earlier run, whose transfer leg's record came only now: its transfer, as one run
    over both records would have it (to that queue, an escalation when it is a tier-2 queue). Returns the days."""
    lake = Lake(home.lake)
    if transfers is None or transfers.empty or not lake.days("calls"):
        return []
    started = pd.to_datetime(transfers.next_started_at, utc=True)
    stored = lake.read("calls", (started.min() - dt.timedelta(days=2)).date(), started.max().date())
    if not stored.num_rows:
        return []
    earlier = stored.filter(pc.is_in(stored["call_id"], value_set=pa.array(transfers.call_id.astype(str).tolist())))
    if not earlier.num_rows:
        return []
    frame = earlier.select(["call_id", "disconnected_by", "transfer_kind", "transfer_to"]).to_pandas()
    queue = frame.call_id.map(transfers.drop_duplicates("call_id").set_index("call_id").queue)
    open_ = frame.transfer_kind.ne("self_service")
    kind = np.where(queue.isin(tier2_queues), "escalation", "queue")
    after = pd.DataFrame({"disconnected_by": np.where(open_, "transfer", frame.disconnected_by),
                          "transfer_kind": np.where(open_, kind, frame.transfer_kind),
                          "transfer_to": np.where(open_, queue, frame.transfer_to)})
    changed = (after.astype(object).fillna("") != frame[after.columns].astype(object).fillna("")).any(axis=1).to_numpy()
    if not changed.any():
        return []
    table = earlier.filter(pa.array(changed))
    for column in after.columns:
        kind_of = table.schema.field(column).type  # a partition whose column was all empty stored it as null
        table = table.set_column(table.schema.get_field_index(column), column,
                                 pa.array(after[column][changed].tolist(), pa.string() if pa.types.is_null(kind_of) else kind_of))
    get_run_logger().info("%d contacts landed before were completed with the transfer their next contact's record shows",
                          int(changed.sum()))
    calls = CATALOG["calls"]
    touched = lake.upsert(calls.name, table, calls.day_column, calls.key_columns)
    return sorted(day.isoformat() for day in touched if day is not None)


def row_text(rows: pd.DataFrame) -> list[str]:
    """A rebuilt row as `column=value` text for the quarantine; empty cells stay empty, whatever their type."""
    def cell(value) -> str:
        try:
            missing = bool(pd.isna(value))
        except (TypeError, ValueError):  # lists and arrays are never "missing" as a whole
            missing = False
        return "" if missing else str(value)

    columns = list(rows.columns)
    return [", ".join(f"{c}={cell(v)}" for c, v in zip(columns, values)) for values in rows.itertuples(index=False, name=None)]


def enforce_contract(result: ReadResult) -> ReadResult:
    """Rows a platform reader rebuilt must meet the same contract as canonical input."""
    schema = CATALOG[result.table].contract
    absent = [name for name, column in schema.columns.items() if column.nullable and name not in result.good]
    if absent:  # a column this source has no way to fill (a record version, for a log without versions) is not known
        result = dataclasses.replace(result, good=result.good.assign(**{name: None for name in absent}))
    try:
        valid = schema.validate(result.good, lazy=True)
        return dataclasses.replace(result, good=valid)
    except pa_errors.SchemaErrors as exc:
        whole_columns = exc.failure_cases[exc.failure_cases["index"].isna()]
        if len(whole_columns):
            # A column the reader could not build at all: keep every row in the quarantine, land none, say why.
            problems = "; ".join(sorted({f"{c.column}: {c.check}" for c in whole_columns.itertuples()}))
            extra = pd.DataFrame({
                "file": str(result.file), "line": -1, "raw": row_text(result.good),
                "reason": f"{result.table} could not be built from this file ({problems}); please report it with the file's first lines",
            })
            return dataclasses.replace(result, good=result.good.iloc[0:0],
                                       quarantine=pd.concat([result.quarantine, extra], ignore_index=True))
        cases = exc.failure_cases
        bad_rows = sorted({int(i) for i in cases["index"]})
        reasons = cases.groupby("index")["check"].apply(lambda c: "; ".join(sorted({str(x) for x in c})))
        rejected = result.good.loc[bad_rows]
        extra = pd.DataFrame(
            {
                "file": str(result.file),
                "line": -1,
                "raw": row_text(rejected),
                "reason": [f"{result.table} row breaks the contract: {reasons[i]}" for i in bad_rows],
            }
        )
        good = schema.validate(result.good.drop(index=bad_rows), lazy=True).reset_index(drop=True)
        return dataclasses.replace(result, good=good, quarantine=pd.concat([result.quarantine, extra], ignore_index=True))


def _quarantine_path(home: Home, source_file: Path) -> Path:
    """One quarantine file per input file, so re-reading a file replaces its quarantine."""
    digest = hashlib.sha256(str(source_file.resolve()).encode()).hexdigest()[:12]
    return home.quarantine / f"{source_file.name}-{digest}.parquet"


def _quarantine_by_file(results: list[ReadResult]) -> dict[Path, pd.DataFrame]:
    frames: dict[Path, list[pd.DataFrame]] = {}
    for result in results:
        frames.setdefault(Path(result.file), []).append(result.quarantine)
    return {path: pd.concat(parts, ignore_index=True) for path, parts in frames.items()}


@task(name="write quarantine", cache_policy=NO_CACHE)
def write_quarantine(home: Home, source_file: Path, quarantine: pd.DataFrame) -> None:
    path = _quarantine_path(home, source_file)
    if quarantine.empty:
        path.unlink(missing_ok=True)
        return
    with atomic_path(path) as tmp:
        quarantine.astype({"line": "int64"}).to_parquet(tmp, index=False)


@task(name="land table in lake", cache_policy=NO_CACHE)
def land_table(home: Home, table: str, frames: list[pd.DataFrame]) -> list[str]:
    """Merge one table's good rows into the lake by key; returns the UTC days it touched."""
    rows = pd.concat(frames, ignore_index=True)
    if rows.empty:
        return []
    arrow = arrow_table(rows)
    touched = Lake(home.lake).upsert(table, arrow, CATALOG[table].day_column, CATALOG[table].key_columns)
    return sorted(day.isoformat() for day in touched if day is not None)


def _date_surveys(results: list[ReadResult], lake: Lake) -> None:
    """A survey without its own time is dated by its call's end: the call in this run, else in the lake."""
    surveys = [r for r in results if r.table == "surveys"]
    if not surveys or not any(r.good["surveyed_at"].isna().any() for r in surveys):
        return
    calls = pd.concat([r.good[["call_id", "ended_at"]] for r in results if r.table == "calls"] or [pd.DataFrame(columns=["call_id", "ended_at"])])
    ended = calls.drop_duplicates("call_id").set_index("call_id")["ended_at"]
    wanted = set(pd.concat([r.good.loc[r.good["surveyed_at"].isna(), "call_id"] for r in surveys])) - set(ended.index)
    if wanted and lake.days("calls"):
        stored = lake.read("calls", columns=["call_id", "ended_at"]).to_pandas()
        stored = stored[member_of(stored.call_id, wanted)].drop_duplicates("call_id").set_index("call_id")["ended_at"]
        ended = pd.concat([ended, stored]) if len(ended) else stored
    for result in surveys:
        good = result.good
        missing = good["surveyed_at"].isna()
        if not missing.any():
            continue
        good.loc[missing, "surveyed_at"] = good.loc[missing, "call_id"].map(ended)
        undated = good["surveyed_at"].isna()
        if undated.any():
            extra = pd.DataFrame(
                {
                    "file": str(result.file),
                    "line": -1,
                    "raw": row_text(good.loc[undated]),
                    "reason": "surveyed_at is empty and the call is neither in this ingest nor in the lake: "
                              "add surveyed_at or ingest the survey with its calls",
                }
            )
            result.quarantine = pd.concat([result.quarantine, extra], ignore_index=True)
            result.good = good.loc[~undated].reset_index(drop=True)


def _skip(result: ReadResult, drop: pd.Series, reason: str) -> None:
    """Leave out `drop` rows of a result by rule, counted and said in its file's line."""
    count = int(drop.sum())
    if not count:
        return
    result.good = result.good.loc[~drop.to_numpy()].reset_index(drop=True)
    result.skipped += count
    result.skip_reason = "; ".join(r for r in (result.skip_reason, reason) if r)


def _one_record_per_key(results: list[ReadResult], table: str) -> None:
    """The same record twice in one ingest lands once: its newest version, else the one read last.

    Duplicated lines, overlapping exports and re-delivered records must not
    add rows; the copies that lose are reported as skipped for their file.
    """
    mine = [r for r in results if r.table == table and len(r.good)]
    if not mine:
        return
    key, version = CATALOG[table].key_columns, VERSION_COLUMN.get(table)
    columns = key + ([version] if version else [])
    rows = pd.concat([r.good[columns].assign(__result=n, __row=np.arange(len(r.good))) for n, r in enumerate(mine)],
                     ignore_index=True)
    order = ([version] if version else []) + ["__result", "__row"]
    winners = rows.sort_values(order, kind="stable", na_position="first").drop_duplicates(key, keep="last")
    if len(winners) == len(rows):
        return
    won = pd.Series(False, index=rows.index)
    won[winners.index] = True
    what = "older versions of records" if version else "repeated rows"
    for n, result in enumerate(mine):
        lost = ~won[rows["__result"].eq(n)].to_numpy()
        _skip(result, pd.Series(lost), f"{what} the same input holds again later ({', '.join(key)})")


def _not_older_than_lake(lake: Lake, results: list[ReadResult], table: str) -> None:
    """A re-delivered record older than the version the lake holds changes nothing, whatever the arrival order."""
    version = VERSION_COLUMN.get(table)
    mine = [r for r in results if r.table == table and len(r.good) and version in r.good]
    if not mine or not lake.days(table):
        return
    key, day = CATALOG[table].key_columns, CATALOG[table].day_column
    incoming = pd.concat([r.good[key + [day]] for r in mine], ignore_index=True)
    days = pd.to_datetime(incoming[day], utc=True).dt.date.dropna()
    stored = lake.read(table, days.min(), days.max(), columns=key + [version]).to_pandas()
    if table == "surveys":  # a survey is part of its contact's record: the call's newer version outdates it too
        calls = lake.read("calls", days.min() - dt.timedelta(days=1), days.max(), columns=["call_id", "updated_at"])
        stored = pd.concat([stored, calls.to_pandas()], ignore_index=True)
    stored = stored.dropna(subset=[version]).sort_values(version, kind="stable")
    if stored.empty:
        return
    newest = stored.drop_duplicates(key, keep="last").set_index(key)[version]
    for result in mine:
        held = pd.MultiIndex.from_frame(result.good[key]) if len(key) > 1 else pd.Index(result.good[key[0]])
        stored_version = pd.Series(newest.reindex(held).array, index=result.good.index)  # .array keeps the time zone when none match
        older = stored_version.notna() & (result.good[version].isna() | (result.good[version] < stored_version))
        _skip(result, older, "older versions of records the lake already holds in a newer version")


EXPECTED_FILES = {
    "asterisk": "cadet reads files named queue_log* (and Master.csv CDRs beside them)",
    "amazon-connect": "cadet reads contact-record and agent-event files (.json, .jsonl or no suffix)",
    "canonical": "cadet reads .csv and .parquet files (calls, offers, agent_states, reps, schedules, surveys)",
}


@flow(name="cadet-ingest", log_prints=True)
@holding_home("cadet ingest")
def ingest_flow(source: str, paths: list[str], home: str, settings: Settings | str | None = None,
                only_changed: bool = False) -> dict:
    """Read every input file, quarantine what is bad, land what is good.

    With `only_changed` (scheduled runs over a drop folder), files whose size
    and modification time match their last ingest are skipped: canonical files
    one by one; a platform's files (read together, they refer to each other)
    all at once when none changed.  `settings` is a settings file, or the settings a parent flow already loaded.
    """
    home = Home.of(home)
    config = settings_of(settings).config
    try:
        load_key(home)  # before anything is read: a lost key stops the run, it is not replaced
    except PseudonymKeyError as exc:
        raise RunFailed(str(exc)) from None
    mismatch = wrong_source(source, [Path(p) for p in paths])
    if mismatch:
        raise RunFailed(mismatch)
    files = find_input_files(source, [Path(p) for p in paths])
    unchanged = unchanged_files(home, files) if only_changed else []
    if source == "canonical" or len(unchanged) == len(files):
        files = [f for f in files if f not in unchanged]
    else:
        unchanged = []
    if not files and not unchanged:
        raise RunFailed(f"no {source} files in {', '.join(map(str, paths))}: {EXPECTED_FILES[source]}",
                        IngestSummary(lake=str(home.lake), quarantine=str(home.quarantine)).as_dict()
                        | {"days": [], "unchanged": []})
    if source == "asterisk" and files:  # read, landed and carried over a work unit at a time
        use_returning_memory_pool()
        summary, quarantines, days = ingest_asterisk(files, home, config)
    else:
        summary, quarantines, days = _ingest_together(source, files, home, config)
    for path, rows in quarantines.items():
        write_quarantine(home, path, pd.concat(rows, ignore_index=True))
    advance(1, 1, "done")
    for warning in summary.warnings:
        get_run_logger().warning(warning)
    record_ingest(home, source, summary)
    result = summary.as_dict() | {"days": sorted(days), "unchanged": [str(f) for f in unchanged]}
    if files and summary.landed == 0:
        raise RunFailed("nothing usable was read: see the problems listed per file and the quarantine", result)
    return result


def _ingest_together(source: str, files: list[Path], home: Home, config: CadetConfig
                     ) -> tuple[IngestSummary, dict[Path, list[pd.DataFrame]], set[str]]:
    """Canonical or Amazon Connect files: all read, then landed; returns the summary, quarantine by file and days."""
    steps = (len(files) if source == "canonical" else 1) + len(INPUT_TABLES)
    carry = transfers = None
    if not files:  # everything was ingested before, unchanged: nothing to read (a platform's reader would call it missing)
        outcomes = []
    elif source == "amazon-connect":
        advance(0, steps, f"reading {len(files)} Amazon Connect files")
        outcomes, carry, transfers = read_connect_files(files, home, config)
        advance(1, steps, "read")
    else:
        outcomes = []
        for done, path in enumerate(files, start=1):
            advance(done - 1, steps, f"reading {path.name}")
            outcomes.extend(read_canonical_file(path, home))
    results = [o for o in outcomes if isinstance(o, ReadResult)]
    days = _land(home, results, steps - len(INPUT_TABLES) + 1, steps)
    if source == "amazon-connect" and transfers is not None:
        days.update(complete_transfers(home, transfers, config.ingest.connect.tier2_queues))
    if carry is not None:
        write_carry(home, CONNECT_CARRY.name, carry)
    return _summary(home, outcomes), {path: [rows] for path, rows in _quarantine_by_file(results).items()}, days


def _land(home: Home, results: list[ReadResult], first_step: int, steps: int) -> set[str]:
    """Date, de-duplicate and land every table's good rows; returns the UTC days touched."""
    _date_surveys(results, Lake(home.lake))
    for table in INPUT_TABLES:
        _one_record_per_key(results, table)
        _not_older_than_lake(Lake(home.lake), results, table)
    days: set[str] = set()
    for done, table in enumerate(INPUT_TABLES, start=first_step):
        frames = [r.good for r in results if r.table == table]
        if frames:
            advance(done - 1, steps, f"landing {table}")
            days.update(land_table(home, table, frames))
    return days


def _modified_at(stat) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=stat.st_mtime_ns // 1000)


def unchanged_files(home: Home, files: list[Path]) -> list[Path]:
    """The files whose size and modification time are those recorded at their last ingest."""
    runs = Lake(home.lake).read(INGEST_RUNS.name)
    if runs.num_rows == 0:
        return []
    seen = {(r["file"], r["file_bytes"], r["file_modified_at"]) for r in runs.to_pylist()}
    out = []
    for path in files:
        stat = path.stat()
        if (str(path.resolve()), stat.st_size, _modified_at(stat)) in seen:
            out.append(path)
    return out


INGEST_RUNS = CATALOG["ingest_runs"]


@task(name="record the ingest", cache_policy=NO_CACHE)
def record_ingest(home: Home, source: str, summary: IngestSummary) -> None:
    """One `ingest_runs` row per input file (its latest ingest): which platforms fed the lake, how much landed.

    Keyed by file, with the file's size and modification time, so re-ingesting
    the same file rewrites the same row and the lake stays byte-identical.
    """
    rows = []
    for report in summary.files:
        path = Path(report.file)
        stat = path.stat() if path.exists() else None
        rows.append({"file": str(path.resolve()), "source": source, "table": report.table, "read": int(report.read),
                     "landed": int(report.landed), "quarantined": int(report.quarantined), "error": report.error,
                     "file_bytes": stat.st_size if stat else None,
                     "file_modified_at": _modified_at(stat) if stat else None})
    if rows:
        table = pa.Table.from_pylist(rows, schema=INGEST_RUNS.storage)
        Lake(home.lake).upsert(INGEST_RUNS.name, table, INGEST_RUNS.day_column, INGEST_RUNS.key_columns)


def _summary(home: Home, outcomes: list[ReadResult | FileReport], earlier: IngestSummary | None = None) -> IngestSummary:
    """One line per input file, adding up what each table (and each work unit) took from it."""
    summary = earlier or IngestSummary(lake=str(home.lake), quarantine=str(home.quarantine))
    by_file = {report.file: report for report in summary.files if report.table is not None}  # not a reader's fault
    for outcome in outcomes:
        if isinstance(outcome, FileReport):
            summary.files.append(outcome)
            continue
        summary.warnings.extend(w for w in outcome.warnings if w not in summary.warnings)
        report = by_file.get(str(outcome.file))
        if report is None:
            report = by_file[str(outcome.file)] = FileReport(str(outcome.file), None)
            summary.files.append(report)
        report.table = outcome.table if report.table in (None, outcome.table) else \
            ", ".join(dict.fromkeys([*report.table.split(", "), outcome.table]))
        report.read += outcome.lines_read
        report.landed += outcome.landed
        report.quarantined += outcome.quarantined
        report.error = outcome.problem or report.error
        report.skipped += outcome.skipped
        reasons = [r for text in (report.skipped_because, outcome.skip_reason) if text for r in text.split("; ")]
        report.skipped_because = "; ".join(dict.fromkeys(reasons)) or None
        if outcome.lines_used is not None:
            report.landed_lines = (report.landed_lines or 0) + outcome.lines_used
    return summary
