"""Read an Asterisk center: queue_log (file or database export), Master.csv CDRs, surveys.

Calls, offers and presence are rebuilt from queue_log's event sequence:
ENTERQUEUE opens a leg, CONNECT answers it, COMPLETE*/TRANSFER/ABANDON/EXIT*
end it; RINGNOANSWER and RINGCANCELED are offers that did not connect;
ADDMEMBER/REMOVEMEMBER and AGENTLOGIN/AGENTLOGOFF bound sessions; PAUSE and
UNPAUSE (per queue or ALL) split them.  queue_log has no in-call hold, so hold
is stored empty (not observable), never zero.

Parsing is vectorised with pyarrow; only presence events, which are few, go
through a per-agent state machine.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines.config import AsteriskIngestConfig
from pipelines.contracts import EARLIEST, latest_plausible
from pipelines.readers.arrow import (
    as_text,
    before_first,
    distinct,
    in_values,
    joined_texts,
    member_of,
    repeated_text,
    text_union,
    texts,
)
from pipelines.readers.canonical import QUARANTINE_COLUMNS, ReadResult, UnreadableFile, read_canonical

CALL_EVENTS = {
    "ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER",
    "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "RINGNOANSWER", "RINGCANCELED", "AGENTDUMP",
}
PRESENCE_EVENTS = {
    "ADDMEMBER", "REMOVEMEMBER", "AGENTLOGIN", "AGENTLOGOFF", "AGENTCALLBACKLOGIN", "AGENTCALLBACKLOGOFF",
    "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL",
}
SYSTEM_EVENTS = {"QUEUESTART", "CONFIGRELOAD", "DID", "INFO", "SYSCOMPAT", "ATTENDEDTRANSFER_FAILED", "MIXMONITOR", "PENALTY",
                 # a caller refused by the queue itself (no members, full, closed): nobody was offered the call
                 "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "FULL", "CLOSED"}
# Outbound dialler events some PBX distributions add (OUTDIAL opens, one of the others ends the call).
DIALLER_ENDINGS = {"OUTANSWER", "OUTCANCEL", "OUTCHANUNAVAIL", "OUTCONGESTION", "OUTBUSY", "OUTNOANSWER", "OUTFAIL", "OUTTRANSFER"}
DIALLER_EVENTS = {"OUTDIAL"} | DIALLER_ENDINGS
TRANSFER_EVENTS = ["BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER"]
ENDINGS = {
    "COMPLETEAGENT": "agent", "COMPLETECALLER": "caller", "BLINDTRANSFER": "transfer", "ATTENDEDTRANSFER": "transfer",
    "TRANSFER": "transfer", "ABANDON": "caller", "EXITWITHTIMEOUT": "system", "EXITEMPTY": "system",
    "EXITWITHKEY": "caller", "AGENTDUMP": "agent",
}
# The fewest fields (epoch|callid|queue|agent|event|data...) each event needs here.
MIN_FIELDS = {"ENTERQUEUE": 7, "CONNECT": 6, "RINGNOANSWER": 6, "RINGCANCELED": 6}
N_FIELDS = 10
DATA = [f"data{i}" for i in range(1, 6)]
# The queue_log table as Asterisk's realtime driver writes it: time, callid, queuename, agent, event, data1..data5
# (older schemas: one `data` column, the fields joined by '|').
STANDARD_COLUMNS = {"time", "callid", "queuename", "agent", "event"}
# A reporting vendor's copy of the table: the Unix time in date_time, the agent in `type`, and the event's data
# moved into named columns: entpos/expos (positions), htime (hold/wait, or ring time in ms), ttime (talk time).
VENDOR_COLUMNS = {"date_time", "callid", "queue_name", "type", "event", "param1", "param2", "param3", "entpos", "expos",
                  "htime", "ttime"}
VENDOR_DATA = {  # per event, the columns that hold data1, data2, ... as the flat file writes them
    "ENTERQUEUE": ["", "param1", "entpos"],
    "CONNECT": ["htime", "param2", "param3"],
    "COMPLETEAGENT": ["htime", "ttime", "entpos"], "COMPLETECALLER": ["htime", "ttime", "entpos"],
    "RINGNOANSWER": ["htime"], "RINGCANCELED": ["htime"],
    "ABANDON": ["expos", "entpos", "htime"], "EXITWITHTIMEOUT": ["expos", "entpos", "htime"],
    "EXITEMPTY": ["expos", "entpos", "htime"], "EXITWITHKEY": ["param2", "expos", "entpos", "htime"],
    "BLINDTRANSFER": ["param2", "param3", "htime", "ttime", "entpos"], "TRANSFER": ["param2", "param3", "htime", "ttime", "entpos"],
    "ATTENDEDTRANSFER": ["param2", "param3", "htime", "ttime", "entpos"],
    # dialler calls, cadet's own order: the number dialled, talk seconds, who ended it (or the transfer target)
    **{event: ["param1", "ttime", "param2"] for event in DIALLER_EVENTS},
}
EXPECTED_LAYOUTS = ("time,callid,queuename,agent,event,data1,...,data5 (Asterisk's realtime queue_log table), "
                    "the same with one `data` column, or uid,date_time,callid,queue_name,type,event,param1,param2,param3,"
                    "entpos,expos,htime,ttime,time (a reporting vendor's copy)")


@dataclass
class QueueLog:
    """queue_log lines as columns, with where each came from.

    Text columns are Arrow-backed ("str") arrays, so the frames the rebuild
    makes of them copy nothing.
    """

    file: pd.arrays.ArrowStringArray
    line: np.ndarray
    raw: pd.arrays.ArrowStringArray
    fields: list  # epoch (int64 numpy), then callid, queue, agent, event, data1..data3 as "str" arrays ('' when absent)
    n_fields: np.ndarray
    origin: pd.arrays.ArrowStringArray | None = None  # a carried event's file, when an earlier work unit read it; else `file`

    def origins(self) -> pd.arrays.ArrowStringArray:
        return self.origin if self.origin is not None else self.file


def is_queue_log(path: Path) -> bool:
    return path.name.startswith("queue_log")


def db_export_layout(header: list[str]) -> str | None:
    """'standard' or 'vendor' when a CSV header is a queue_log table export, else None."""
    names = {h.strip().lower() for h in header}
    if STANDARD_COLUMNS <= names and (names & set(DATA) or "data" in names):
        return "standard"
    if VENDOR_COLUMNS <= names:
        return "vendor"
    return None


def is_db_export(header: list[str]) -> bool:
    return db_export_layout(header) is not None


def looks_like_a_table_export(header: list[str]) -> bool:
    """A CSV header naming queue_log-ish columns, though not in a layout cadet knows."""
    names = {h.strip().lower() for h in header}
    return "event" in names and bool(names & {"callid", "call_id", "uniqueid"})


def _lines(path: Path) -> tuple[list[str], dict[int, str]]:
    """The file's lines as text; lines that are not UTF-8 are reported, not decoded by guesswork."""
    return _decoded(path.read_bytes())


def _decoded(raw: bytes, first_line: int = 1) -> tuple[list[str], dict[int, str]]:
    """`raw`'s lines as text, numbered from `first_line`; a line that is not UTF-8 is kept escaped, with its reason."""
    try:
        text = raw.decode("utf-8")
        bad: dict[int, str] = {}
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines, bad = [], {}
        for number, chunk in enumerate(raw.split(b"\n"), start=first_line):
            try:
                lines.append(chunk.decode("utf-8"))
            except UnicodeDecodeError as exc:
                lines.append(chunk.decode("utf-8", errors="backslashreplace"))  # quarantined as it is, bytes shown as \xNN
                bad[number] = f"not UTF-8 text at byte {exc.start}"
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines], bad


@dataclass(frozen=True)
class Span:
    """Consecutive lines of one queue_log flat file: bytes [start, end), the first being line `first_line`."""

    path: Path
    start: int
    end: int
    first_line: int


def read_queue_log(path: Path, timezone: str = "UTC", span: Span | None = None) -> tuple[QueueLog, pd.DataFrame]:
    """Split a queue_log flat file or its database export into fields; returns (lines, quarantined).

    The flat file carries Unix seconds; the database export carries the PBX's
    wall-clock time, read in `timezone` unless it names its own offset.  With
    `span`, only those lines of a flat file are read (one work unit of a large file).
    """
    if span is not None:
        with open(path, "rb") as handle:
            handle.seek(span.start)
            raw = handle.read(span.end - span.start)
        lines, bad = _line_array(raw, span.first_line)
        del raw
        return _flat(path, lines, bad, span.first_line)
    raw = path.read_bytes()
    whole = _text_lines(raw)
    if whole is not None and not (len(whole) and "|" not in (first := whole[0].as_py()) and "," in first):
        return _flat(path, whole, {})  # a flat file, all of it UTF-8: never split into Python strings
    lines, bad = _decoded(raw)
    first = lines[0] if lines else ""
    if "|" not in first and "," in first:
        header = next(csv.reader([first]))
        layout = db_export_layout(header)
        if layout is not None:
            return _read_db_export(path, lines, bad, timezone, header, layout)
        if looks_like_a_table_export(header):
            raise UnreadableFile(f"{path}: a queue_log table export with columns {header}, a layout cadet does not know; "
                                 f"expected {EXPECTED_LAYOUTS}")
    return _flat(path, pa.array(lines, pa.string()), bad)


def _text_lines(raw: bytes) -> pa.LargeStringArray | None:
    """`raw`'s lines as Arrow text, as `_decoded` splits them (one '\r' before each line end dropped), built from
    the bytes without a Python string per line; None when some line is not UTF-8 (`_decoded` says which) or
    the text is too long for one Arrow string array.  Large strings, as pandas' "str" arrays hold them, so
    the fields split from them are taken as they are."""
    if len(raw) >= 2**31:
        return None
    data = np.frombuffer(raw.replace(b"\r\n", b"\n"), dtype=np.uint8)
    newline = data == 10
    ends = np.flatnonzero(newline)
    last = len(data) > 0 and data[-1] != 10  # a last line without its newline
    kept = np.logical_not(newline, out=newline)  # its memory, not another array's: a unit is read beside another
    if last and data[-1] == 13:
        kept[-1] = False
    offsets = np.empty(len(ends) + 1 + last, dtype=np.int64)
    offsets[0] = 0
    offsets[1:len(ends) + 1] = ends - np.arange(len(ends))
    text = data[kept]
    del data, kept
    if last:
        offsets[-1] = len(text)
    lines = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(text))
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return lines


def _line_array(raw: bytes, first_line: int) -> tuple[pa.Array, dict[int, str]]:
    """`raw`'s lines as Arrow text and the lines that are not UTF-8 (numbered from `first_line`), with their reasons."""
    lines = _text_lines(raw)
    if lines is not None:
        return lines, {}
    text, bad = _decoded(raw, first_line)
    return pa.array(text, pa.string()), bad


def _flat(path: Path, arr: pa.Array, bad: dict[int, str], first_line: int = 1) -> tuple[QueueLog, pd.DataFrame]:
    # padded so every line has the fields cadet reads; the rest (data4, data5) is left unsplit
    padded = pc.binary_join_element_wise(arr, pa.scalar("|" * (USED_FIELDS - 1), arr.type), pa.scalar("", arr.type))
    parts = pc.split_pattern(padded, "|", max_splits=USED_FIELDS)
    del padded
    fields = [pc.list_element(parts, i) for i in range(USED_FIELDS)]
    del parts
    n_fields = np.asarray(pc.add(pc.count_substring(arr, "|"), 1).to_numpy(zero_copy_only=False))
    return _checked(path, np.arange(first_line, first_line + len(arr)), texts(arr), fields, n_fields, bad)


def _csv_row(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []


def _read_db_export(path: Path, lines: list[str], bad: dict[int, str], timezone: str, header: list[str],
                    layout: str) -> tuple[QueueLog, pd.DataFrame]:
    """The queue_log table exported as CSV, in either layout, as the flat file's fields."""
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    rows = [_csv_row(line) for line in lines[1:]]  # line by line: a stray quote must not swallow the lines after it
    width = N_FIELDS
    fields = [np.full(len(rows), "", dtype=object) for _ in range(width)]
    n_fields = np.zeros(len(rows), dtype=np.int64)
    times = []

    def value(row: list[str], name: str) -> str:
        i = index.get(name)
        text = row[i].strip() if i is not None and i < len(row) else ""
        return "" if text in ("NULL", "\\N") else text

    for i, row in enumerate(rows):
        if layout == "vendor":
            event = value(row, "event")
            head = [value(row, "date_time"), value(row, "callid"), value(row, "queue_name"), value(row, "type"), event]
            data = [value(row, name) if name else "" for name in VENDOR_DATA.get(event, ["param1", "param2", "param3"])]
        else:
            head = [value(row, name) for name in ("time", "callid", "queuename", "agent", "event")]
            data = [value(row, name) for name in DATA] if "data1" in index else value(row, "data").split("|")
        values = head + data
        while values and values[-1] == "" and len(values) > 5:
            values.pop()
        if not any(row):
            values = []
        n_fields[i] = len(values)
        for j, text in enumerate(values[:width]):
            fields[j][i] = text
        times.append(values[0] if values else "")
    text = pd.Series(times, dtype="string")
    epoch_given = text.str.fullmatch(r"\d{9,11}", na=False)
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", na=False) & ~epoch_given
    stamps = pd.to_datetime(text.where(zoned), utc=True, errors="coerce", format="ISO8601")
    local = pd.to_datetime(text.where(~zoned & ~epoch_given), errors="coerce", format="ISO8601")
    stamps = stamps.fillna(local.dt.tz_localize(ZoneInfo(timezone), ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC"))
    stamps = stamps.where(stamps.dt.year.between(1990, 2100))  # '0001-01-01' is a parse of junk, not a time
    seconds = pd.Series("", index=stamps.index, dtype=object)
    ok = stamps.notna()
    if ok.any():
        seconds[ok] = stamps[ok].dt.as_unit("s").astype("int64").astype(str)
    epoch = np.where(epoch_given, text.fillna(""), seconds.to_numpy())
    fields[0] = np.asarray(epoch, dtype=object)
    return _checked(
        path, np.arange(2, len(rows) + 2), texts(pa.array(lines[1:], pa.string())),
        [pa.array(f, pa.string()) for f in fields], n_fields, {k: v for k, v in bad.items() if k > 1},
    )


USED_FIELDS = 8  # epoch .. data3; data4 and data5 carry nothing cadet reads


def _checked(path: Path, line: np.ndarray, raw: pd.arrays.ArrowStringArray, fields: list[pa.Array], n_fields: np.ndarray,
             bad: dict[int, str]) -> tuple[QueueLog, pd.DataFrame]:
    """Reject lines that are truncated, badly timed or of an unknown event, each with its first reason.

    The checks run as pyarrow kernels over whole columns; reason texts are built
    only for the few rejected lines.
    """
    def mask(array) -> np.ndarray:
        return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)

    epoch, callid, agent, event = fields[0], fields[1], fields[3], fields[4]
    reasons = np.full(len(line), None, dtype=object)
    open_ = np.ones(len(line), dtype=bool)

    def reject(hit: np.ndarray, reason) -> None:
        nonlocal open_
        hit = hit & open_
        if hit.any():
            reasons[hit] = reason(hit) if callable(reason) else reason
            open_ &= ~hit

    for number, reason in bad.items():
        reject(line == number, reason)
    reject(raw == "", "empty line")
    reject(n_fields < 5, lambda hit: [f"truncated: {n} fields, at least 5 needed" for n in n_fields[hit]])
    reject(~mask(pc.match_substring_regex(epoch, r"^\d{9,11}$")), "bad timestamp: not Unix seconds")
    seconds = np.asarray(pc.cast(pc.if_else(pa.array(open_), epoch, "0"), pa.int64()).to_numpy(zero_copy_only=False))
    earliest, latest = (int(t.timestamp()) for t in (EARLIEST, latest_plausible()))
    reject((seconds < earliest) | (seconds > latest),
           lambda hit: [f"bad timestamp: {pd.Timestamp(int(n), unit='s', tz='UTC') if n < 2**33 else n} is not a plausible time "
                        f"(before {EARLIEST.year} or in the future): a clock or logging error" for n in seconds[hit]])
    known = pa.array(sorted(CALL_EVENTS | PRESENCE_EVENTS | SYSTEM_EVENTS | DIALLER_EVENTS))
    encoded = pc.dictionary_encode(event)
    event_names, event_codes = encoded.dictionary.to_pylist(), np.asarray(encoded.indices.to_numpy(zero_copy_only=False))

    def is_event(name: str) -> np.ndarray:
        return event_codes == event_names.index(name) if name in event_names else np.zeros(len(event_codes), dtype=bool)

    reject(~mask(pc.is_in(event, value_set=known)), lambda hit: [f"unknown event {e}" for e in event.filter(pa.array(hit)).to_pylist()])
    for name, minimum in MIN_FIELDS.items():
        reject(is_event(name) & (n_fields < minimum), f"{name} needs {minimum} fields")
    no_callid = mask(pc.is_in(callid, value_set=pa.array(["", "NONE"])))
    reject(mask(pc.is_in(event, value_set=pa.array(sorted(CALL_EVENTS | DIALLER_EVENTS)))) & no_callid, "call event without a callid")
    agent_events = pa.array(sorted({"CONNECT", "RINGNOANSWER", "RINGCANCELED"} | PRESENCE_EVENTS | DIALLER_EVENTS))
    no_agent = mask(pc.is_in(agent, value_set=pa.array(["", "NONE"])))
    reject(mask(pc.is_in(event, value_set=agent_events)) & no_agent, "agent event without an agent")
    for name, index in (("CONNECT", 5), ("RINGNOANSWER", 5), ("ABANDON", 7)):
        not_int = ~mask(pc.match_substring_regex(fields[index], r"^\d+$"))
        reject(is_event(name) & not_int, f"{name}: data{index - 4} is not a whole number")

    rejected = ~open_
    quarantine = pd.DataFrame(
        {"file": str(path), "line": line[rejected], "raw": raw[rejected], "reason": reasons[rejected]},
        columns=QUARANTINE_COLUMNS,
    )
    if open_.all():  # the usual case: nothing to take out
        kept_fields = [np.asarray(pc.cast(epoch, pa.int64()).to_numpy(zero_copy_only=False))]
        kept_fields += [texts(f) for f in fields[1:USED_FIELDS]]
        return QueueLog(repeated_text(str(path), len(line)), line, raw, kept_fields, n_fields), quarantine
    keep = pa.array(open_)
    kept_fields = [np.asarray(pc.cast(epoch.filter(keep), pa.int64()).to_numpy(zero_copy_only=False))]
    kept_fields += [texts(f.filter(keep)) for f in fields[1:USED_FIELDS]]
    kept = QueueLog(repeated_text(str(path), int(open_.sum())), line[open_], raw[open_], kept_fields, n_fields[open_])
    return kept, quarantine


def concat_logs(logs: list[QueueLog]) -> QueueLog:
    return QueueLog(
        joined_texts([q.file for q in logs]), np.concatenate([q.line for q in logs]),
        joined_texts([q.raw for q in logs]),
        [np.concatenate([q.fields[0] for q in logs])] + [joined_texts([q.fields[i] for q in logs]) for i in range(1, USED_FIELDS)],
        np.concatenate([q.n_fields for q in logs]),
        joined_texts([q.origins() for q in logs]) if any(q.origin is not None for q in logs) else None,
    )


def _ts(epoch) -> pd.Series:
    return pd.to_datetime(pd.Series(epoch, dtype="Int64"), unit="s", utc=True)


def rebuild_calls(log: QueueLog, settings: AsteriskIngestConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Legs and offers from call events; returns (legs, offers, quarantine of unfinished legs)."""
    legs, offers, orphan, open_lines, _ = _rebuild_calls(log, settings)
    return legs, offers, _unfinished(log, orphan, open_lines)


def _unfinished(log: QueueLog, orphan: pd.DataFrame, open_lines: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows for call events before their ENTERQUEUE and for legs that never end (each event's index is
    its position in `log`, whose text the rows quote)."""
    return pd.concat(
        [
            pd.DataFrame({"file": orphan.file, "line": orphan.line, "raw": log.raw[orphan.index.to_numpy()],
                          "reason": "call event before its ENTERQUEUE (the log may start mid-call)"}),
            pd.DataFrame({"file": open_lines.file, "line": open_lines.line, "raw": log.raw[open_lines.index.to_numpy()],
                          "reason": "the call has no end in these files (still in progress, or the log was cut); ingest it with the next file"}),
        ],
        ignore_index=True,
    )


def _rebuild_calls(log: QueueLog, settings: AsteriskIngestConfig, earlier_legs: pd.Series | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(legs, offers, events before any ENTERQUEUE, events of legs without an end, every call event in a leg).

    Events keep their log positions as index.

    `earlier_legs`: per callid, how many of its legs earlier files held before
    these files' first ENTERQUEUE, so a leg keeps its number (and call id).
    """
    chosen = np.flatnonzero(in_values(log.fields[4], CALL_EVENTS))
    event = log.fields[4][chosen]
    order = np.where(event == "ENTERQUEUE", 0, np.where(in_values(event, ENDINGS), 2, 1))
    call = _sorted_codes(log.fields[1][chosen])
    by_call = np.lexsort((log.line[chosen], _sorted_codes(log.file[chosen]), order, log.fields[0][chosen], call))
    taken, call = chosen[by_call], call[by_call]
    ev = pd.DataFrame(
        {
            "file": log.file[taken], "line": log.line[taken], "epoch": log.fields[0][taken].astype(np.int64),
            "callid": log.fields[1][taken], "queue": log.fields[2][taken], "agent": log.fields[3][taken],
            "event": event[by_call], "d1": log.fields[5][taken], "d2": log.fields[6][taken], "d3": log.fields[7][taken],
            "order": order[by_call],
        },
        index=taken,
    )
    leg = _running_count(order[by_call] == 0, call)  # order 0: ENTERQUEUE
    ev["leg"] = leg
    orphan = ev[leg == 0]
    ev, call = ev[leg > 0], call[leg > 0]
    if earlier_legs is not None and len(earlier_legs):
        ev["leg"] += ev.callid.map(earlier_legs).fillna(0).astype(np.int64)
    # one integer per (callid, leg): legs are matched to their events by it, not by a pair of texts
    ev["leg_key"] = call * (int(ev.leg.max()) + 1 if len(ev) else 1) + ev.leg.to_numpy()

    enter = ev[ev.order.to_numpy() == 0]
    legs = pd.DataFrame(
        {"callid": enter.callid.array, "leg": enter.leg.to_numpy(), "queue": enter.queue.array, "enqueued_at": enter.epoch.to_numpy(),
         "remote_number": enter.d2.replace("", None).array, "file": enter.file.array},
        index=pd.Index(enter.leg_key.to_numpy()),
    )
    connect = _first_per_leg(ev[ev.event == "CONNECT"])
    legs["answered_at"] = connect.epoch
    legs["rep_id"] = connect.agent
    ending = _first_per_leg(ev[in_values(ev.event, ENDINGS)])
    legs["ended_at"] = ending.epoch
    legs["end_event"] = ending.event
    legs["end_agent"] = ending.agent
    legs["transfer_target"] = ending.d1.where(ending.event.isin(["BLINDTRANSFER", "TRANSFER"]))
    legs["end_file"] = ending.file
    legs = legs.rename_axis("leg_key").reset_index()
    legs = legs[["callid", "leg"] + [c for c in legs.columns if c not in ("callid", "leg")]]

    unfinished = legs.ended_at.isna()
    open_lines = ev[np.isin(ev.leg_key.to_numpy(), legs.leg_key[unfinished].to_numpy())]
    legs = legs[~unfinished].copy()
    legs["rep_id"] = legs.rep_id.where(legs.answered_at.notna())
    legs["call_id"] = _leg_call_id(legs.callid, legs.leg.to_numpy())
    legs["parent_call_id"] = _leg_call_id(legs.callid, legs.leg.to_numpy() - 1)
    next_queue = legs.groupby("callid").queue.shift(-1)
    transferred = legs.end_event.isin(TRANSFER_EVENTS)
    self_service = transferred & legs.transfer_target.isin(settings.self_service_extensions)
    legs["transfer_to"] = np.where(self_service, "ivr:self-service", np.where(transferred, next_queue.fillna(legs.transfer_target), None))
    legs["transfer_kind"] = np.select(
        [self_service, transferred & next_queue.isin(settings.tier2_queues), transferred & next_queue.notna(), transferred],
        ["self_service", "escalation", "queue", "external"],
        default=None,
    )
    legs["transfer_kind"] = legs.transfer_kind.replace({"None": None})
    legs["disconnected_by"] = legs.end_event.map(ENDINGS)
    legs["outcome"] = np.where(legs.answered_at.notna(), "answered", "abandoned")

    offers = _offers(ev, legs, settings)
    return legs, offers, orphan, open_lines, ev


def _leg_call_id(callid: pd.Series, leg: np.ndarray) -> pd.Series:
    """A leg's call id: the callid for the first leg, callid#N for the N-th; missing for leg 0 (no leg)."""
    numbered = pc.binary_join_element_wise(as_text(callid), pa.array(leg.astype(str)), "#")
    ids = pc.if_else(pa.array(leg == 1), as_text(callid), numbered)
    return pd.Series(texts(pc.if_else(pa.array(leg > 0), ids, pa.scalar(None, pa.string()))), index=callid.index)


def _sorted_codes(cells) -> np.ndarray:
    """Each text cell's rank among the distinct cells in Arrow's sort order: sorting by it sorts by the text."""
    encoded = pc.dictionary_encode(as_text(cells))
    rank = np.empty(len(encoded.dictionary), dtype=np.int64)
    rank[np.asarray(pc.sort_indices(encoded.dictionary))] = np.arange(len(encoded.dictionary))
    return rank[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)] if len(rank) else np.zeros(0, np.int64)


def _running_count(hit: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per row, how many `hit` rows its group has had so far (itself included); rows sorted by `group`."""
    counted = np.cumsum(hit, dtype=np.int64)
    if not len(counted):
        return counted
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    before = counted[starts] - hit[starts]
    return counted - np.repeat(before, np.diff(np.r_[starts, len(group)]))


def _first_per_leg(events: pd.DataFrame) -> pd.DataFrame:
    """Each leg's first of these events, indexed by its leg key."""
    keys = events.leg_key.to_numpy()
    return events[~pd.Index(keys).duplicated()].set_index("leg_key")


def _offers(ev: pd.DataFrame, legs: pd.DataFrame, settings: AsteriskIngestConfig) -> pd.DataFrame:
    rung = ev[ev.event.isin(["RINGNOANSWER", "RINGCANCELED", "CONNECT"])].merge(legs[["leg_key", "call_id"]], on="leg_key")
    connected = (rung.event == "CONNECT").to_numpy()
    # CONNECT's ring time is in seconds (data3), the others' in milliseconds (data1): one parse for both
    ringing = pd.to_numeric(rung.d3.where(connected, rung.d1), errors="coerce").fillna(0).to_numpy(dtype=np.float64)
    ring = np.where(connected, ringing, ringing / 1000.0).round().astype(np.int64)
    declined = (rung.event == "RINGNOANSWER") & (ring < settings.ring_timeout_seconds - 1)
    result = np.select(
        [connected, rung.event == "RINGCANCELED", declined],
        ["answered", "caller_abandoned", "declined"],
        default="ring_no_answer",
    )
    return pd.DataFrame(
        {
            "call_id": rung.call_id.values,
            "rep_id": rung.agent.values,
            "offered_at": _ts(rung.epoch.values - ring).array,
            "ring_seconds": ring,
            "result": result,
        }
    )


INTERFACE = re.compile(r"^(?:Local/(?P<local>[^@/]+)@[^/]*(?:/n)?|(?:Agent|PJSIP|SIP|IAX2|DAHDI|Local)/(?P<device>[^@/-]+))$",
                        re.IGNORECASE)
_TAKES_CALLS = CALL_EVENTS | DIALLER_EVENTS


def interface_number(name: str) -> str | None:
    """The extension a member interface stands for: 1141 for Agent/1141, Local/1141@ctx/n, PJSIP/1141, SIP/1141."""
    match = INTERFACE.match(name)
    return (match.group("local") or match.group("device")) if match else None


DIALLER_LEG_COLUMNS = ["call_id", "parent_call_id", "queue", "remote_number", "enqueued_at", "answered_at", "ended_at", "rep_id",
                       "outcome", "disconnected_by", "wrapup_seconds", "transfer_kind", "transfer_to", "leg", "callid"]


def rep_names(agents: np.ndarray, events: np.ndarray, settings: AsteriskIngestConfig) -> dict[str, str]:
    """Each member name of the log that stands for another rep id, and that id.

    One person can appear under several interfaces: an `app_agent_pool` agent
    (`Agent/1141`) logged in from a `Local/1141@callback-agent` member, or a
    phone that moved from `SIP/1141` to `PJSIP/1141`.  With `merge_interfaces`
    they are one rep, named by the interface that takes the calls (the one
    CONNECT and RINGNOANSWER name).  `rep_aliases` names the rest by hand.
    """
    frame = pd.DataFrame({"agent": agents, "calls": pd.Series(events).isin(_TAKES_CALLS).to_numpy()})
    frame = frame[~frame.agent.isin(["", "NONE"])]
    explicit = {k: v for k, v in settings.rep_aliases.items() if k != v}
    if not settings.merge_interfaces or frame.empty:
        return explicit
    counts = frame.groupby("agent").calls.agg(["sum", "size"])
    if explicit:  # a hand-named alias counts as the rep it names
        counts = counts.groupby(counts.index.map(lambda a: explicit.get(a, a))).sum()
    numbers = {name: number for name in counts.index if (number := interface_number(name))}
    names = dict(explicit)
    by_number: dict[str, list[str]] = {}
    for name, number in numbers.items():
        by_number.setdefault(number, []).append(name)
    for group in by_number.values():
        if len(group) < 2:
            continue
        keep = max(group, key=lambda n: (counts.loc[n, "sum"], n.lower().startswith("agent/"), counts.loc[n, "size"], n))
        names.update({n: keep for n in group if n != keep})
    return {k: names.get(v, v) for k, v in names.items()}


def with_rep_names(log: QueueLog, settings: AsteriskIngestConfig, names: dict[str, str] | None = None) -> QueueLog:
    """The log with every member name replaced by the rep id it stands for (see `rep_names`)."""
    names = rep_names(log.fields[3], log.fields[4], settings) if names is None else names
    if not names:
        return log
    fields = list(log.fields)
    fields[3] = texts(pd.Series(fields[3]).replace(names).array)
    return dataclasses.replace(log, fields=fields)


def rebuild_dialler_calls(log: QueueLog, settings: AsteriskIngestConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outbound calls from a dialler's OUTDIAL ... OUTANSWER/OUTCANCEL/... lines; (calls, quarantine of open ones)."""
    chosen = np.flatnonzero(in_values(log.fields[4], DIALLER_EVENTS))
    ev = pd.DataFrame({"file": log.file[chosen], "line": log.line[chosen], "raw": log.raw[chosen],
                       "epoch": log.fields[0][chosen].astype(np.int64), "callid": log.fields[1][chosen],
                       "agent": log.fields[3][chosen], "event": log.fields[4][chosen], "number": log.fields[5][chosen],
                       "talk": log.fields[6][chosen], "by": log.fields[7][chosen]}, index=chosen)
    ev = ev.sort_values(["callid", "epoch", "line"], kind="stable")
    dials = ev[ev.event == "OUTDIAL"].drop_duplicates("callid").set_index("callid")
    ends = ev[ev.event.isin(DIALLER_ENDINGS)].drop_duplicates("callid").set_index("callid")
    open_ = ev[ev.callid.isin(dials.index.difference(ends.index))]
    # the open calls' lines, as quarantine rows (with their call and time, for a reader that carries them instead)
    quarantine = pd.DataFrame({"file": open_.file, "line": open_.line, "raw": open_.raw,
                               "reason": "the outbound call has no end in these files; ingest it with the next file",
                               "callid": open_.callid, "epoch": open_.epoch},
                              columns=QUARANTINE_COLUMNS + ["callid", "epoch"])
    if ends.empty:
        return _empty_calls().assign(file=pd.Series(dtype=object)), quarantine
    start = dials.epoch.reindex(ends.index).fillna(ends.epoch).astype(np.int64)
    number = dials.number.reindex(ends.index).where(lambda n: n.fillna("") != "", ends.number)
    answered = ends.event.isin(["OUTANSWER", "OUTTRANSFER"])
    talk = pd.to_numeric(ends.talk, errors="coerce")
    answered_at = (ends.epoch - talk.fillna(0)).clip(lower=start).where(answered)
    # a number pseudonymised by the incremental reader was long: only short numbers (extensions) stay as dialled
    dialled = number.fillna("")
    internal = (dialled.str.replace(r"\D", "", regex=True).str.len() <= settings.internal_number_max_digits) \
        & ~dialled.str.startswith(CALLER_KEY)
    transferred = ends.event.eq("OUTTRANSFER")
    legs = pd.DataFrame({
        "call_id": ends.index, "parent_call_id": None, "queue": None, "remote_number": number.replace("", None).values,
        "enqueued_at": np.nan, "answered_at": answered_at.values, "ended_at": ends.epoch.values,
        "rep_id": ends.agent.replace({"": None, "NONE": None}).values,
        "outcome": np.where(answered, "answered", "abandoned"),
        "disconnected_by": np.select([transferred, ends.by.eq("COMPLETEAGENT"), ends.by.eq("COMPLETECALLER")],
                                     ["transfer", "agent", "caller"], default=None),
        "wrapup_seconds": pd.array([pd.NA] * len(ends), dtype="Int64"),
        "transfer_kind": np.where(transferred, "external", None), "transfer_to": ends.by.where(transferred).values,
        "leg": 1, "callid": ends.index, "file": ends.file.values,
    })
    calls = _calls_frame(legs, pd.DataFrame())
    calls["started_at"] = _ts(start.values).array
    calls["enqueued_at"] = pd.NaT
    calls["direction"] = np.where(internal.values, "internal", "outbound")
    calls["disconnected_by"] = calls.disconnected_by.replace({"None": None})
    calls["transfer_kind"] = calls.transfer_kind.replace({"None": None})
    return calls.assign(file=legs.file.values), quarantine


def rebuild_presence(log: QueueLog, settings: AsteriskIngestConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agent state intervals, and after-call-work intervals (pauses with a wrap-up reason)."""
    states, acw, _, _ = _rebuild_presence(log, settings)
    return states, acw


# Presence events by what they do to a session, and their order among events of one agent and second: joins
# before unpauses before pauses before leaves, so a session that opens and pauses in the same second is read so.
_JOIN, _LOGIN, _UNPAUSE, _PAUSE, _LEAVE, _LOGOFF = range(6)
_PRESENCE_ACTION = {"ADDMEMBER": _JOIN, "AGENTLOGIN": _LOGIN, "AGENTCALLBACKLOGIN": _LOGIN, "UNPAUSE": _UNPAUSE,
                    "UNPAUSEALL": _UNPAUSE, "PAUSE": _PAUSE, "PAUSEALL": _PAUSE, "REMOVEMEMBER": _LEAVE,
                    "AGENTLOGOFF": _LOGOFF, "AGENTCALLBACKLOGOFF": _LOGOFF}
_ACTION_RANK = np.array([0, 0, 1, 2, 3, 3])


def _rebuild_presence(log: QueueLog, settings: AsteriskIngestConfig) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, dict]:
    """(states, after-call work, log positions of the sessions still open at the end, agent -> open wrap-up start)."""
    chosen = np.flatnonzero(in_values(log.fields[4], PRESENCE_EVENTS))
    event_codes, event_names = pd.factorize(log.fields[4][chosen])
    agent_codes, agents = pd.factorize(log.fields[3][chosen], sort=True)
    action = np.array([_PRESENCE_ACTION[name] for name in event_names], dtype=np.int64)[event_codes]
    epoch = log.fields[0][chosen].astype(np.int64)
    # Per-queue lines of one action share agent, second and event: keep one, but count queues for membership.
    membership = (action == _JOIN) | (action == _LEAVE)
    repeated = pd.DataFrame({"a": agent_codes, "e": epoch, "v": event_codes}).duplicated().to_numpy() & ~membership
    kept = np.flatnonzero(~repeated)
    order = kept[np.lexsort((kept, ~membership[kept], _ACTION_RANK[action[kept]], epoch[kept], agent_codes[kept]))]
    positions = chosen[order]
    agent, epochs, actions = agent_codes[order].tolist(), epoch[order].tolist(), action[order].tolist()
    reason = log.fields[5][positions]
    wrapup_pause = (action[order] == _PAUSE) & in_values(reason, set(settings.wrapup_pause_reasons))
    reasons, wrapups = reason.tolist(), wrapup_pause.tolist()

    states, acw, still_open, in_acw = [], [], [], {}
    n = len(agent)
    first = 0
    while first < n:
        who = agent[first]
        last = first
        while last < n and agent[last] == who:
            last += 1
        queues = 0
        logged_in = paused = False
        since = acw_since = acw_at = 0
        in_wrapup = False
        pause_reason = None
        session_from = first
        for at in range(first, last):
            act, at_epoch = actions[at], epochs[at]
            login = act == _LOGIN or (act == _JOIN and queues == 0)
            if act == _JOIN:
                queues += 1
            logout = act == _LOGOFF or (act == _LEAVE and queues == 1)
            if act == _LEAVE:
                queues = max(0, queues - 1)
            # A wrap-up pause is read on its own, session or not: its start and end are both in the log, and a
            # re-read file (or a static member, who never logs in) may lack the line that opened the session.
            pausing, unpausing = act == _PAUSE, act == _UNPAUSE
            if in_wrapup and (pausing or unpausing or (logout and logged_in)):
                acw.append((who, acw_since, at_epoch))  # ended by the unpause, a break, or the logoff
                in_wrapup = False
                if unpausing:
                    continue
            if wrapups[at] and not paused:
                in_wrapup, acw_since, acw_at = True, at_epoch, at  # after-call work: still available in cadet's terms
                continue
            if login and not logged_in:
                logged_in, paused, since, session_from = True, False, at_epoch, at
            elif logout and logged_in:
                if at_epoch > since:
                    states.append((who, "paused" if paused else "available", pause_reason if paused else None, since, at_epoch))
                logged_in = paused = False
            elif pausing and logged_in and not paused:
                if at_epoch > since:
                    states.append((who, "available", None, since, at_epoch))
                paused, pause_reason, since = True, reasons[at] or None, at_epoch
            elif unpausing and logged_in and paused:
                if at_epoch > since:
                    states.append((who, "paused", pause_reason, since, at_epoch))
                paused, since = False, at_epoch
        if logged_in:
            still_open.append(positions[session_from:last])
        if in_wrapup:
            in_acw[agents[who]] = acw_since
            if not logged_in:  # the next file's unpause needs this pause, whether or not a session is open
                still_open.append(positions[acw_at:acw_at + 1])
        first = last
    frame = pd.DataFrame(states, columns=["rep_id", "state", "reason", "started_at", "ended_at"])
    frame["rep_id"] = agents.take(frame.rep_id.to_numpy(dtype=np.int64))
    frame["started_at"], frame["ended_at"] = _ts(frame.started_at.values).array, _ts(frame.ended_at.values).array
    work = np.array(acw, dtype=np.int64).reshape(-1, 3)
    after_call = pd.DataFrame({"rep_id": agents.take(work[:, 0]), "start": work[:, 1], "end": work[:, 2]})
    open_positions = np.concatenate(still_open) if still_open else np.array([], dtype=np.int64)
    return frame, after_call, open_positions, in_acw


CDR_USED = ["src", "dst", "dcontext", "start", "answer", "end", "billsec", "disposition", "uniqueid"]  # what calls are built from


CDR_NAMES = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
             "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield"]
CDR_BLOCK_BYTES = 16 << 20


def read_cdr(path: Path, timezone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Master.csv rows (cdr_csv column order, local times), the columns calls are built from; returns (rows, quarantined).

    Caller names, channels and application data are left unread: a month of a large centre's CDRs stays small.
    """
    blocks = CdrBlocks(path, timezone)
    try:
        rows = list(blocks)
    except CloserLook:
        rows = []
    if not rows:  # a line the blocks cannot take, or an empty file (the careful reader's empty frame)
        return read_cdr_closely(path, timezone)
    return pd.concat(rows, ignore_index=True), blocks.quarantine


class CloserLook(Exception):
    """A Master.csv line the block reader cannot take (too few fields, not UTF-8, columns in another order)."""


class CdrBlocks:
    """A well-formed Master.csv a block at a time, so a large one is never held whole.

    Iterating yields `read_cdr`'s rows block by block and raises `CloserLook`
    where a line needs `read_cdr`'s careful reader; afterwards `quarantine`
    holds the rows whose start or end is not a local time.
    """

    def __init__(self, path: Path, timezone: str, block_bytes: int = CDR_BLOCK_BYTES):
        self.path, self.timezone, self.block_bytes = path, timezone, block_bytes
        self.quarantine = pd.DataFrame(columns=QUARANTINE_COLUMNS)

    def __iter__(self):
        with open(self.path, "rb") as handle:
            first = handle.readline().decode("utf-8", errors="replace")
        if not first:
            return  # an empty file has no rows
        head = next(csv.reader([first]), [])
        width = len(head)
        if not 16 <= width <= 18:
            raise CloserLook(f"{width} fields in the first line")
        has_header = _is_cdr_header(head)
        if has_header and [h.strip().lower() for h in head] != CDR_NAMES[:width]:
            raise CloserLook("columns in another order: the careful reader maps them by name")
        problems: list = []
        bad_times: list[pd.DataFrame] = []
        line = 1 + int(has_header)
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(column_names=CDR_NAMES[:width], skip_rows=int(has_header),
                                               block_size=self.block_bytes),
                parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: problems.append(row) or "skip"),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in CDR_NAMES[:width]},
                                                     strings_can_be_null=False,
                                                     include_columns=[n for n in CDR_USED if n in CDR_NAMES[:width]]),
            )
            for batch in reader:
                if problems:
                    raise CloserLook(f"{len(problems)} lines without a CDR's fields")
                frame = batch.to_pandas()
                for name in CDR_USED:
                    if name not in frame:
                        frame[name] = ""
                frame.insert(0, "line", np.arange(line, line + len(frame)))
                line += len(frame)
                rows, bad = _local_times(frame[["line", *CDR_USED]].assign(file=str(self.path)), self.timezone)
                bad_times.append(bad)
                yield rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise CloserLook(str(exc)) from None
        if problems:
            raise CloserLook(f"{len(problems)} lines without a CDR's fields")
        bad = pd.concat(bad_times, ignore_index=True) if bad_times else pd.DataFrame(columns=["line"])
        if len(bad):
            texts = _line_texts(self.path, set(bad.line.astype(int)))
            self.quarantine = pd.DataFrame({"file": str(self.path), "line": bad.line.astype(int).to_numpy(),
                                            "raw": [texts.get(int(n), "") for n in bad.line],
                                            "reason": BAD_CDR_TIME})[QUARANTINE_COLUMNS]


BAD_CDR_TIME = "start or end is not a local time (YYYY-MM-DD HH:MM:SS)"


def _line_texts(path: Path, numbers: set[int]) -> dict[int, str]:
    """The text of the given lines (1-based), read in one pass without holding the file."""
    texts = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number in numbers:
                texts[number] = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if len(texts) == len(numbers):
                    break
    return texts


def read_cdr_closely(path: Path, timezone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Line by line: a header in another order is mapped by name, a line without a CDR's fields is quarantined."""
    lines, bad = _lines(path)
    rows, quarantine = [], []
    order = None
    for number, text in enumerate(lines, start=1):
        if number == 1 and _is_cdr_header(header := next(csv.reader([text]), [])):
            header = [h.strip().lower() for h in header]
            order = [header.index(n) if n in header else None for n in CDR_NAMES]
            continue
        if number in bad:
            quarantine.append((str(path), number, text, bad[number]))
            continue
        try:
            fields = next(csv.reader([text]), [])
        except csv.Error as exc:
            quarantine.append((str(path), number, text, f"not a CSV row ({exc})"))
            continue
        if len(fields) < 16:
            quarantine.append((str(path), number, text, f"has {len(fields)} fields, a CDR has 16-18"))
            continue
        if order is not None:
            fields = [fields[i] if i is not None and i < len(fields) else "" for i in order]
        rows.append([number, *fields[:18], *[""] * (18 - len(fields[:18]))])
    frame = pd.DataFrame(rows, columns=["line", *CDR_NAMES])[["line", *CDR_USED]].assign(file=str(path))
    good, bad_time = _local_times(frame, timezone)
    quarantine += [(str(path), int(n), lines[int(n) - 1], BAD_CDR_TIME) for n in bad_time.line]
    return good, pd.DataFrame(quarantine, columns=QUARANTINE_COLUMNS)


def _is_cdr_header(fields: list[str]) -> bool:
    """cdr_csv writes no header; a header row added by an export names the columns (src, dst, uniqueid, ...)."""
    names = {f.strip().lower() for f in fields}
    return {"src", "dst", "start"} <= names


def _local_times(frame: pd.DataFrame, timezone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Start, answer and end as UTC; returns (the rows, the rows whose start or end is not a local time)."""
    zone = ZoneInfo(timezone)
    for column in ("start", "answer", "end"):
        local = pd.to_datetime(frame[column].replace("", None), format="%Y-%m-%d %H:%M:%S", errors="coerce")
        frame[column] = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    bad_time = frame.start.isna() | frame.end.isna()
    return frame[~bad_time], frame[bad_time]


def ring_no_answer_seconds(log: QueueLog) -> pd.Series:
    """How long each RINGNOANSWER rang, in seconds (queue_log writes milliseconds); unreadable ones left out."""
    rna = pd.Series(log.fields[5])[np.asarray(log.fields[4] == "RINGNOANSWER", dtype=bool)]
    seconds = pd.to_numeric(rna, errors="coerce").dropna() / 1000.0
    return seconds[seconds > 0]


INSPECT_HINT = "run `cadet inspect --source asterisk ...` to see what the logs show"


def convention_warnings(log: QueueLog, legs: pd.DataFrame, settings: AsteriskIngestConfig) -> list[str]:
    """The configured conventions these logs never show, each with what they do show instead."""
    out = []
    event = pd.Series(log.fields[4])
    queues = sorted(set(legs.queue.dropna()))
    transferred = legs.end_event.isin(TRANSFER_EVENTS)
    if transferred.any() and not set(settings.tier2_queues) & set(queues):
        out.append(f"none of the tier-2 queues {settings.tier2_queues} appears in these logs (queues: {', '.join(queues)}), "
                   f"so no transfer counts as an escalation; {INSPECT_HINT}")
    targets = set(legs.loc[transferred, "transfer_target"].dropna())
    if targets and not set(settings.self_service_extensions) & targets:
        common = legs.loc[transferred, "transfer_target"].value_counts().head(3)
        out.append(f"no transfer goes to the self-service extensions {settings.self_service_extensions} (most frequent "
                   f"targets: {', '.join(f'{t} ({n})' for t, n in common.items())}); {INSPECT_HINT}")
    reasons = pd.Series(log.fields[5])[event.isin(["PAUSE", "PAUSEALL"]).to_numpy()]
    if len(reasons) and settings.wrapup_pause_reasons and not set(settings.wrapup_pause_reasons) & set(reasons):
        common = reasons.replace("", "(none)").value_counts().head(4)
        out.append(f"no pause has a wrap-up reason {settings.wrapup_pause_reasons} (reasons: "
                   f"{', '.join(f'{r} ({n})' for r, n in common.items())}), so wrap-up is not observable; {INSPECT_HINT}")
    ring = ring_no_answer_seconds(log)
    if len(ring) >= 20 and (ring < settings.ring_timeout_seconds - 1).mean() > 0.5:
        out.append(f"{(ring < settings.ring_timeout_seconds - 1).mean():.0%} of {len(ring):,} ring-no-answers rang less than "
                   f"the ring timeout of {settings.ring_timeout_seconds} s (median {ring.median():.0f} s), so they count as "
                   f"declines; is the queues' timeout shorter? {INSPECT_HINT}")
    return out


def kind_of_file(path: Path) -> str:
    """'queue_log', 'cdr', 'surveys' or 'canonical', by the file's name and first line."""
    with open(path, "rb") as handle:
        head = handle.readline().decode("utf-8", errors="replace")
    header = next(csv.reader([head]), []) if "|" not in head else []
    if is_queue_log(path) or (head.count("|") >= 4 and head.split("|")[0].strip().isdigit()) or is_db_export(header) \
            or looks_like_a_table_export(header):
        return "queue_log"
    if path.name.lower().startswith("master") or head.startswith('"",') or head.count('","') >= 12 or _is_cdr_header(header):
        return "cdr"
    if head.replace('"', "").strip().lower().startswith("call_id,score"):
        return "surveys"
    return "canonical"


CARRIED = "(carried over from an earlier ingest)"
CALLER_KEY = "caller_key:"  # an ENTERQUEUE's caller id, already pseudonymised
CARRY_COLUMNS = ["kind", "epoch", "callid", "queue", "agent", "event", "d1", "d2", "d3", "n_fields"]
STALE_CARRY_SECONDS = 86_400  # a carried call with no end a day after the newest event read never gets one
TRANSFER_SETTLE_SECONDS = 600  # a transferred caller re-enters a queue within seconds; ten minutes without: none


LANDED_LEGS = pa.schema([("call_id", pa.string()), ("call", pa.string()), ("entered", pa.int64()), ("started", pa.int64())])


def landed_legs(call_ids=(), entered=(), started=None) -> pa.Table:
    """Queued legs as later files look them up: the leg's call id, its call's (up to '#'), the Unix second it
    entered the queue and the one it started (from its CDR; empty where not known)."""
    ids = as_text(call_ids if isinstance(call_ids, pa.Array) else np.asarray(call_ids, dtype=object))
    starts = pa.nulls(len(ids), pa.int64()) if started is None else pa.array(started, pa.int64())
    return pa.table([ids, before_first(ids, "#").cast(pa.string()), pa.array(np.asarray(entered, dtype=np.int64)), starts],
                    schema=LANDED_LEGS)


@dataclass(frozen=True)
class AsteriskHistory:
    """What earlier ingests saw that this one's files may not show.

    `carried`: the events of calls and agent sessions still open when an
    ingest ended, and each agent's newest presence event ('seen'), so the next
    file continues them.  `landed`: the queued legs in the lake, so a
    Master.csv row for one of them is never taken for an IVR-only call and a
    file that starts mid-call does not quarantine a call already landed.

    Both are narrowed to the calls a work unit holds (`about`) before use, so
    a unit's cost follows the unit.  An ingest gives `look_up`, which reads
    them from the lake for those calls alone; `landed` and `known` given
    directly (a test, a reader used on its own) are held in memory instead.
    """

    carried: pd.DataFrame
    landed: pa.Table  # LANDED_LEGS rows in the order they landed (a leg landed again: its newest row counts)
    key: bytes
    reps: frozenset[str] = frozenset()  # rep ids the lake knows: a CDR from one is an outbound call, whatever the night
    wrapup_logged: bool = False  # the lake's calls have wrap-up times: the centre logs wrap-up pauses
    known: frozenset[str] | pa.Array | pa.ChunkedArray = frozenset()  # every call id the lake holds (queued or not)
    # Where the lake is read rather than held: given call ids and the Unix seconds their rows may lie in (None:
    # anywhere), the lake's LANDED_LEGS rows of those calls and the ids among them it holds (see `about`).
    look_up: Callable[[pa.Array | None, tuple[int, int] | None], tuple[pa.Table, pa.Array]] | None = None

    def about(self, calls: pa.Array | None, span: tuple[int, int] | None = None) -> AsteriskHistory:
        """Only what concerns `calls` (all of it with None), with `known` as one Arrow array of distinct ids.

        With `look_up`, what the lake holds about them is read for them alone
        (within `span`, the seconds their events and rows lie in), so a unit's
        lookups cost what the unit holds, not what the lake holds.
        """
        landed, known = self.landed, self.known_chunks()
        if calls is not None:
            landed = landed.filter(pc.is_in(landed["call"], value_set=calls))
            known = known.filter(pc.is_in(known, value_set=calls))
        if self.look_up is not None:
            stored, stored_ids = self.look_up(calls, span)
            landed = pa.concat_tables([stored.cast(LANDED_LEGS), landed])  # held rows landed after the lake's
            known = pa.chunked_array([stored_ids.cast(pa.string()), *known.chunks], type=pa.string())
        return dataclasses.replace(self, landed=landed, known=pc.unique(known), look_up=None)

    def known_chunks(self) -> pa.ChunkedArray:
        """`known` as Arrow chunks, whichever form it was given in."""
        known = self.known
        if isinstance(known, pa.ChunkedArray):
            return known
        return pa.chunked_array([known if isinstance(known, pa.Array) else as_text(sorted(known))], type=pa.string())

    def landed_started(self) -> pd.Series:
        """Leg call id -> the time its call started as the lake has it (its CDR's start, else its queue entry)."""
        newest = self.landed.filter(pc.is_valid(self.landed["started"]))
        started = pd.Series(newest["started"].to_numpy(), index=newest["call_id"].to_numpy(), dtype="int64")
        started = started[~started.index.duplicated(keep="last")]
        return pd.Series(_ts(started.to_numpy()).array, index=started.index)

    def landed_entered(self) -> pd.Series:
        """Leg call id -> Unix second it entered the queue."""
        entered = pd.Series(self.landed["entered"].to_numpy(), index=self.landed["call_id"].to_numpy(), dtype="int64")
        return entered[~entered.index.duplicated(keep="last")]

    def calls_landed(self) -> pa.Array:
        return pc.unique(self.landed["call"])


def read_asterisk(files: list[Path], settings: AsteriskIngestConfig, timezone: str) -> list[ReadResult]:
    """All of one center's Asterisk files together, since calls are rebuilt across them."""
    return read_asterisk_incremental(files, settings, timezone, None)[0]


def _carried_log(carried: pd.DataFrame) -> QueueLog:
    rows = carried[carried.kind.isin(["call", "presence"])].drop_duplicates(CARRY_COLUMNS[1:9])
    n = len(rows)
    fields = [rows.epoch.to_numpy(dtype=np.int64)] + [texts(rows[c].fillna("").to_numpy(dtype=object))
                                                      for c in ("callid", "queue", "agent", "event", "d1", "d2", "d3")]
    raw = texts(pc.binary_join_element_wise(pa.array(fields[0]).cast(pa.string()), *[as_text(f) for f in fields[1:]], "|"))
    origin = texts(rows["origin"].fillna(CARRIED).to_numpy(dtype=object)) if "origin" in rows else None
    return QueueLog(repeated_text(CARRIED, n), np.zeros(n, dtype=np.int64), raw, fields,
                    rows.n_fields.to_numpy(dtype=np.int64), origin)


def _seconds_spanned(log: QueueLog, cdrs: list[pd.DataFrame]) -> tuple[int, int] | None:
    """The first and last Unix second of the log's events and the CDRs' starts and ends (None: nothing timed)."""
    seconds = [log.fields[0]] + [pd.to_datetime(cdr[column], utc=True, errors="coerce").dropna().dt.as_unit("s")
                                 .astype("int64").to_numpy() for cdr in cdrs if len(cdr) for column in ("start", "end")]
    timed = np.concatenate([np.asarray(part, dtype=np.int64) for part in seconds])
    return (int(timed.min()), int(timed.max())) if len(timed) else None


def _pseudonymised_callers(log: QueueLog, key: bytes, extension_digits: int) -> QueueLog:
    """ENTERQUEUE's caller id (data2) and a dialler's dialled number (data1) as their keyed pseudonyms, so events
    carried over hold no number; a dialled extension (`extension_digits` digits or fewer) is no one's number."""
    from pipelines.privacy import pseudonymise

    fields = list(log.fields)
    for position, events in ((6, ["ENTERQUEUE"]), (5, list(DIALLER_EVENTS))):
        candidates = np.flatnonzero(in_values(fields[4], events))
        values = as_text(fields[position][candidates])
        chosen = pc.and_(pc.not_equal(values, ""), pc.invert(pc.starts_with(values, CALLER_KEY)))
        if position == 5:
            chosen = pc.and_(chosen, pc.greater(pc.utf8_length(pc.replace_substring_regex(values, r"\D", "")), extension_digits))
        picked = np.asarray(chosen.to_numpy(zero_copy_only=False), dtype=bool) if len(values) else np.zeros(0, dtype=bool)
        if picked.any():
            column = fields[position].copy()
            keys = pc.cast(pseudonymise(values.filter(pa.array(picked)), key), pa.string())
            column[candidates[picked]] = texts(pc.binary_join_element_wise(pa.scalar(CALLER_KEY), keys, ""))
            fields[position] = column
    return dataclasses.replace(log, fields=fields)


def _without_repeats(log: QueueLog) -> tuple[QueueLog, pd.Series]:
    """The same event twice (a duplicated line, overlapping rotated files, an event carried over) is one event.

    Returns the log with each event once (its first copy) and, per file, how many copies were left out.
    """
    frame = pd.DataFrame({str(i): f for i, f in enumerate(log.fields)})
    repeat = frame.duplicated(keep="first").to_numpy()
    if not repeat.any():
        return log, pd.Series(dtype=np.int64)
    keep = ~repeat
    dropped = pd.Series(log.file[repeat]).value_counts()
    origin = log.origin[keep] if log.origin is not None else None
    return QueueLog(log.file[keep], log.line[keep], log.raw[keep], [f[keep] for f in log.fields], log.n_fields[keep], origin), dropped


@dataclass
class AsteriskInputs:
    """One center's Asterisk files (or one work unit of them), read but not yet rebuilt into calls.

    A Master.csv frame may hold `context` rows: CDRs of calls that another
    unit answers for, given here only for the start times of legs that end here.
    """

    logs: list[tuple[Path, QueueLog, pd.DataFrame]] = field(default_factory=list)  # file, its lines, its bad lines
    cdrs: list[tuple[Path, pd.DataFrame, pd.DataFrame]] = field(default_factory=list)  # file, its rows, its bad rows
    surveys: list[Path] = field(default_factory=list)
    canonical: list[Path] = field(default_factory=list)
    unreadable: list[ReadResult] = field(default_factory=list)
    judge_conventions: bool = True  # say which configured conventions the logs never show (once per ingest)


def read_inputs(files: list[Path], timezone: str) -> AsteriskInputs:
    """Every file by its kind; an unreadable queue_log is reported and the others are still read."""
    inputs = AsteriskInputs()
    for path in files:
        kind = kind_of_file(path)
        if kind == "queue_log":
            try:
                log, bad = read_queue_log(path, timezone)
            except UnreadableFile as exc:  # this file is reported; the others still land
                inputs.unreadable.append(ReadResult(path, "calls", _empty_calls(), _empty_quarantine(), 0, problem=str(exc)))
                continue
            inputs.logs.append((path, log, bad))
        elif kind == "cdr":
            inputs.cdrs.append((path, *read_cdr(path, timezone)))
        elif kind == "surveys":
            inputs.surveys.append(path)
        else:
            inputs.canonical.append(path)
    return inputs


def read_asterisk_incremental(files: list[Path], settings: AsteriskIngestConfig, timezone: str,
                              history: AsteriskHistory | None) -> tuple[list[ReadResult], pd.DataFrame]:
    """`read_asterisk` continuing what earlier ingests left open; returns the results and what to carry on."""
    return rebuild_asterisk(read_inputs(files, timezone), settings, history)


def rebuild_asterisk(inputs: AsteriskInputs, settings: AsteriskIngestConfig,
                     history: AsteriskHistory | None) -> tuple[list[ReadResult], pd.DataFrame]:
    """Calls, offers and presence from what `inputs` hold and what earlier ingests left open.

    A call is rebuilt from every event the files and the carried-over events
    hold about it, never from one run's view: a call open when the last file
    ended lands when its end arrives; its events are held (skipped, with that
    reason) meanwhile, not quarantined.
    """
    results: list[ReadResult] = list(inputs.unreadable)
    logs = [log for _, log, _ in inputs.logs]
    qlog_quarantine = [bad for _, _, bad in inputs.logs]
    qlog_lines: dict[Path, int] = {}
    for path, log, bad in inputs.logs:
        qlog_lines[path] = qlog_lines.get(path, 0) + len(log.line) + len(bad)
    cdr_files = [(path, bad, int((~_context(cdr)).sum()) + len(bad)) for path, cdr, bad in inputs.cdrs]
    cdrs = [cdr for _, cdr, _ in inputs.cdrs]
    survey_files, canonical_files = inputs.surveys, inputs.canonical
    if not logs:
        problems = "; ".join(r.problem for r in results if r.problem)
        raise UnreadableFile("no readable queue_log among the files: an Asterisk ingest needs queue_log (or its database export)"
                             + (f" ({problems})" if problems else ""))

    carried = history.carried if history is not None else pd.DataFrame(columns=CARRY_COLUMNS)
    # carried events last: where a file holds them again (a queue_log re-read whole), the file's copy is the one kept
    log = concat_logs(logs + ([_carried_log(carried)] if len(carried) else []))
    if history is not None:
        log = _pseudonymised_callers(log, history.key, settings.internal_number_max_digits)
    log = with_rep_names(log, settings)
    log, repeats = _without_repeats(log)
    surveys = [read_canonical(path) for path in survey_files]
    if history is not None:  # every lookup in the lake is keyed by an id these files hold
        history = history.about(text_union(as_text(log.fields[1]), *[
            as_text(ids.astype(str).to_numpy()) for ids in [cdr.uniqueid for cdr in cdrs] + [s.good.call_id for s in surveys]]),
            None if any(len(s.good) for s in surveys) else _seconds_spanned(log, cdrs))
    landed = history.landed_entered() if history is not None else pd.Series(dtype=np.int64)
    landed_calls = history.calls_landed() if history is not None else as_text([])
    landed_ids = as_text(landed.index)
    legs, offers, orphan, open_lines, in_legs = _rebuild_calls(log, settings, _earlier_legs(log, landed))
    held = pd.Series(dtype=np.int64)
    carry_calls = np.array([], dtype=np.int64)
    still_open: set[str] = set()
    if history is not None:
        # a file that starts mid-call: the call landed from an earlier file; a call still open: held for the next
        already = member_of(orphan.callid, landed_calls)
        held = pd.concat([orphan.file[already], open_lines.file]).value_counts()
        orphan = orphan[~already]
        newest = int(log.fields[0].max()) if len(log.line) else 0  # a quiet night's empty queue_log: nothing is open
        stale = open_lines.callid.isin(set(open_lines.callid[open_lines.event.eq("ENTERQUEUE")
                                                              & (open_lines.epoch < newest - STALE_CARRY_SECONDS)]))
        still_open = set(open_lines.callid[~stale])
        open_lines = open_lines[stale]  # a day past the newest event without an end: it will not get one
    unfinished = _unfinished(log, orphan, open_lines)
    dialled, dialling = rebuild_dialler_calls(log, settings)
    not_dialled = dialling  # dialler lines that land nothing this run: open calls, ends of calls landed before
    open_dials: set[str] = set()
    if history is not None:
        # a dialler call still ringing is carried like a queue call; the end of one landed before, seen again
        # without its OUTDIAL, is held: the lake's row was built from both
        redialled = member_of(dialled.call_id, history.known) & ~member_of(dialled.call_id, as_text(log.fields[1][log.fields[4] == "OUTDIAL"]))
        again = in_values(log.fields[1], list(dialled.call_id[redialled])) & in_values(log.fields[4], list(DIALLER_EVENTS))
        dialled = dialled[~redialled]
        stale_dials = dialling.callid.isin(set(dialling.callid[dialling.epoch < newest - STALE_CARRY_SECONDS]))
        open_dials = set(dialling.callid[~stale_dials])
        not_dialled = pd.concat([dialling, pd.DataFrame({"file": log.file[again]})], ignore_index=True)
        held = pd.concat([held, dialling.file[~stale_dials].value_counts(), pd.Series(log.file[again]).value_counts()]
                         ).groupby(level=0).sum()
        dialling = dialling[stale_dials]
    dialling = dialling[QUARANTINE_COLUMNS]
    states, acw, open_sessions, in_acw = _rebuild_presence(log, settings)
    carry = pd.DataFrame(columns=CARRY_COLUMNS)
    if history is not None:
        carry_calls, unsettled = _calls_to_carry(log, legs, still_open, newest, in_acw)
        carry_calls = np.union1d(carry_calls, np.flatnonzero(in_values(log.fields[1], list(open_dials))
                                                             & in_values(log.fields[4], list(DIALLER_EVENTS))))
        carry = _carry(log, carry_calls, open_sessions, carried, history.key)
        # the lake's row of a call these files see only in part (an older file again) came from a fuller view
        partial = member_of(legs.call_id, unsettled & set(landed.index)).to_numpy()
        if partial.any():
            partial_lines = in_legs.file[np.isin(in_legs.leg_key.to_numpy(), legs.leg_key[partial].to_numpy())]
            held = pd.concat([held, partial_lines.value_counts()]).groupby(level=0).sum()
            legs = legs[~partial]
    legs = _with_wrapup(legs, acw, settings, history is not None and history.wrapup_logged)
    cdr = pd.concat(cdrs, ignore_index=True) if cdrs else pd.DataFrame(columns=["uniqueid", "start"])
    calls = _calls_frame(legs, cdr, history.landed_started() if history is not None else None)
    cdr = cdr[~_context(cdr)].drop(columns=["context"], errors="ignore")
    # Each queue_log file answers for the calls that entered the queue in it and for its own bad lines.
    quarantine = pd.concat(qlog_quarantine + [unfinished, dialling], ignore_index=True)
    # a carried call is this run's where it ended; one carried whole (rebuilt with what came after it): the first file's
    leg_file = np.where(legs.file.values == CARRIED, legs.end_file.values, legs.file.values)
    leg_file = np.where(leg_file == CARRIED, str(next(iter(qlog_lines))), leg_file)
    used = _lines_used(log, in_legs, legs, not_dialled)
    system = pd.Series(log.file[in_values(log.fields[4], list(SYSTEM_EVENTS))]).value_counts()
    for path, n_lines in qlog_lines.items():
        mine = pd.concat([calls[leg_file == str(path)], dialled[dialled.file == str(path)].drop(columns=["file"])],
                         ignore_index=True) if len(dialled) else calls[leg_file == str(path)].reset_index(drop=True)
        n_repeats, n_held, n_system = (int(counts.get(str(path), 0)) for counts in (repeats, held, system))
        reasons = [text for count, text in (
            (n_repeats, "the same events again (duplicated lines, or files that overlap)"),
            (n_held, "events of calls landed from an earlier file, or still open and held until their end is ingested"),
            (n_system, "queue events about no call or rep (QUEUESTART, CONFIGRELOAD, ...)"),
        ) if count]
        mine_quarantine = quarantine[quarantine.file == str(path)]
        n_used = int(used.get(str(path), 0))
        lost = n_lines - n_used - len(mine_quarantine) - n_repeats - n_held - n_system
        warnings = [f"{lost:,} lines of {path} were neither landed, quarantined nor skipped: a fault in cadet, "
                    "please report it with the run's log"] if lost else []
        results.append(ReadResult(path, "calls", mine, mine_quarantine, n_lines, skipped=n_repeats + n_held + n_system,
                                  skip_reason="; ".join(reasons) or None, lines_used=n_used, warnings=warnings))
    for path, count in _settled(log, in_legs, legs[~member_of(legs.call_id, landed_ids).to_numpy()], dialled).items():
        # held (skipped) by an earlier work unit of this ingest, landed now: the file's lines went into what lands
        mine_result = next((r for r in results if r.table == "calls" and str(r.file) == path), None)
        if mine_result is None:
            mine_result = ReadResult(Path(path), "calls", _empty_like(calls), _empty_quarantine(), 0, lines_used=0)
            results.append(mine_result)
        mine_result.skipped -= int(count)
        mine_result.lines_used = (mine_result.lines_used or 0) + int(count)
    first = next(iter(qlog_lines))
    results.append(ReadResult(first, "offers", offers, _empty_quarantine(), 0,
                              warnings=convention_warnings(log, legs, settings) if inputs.judge_conventions else []))
    results.append(ReadResult(first, "agent_states", states, _empty_quarantine(), 0))
    # a dialler's calls are in queue_log already: their CDRs would count them twice
    members = (distinct(log.fields[3]) | (history.reps if history is not None else set())) - {"", "NONE"}
    queued = text_union(as_text(log.fields[1][in_values(log.fields[4], list(CALL_EVENTS))]), landed_calls)
    dialler = distinct(log.fields[1][in_values(log.fields[4], list(DIALLER_EVENTS))])
    described = text_union(queued, dialler)  # calls queue_log describes: their CDR adds only the start time
    # A cumulative Master.csv holds calls before and after these queue_logs: a CDR is read with the queue_log
    # that covers its time (whose reps, queued calls and dialler calls tell what it is), never with another's.
    before = after = pd.Series(False, index=cdr.index)
    if history is not None and len(cdr):
        own = log.file != CARRIED
        start = pd.to_datetime(cdr.start, utc=True)
        queue_log_knows = member_of(cdr.uniqueid, described)
        if own.any():
            first, last = _ts([int(log.fields[0][own].min()), int(log.fields[0][own].max())])
            before = (start < first) & member_of(cdr.uniqueid, history.known)
            after = (start > last) & ~queue_log_knows
        else:  # a night whose queue_log is empty covers no time: each CDR was landed before, or waits for its queue_log
            before = member_of(cdr.uniqueid, history.known)
            after = ~before & ~queue_log_knows
    cdr_only = _cdr_calls(cdr[~member_of(cdr.uniqueid, dialler) & ~before & ~after], members, queued, settings) if len(cdr) else None
    for path, bad, n in cdr_files:
        mine = cdr_only[cdr_only["file"] == str(path)].drop(columns=["file"]) if cdr_only is not None else _empty_like(calls)
        here = (cdr["file"] == str(path)) & ~member_of(cdr.uniqueid, set(mine.call_id)) if len(cdr) else before
        by_rule = [(int((here & before).sum()), "calls an earlier run landed from the queue_log of their time"),
                   (int((here & after).sum()), "calls after the newest queue_log line: give Master.csv again with the "
                                               "queue_log that covers them"),
                   (int((here & ~before & ~after & member_of(cdr.uniqueid, described)).sum()),
                    "calls queue_log describes (their CDR adds only the start time)")]
        skipped = n - len(bad) - len(mine)
        other = skipped - sum(count for count, _ in by_rule)
        by_rule.append((other, "rows no call is built from (a rep calling the IVR, a second row of one call)"))
        results.append(ReadResult(path, "calls", mine.reset_index(drop=True), bad, n, skipped=skipped,
                                  skip_reason="; ".join(text for count, text in by_rule if count) or None))
    for answers in surveys:
        results.append(_surveys(answers, legs, landed.index, distinct(log.fields[1][carry_calls]) if len(carry_calls) else set(),
                                int(log.fields[0].max()) if history is not None and len(log.line) else None, landed_calls))
    for path in canonical_files:
        try:
            results.append(read_canonical(path))
        except UnreadableFile as exc:
            results.append(ReadResult(path, "calls", _empty_calls(), _empty_quarantine(), 0, problem=str(exc)))
    return results, carry


def _settled(log: QueueLog, in_legs: pd.DataFrame, legs: pd.DataFrame, dialled: pd.DataFrame) -> pd.Series:
    """Per file, the lines an earlier work unit of this ingest carried over (and counted as held) that land now.

    `legs`: the legs landing for the first time (a leg landed and carried, to settle its wrap-up or transfer,
    was counted where it first landed).
    """
    if log.origin is None:
        return pd.Series(dtype=np.int64)
    from_unit = (log.file == CARRIED) & (log.origin != CARRIED)
    in_landed = in_legs.index.to_numpy()[np.isin(in_legs.leg_key.to_numpy(), legs.leg_key.to_numpy())]
    dialler = np.flatnonzero(in_values(log.fields[4], list(DIALLER_EVENTS)) & in_values(log.fields[1], list(dialled.call_id)))
    positions = np.concatenate([in_landed, dialler])
    return pd.Series(log.origin[positions[from_unit[positions]]]).value_counts()


def _context(cdr: pd.DataFrame) -> np.ndarray:
    """Which CDR rows are another work unit's, here only for start times."""
    return cdr["context"].to_numpy(dtype=bool) if "context" in cdr else np.zeros(len(cdr), dtype=bool)


def _lines_used(log: QueueLog, in_legs: pd.DataFrame, legs: pd.DataFrame, dialling: pd.DataFrame) -> pd.Series:
    """Per file, the lines that went into what lands: a leg's call events, presence events, dialler events
    (but for `dialling`'s, which land nothing)."""
    call_lines = in_legs.file[np.isin(in_legs.leg_key.to_numpy(), legs.leg_key.to_numpy())]
    other = in_values(log.fields[4], list(PRESENCE_EVENTS | DIALLER_EVENTS))
    counted = pd.concat([call_lines, pd.Series(log.file[other])]).value_counts()
    open_dialling = dialling.file.value_counts() if len(dialling) else pd.Series(dtype=np.int64)
    return counted.sub(open_dialling, fill_value=0).astype(np.int64)


def _legs_of(legs: pd.Index, calls) -> tuple[pa.Array, np.ndarray]:
    """Each landed leg's call id (up to '#'), and which of the legs belong to `calls`."""
    of_call = before_first(legs, "#")
    found = pc.is_in(of_call, value_set=calls if isinstance(calls, pa.Array) else as_text(list(calls)))
    return of_call, np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _earlier_legs(log: QueueLog, landed: pd.Series) -> pd.Series:
    """Per callid, the landed legs that entered a queue before this log's first ENTERQUEUE of it."""
    if not len(landed):
        return pd.Series(dtype=np.int64)
    entering = log.fields[4] == "ENTERQUEUE"
    first = pd.Series(log.fields[0][entering]).groupby(log.fields[1][entering]).min()
    calls, mine = _legs_of(landed.index, first.index)
    earlier = pd.DataFrame({"callid": np.asarray(calls.filter(pa.array(mine)).to_pylist(), dtype=object),
                            "entered": landed.to_numpy()[mine]})
    before = earlier.entered.to_numpy() < earlier.callid.map(first).to_numpy()
    return earlier[before].groupby("callid").size()


def _calls_to_carry(log: QueueLog, legs: pd.DataFrame, still_open: set[str], newest: int,
                    in_acw: dict[str, int]) -> tuple[np.ndarray, set[str]]:
    """Log positions of every call event of the calls the next file continues, and the legs not settled yet.

    Carried: calls with a leg still open; calls whose last leg was transferred
    to a queue or colleague (in the last ten minutes) with no next leg yet, since the next leg numbers after it
    and the transfer's target is known only then; and calls whose rep is still
    in the wrap-up that began when the call ended (or whose call ended in the
    log's last second).  Every leg of such a call
    is carried, so legs keep their numbers.
    """
    last = legs.sort_values("leg").drop_duplicates("callid", keep="last")
    transferred = last.end_event.isin(TRANSFER_EVENTS) & ~last.transfer_kind.eq("self_service") \
        & (last.ended_at >= newest - TRANSFER_SETTLE_SECONDS)
    # in wrap-up at the end of the log, or ended in its last second (the wrap-up pause, logged that second, may be
    # the next file's first line)
    wrapping = legs.answered_at.notna() & ((legs.ended_at == legs.end_agent.map(in_acw)) | (legs.ended_at >= newest - 1))
    unsettled = set(last.call_id[transferred]) | set(legs.call_id[wrapping])
    callids = still_open | set(last.callid[transferred]) | set(legs.callid[wrapping])
    return np.flatnonzero(in_values(log.fields[1], list(callids)) & in_values(log.fields[4], list(CALL_EVENTS))), unsettled


def _carry(log: QueueLog, open_calls: np.ndarray, open_sessions: np.ndarray, before: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """What the next ingest continues: open calls' events, open sessions' events, and each agent's newest presence.

    A session is carried only when it is the agent's newest: re-ingesting an
    older file must not reopen a session a later file has closed.  A transfer
    to an outside number keeps only that number's pseudonym (caller ids are
    pseudonymised already).
    """
    from pipelines.privacy import mask_numbers

    def rows(positions: np.ndarray, kind: str) -> pd.DataFrame:
        names = ["epoch", "callid", "queue", "agent", "event", "d1", "d2", "d3"]
        frame = pd.DataFrame({n: log.fields[i][positions] for i, n in enumerate(names)})
        moved = frame.event.isin(TRANSFER_EVENTS)
        frame.loc[moved, "d1"] = frame.loc[moved, "d1"].map(lambda text: mask_numbers(text, key))
        return frame.assign(kind=kind, n_fields=log.n_fields[positions], origin=log.origins()[positions])[CARRY_COLUMNS + ["origin"]]

    presence = in_values(log.fields[4], list(PRESENCE_EVENTS))
    newest = pd.Series(log.fields[0][presence]).groupby(log.fields[3][presence]).max()
    earlier = before[before.kind == "seen"].set_index("agent").epoch.astype(np.int64) if len(before) else pd.Series(dtype=np.int64)
    seen = pd.concat([newest, earlier]).groupby(level=0).max()
    sessions = rows(open_sessions, "presence")
    last_event = sessions.groupby("agent").epoch.transform("max")
    sessions = sessions[last_event.to_numpy() >= sessions.agent.map(seen).to_numpy()]
    marks = pd.DataFrame({"kind": "seen", "agent": seen.index, "epoch": seen.to_numpy(dtype=np.int64), "n_fields": 0})
    return pd.concat([rows(open_calls, "call"), sessions, marks], ignore_index=True).reindex(columns=CARRY_COLUMNS + ["origin"])


def _empty_calls() -> pd.DataFrame:
    return _calls_frame(pd.DataFrame(columns=DIALLER_LEG_COLUMNS), pd.DataFrame())


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=QUARANTINE_COLUMNS)


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[0:0]


def _with_wrapup(legs: pd.DataFrame, acw: pd.DataFrame, settings: AsteriskIngestConfig, logged_before: bool = False) -> pd.DataFrame:
    """After-call work = an ACW pause that starts when the rep's call ends; empty when the center logs none.

    `logged_before`: earlier files showed wrap-up pauses, so a file without any (a quiet hour) means none, not unknown.
    """
    legs = legs.copy()
    if not settings.wrapup_pause_reasons or (acw.empty and not logged_before):
        legs["wrapup_seconds"] = pd.array([pd.NA] * len(legs), dtype="Int64")
        return legs
    acw = acw.assign(seconds=acw.end - acw.start).drop_duplicates(["rep_id", "start"])
    merged = legs.merge(acw, left_on=["end_agent", "ended_at"], right_on=["rep_id", "start"], how="left", suffixes=("", "_acw"))
    seconds = merged.seconds.where(merged.answered_at.notna())
    legs["wrapup_seconds"] = pd.array(np.where(merged.answered_at.notna(), seconds.fillna(0), np.nan), dtype="Float64").astype("Int64")
    return legs


def _calls_frame(legs: pd.DataFrame, cdr: pd.DataFrame, landed_started: pd.Series | None = None) -> pd.DataFrame:
    """Calls from legs.  A call starts when the PBX answered it (the CDR's start, IVR included; for a call landed
    before and landed again without its CDR, the start the lake has); a transferred leg when it re-entered a queue."""
    enqueued = pd.Series(_ts(legs.enqueued_at.values).array, index=legs.index)
    started = enqueued
    if len(cdr) or (landed_started is not None and len(landed_started)):
        starts = cdr.drop_duplicates("uniqueid").set_index("uniqueid").start if len(cdr) else pd.Series(dtype=object)
        from_cdr = pd.Series(pd.to_datetime(legs.callid.map(starts), utc=True).array, index=legs.index)
        if landed_started is not None and len(landed_started):
            from_cdr = from_cdr.fillna(pd.Series(legs.call_id.map(landed_started).array, index=legs.index))
        started = from_cdr.where(legs.leg == 1).fillna(enqueued)
    n = len(legs)
    return pd.DataFrame(
        {
            "call_id": legs.call_id.values,
            "parent_call_id": legs.parent_call_id.values,
            "channel": "voice",
            "direction": "inbound",
            "queue": legs.queue.values,
            "remote_number": legs.remote_number.values,
            "started_at": started.array,
            "enqueued_at": enqueued.array,
            "answered_at": _ts(legs.answered_at.values).array,
            "ended_at": _ts(legs.ended_at.values).array,
            "rep_id": legs.rep_id.values,
            "outcome": legs.outcome.values,
            "disconnected_by": legs.disconnected_by.values,
            "hold_seconds": pd.array([pd.NA] * n, dtype="Int64"),  # not observable from queue_log
            "hold_count": pd.array([pd.NA] * n, dtype="Int64"),
            "wrapup_seconds": legs.wrapup_seconds.values,
            "transfer_kind": legs.transfer_kind.values,
            "transfer_to": legs.transfer_to.values,
            "ended_on_hold": pd.array([pd.NA] * n, dtype="boolean"),
        }
    )


def _cdr_calls(cdr: pd.DataFrame, members: set[str], queued: pa.Array, settings: AsteriskIngestConfig) -> pd.DataFrame:
    """Calls only the CDR knows: reps dialling out, and inbound calls that never reached a queue.

    A rep dialling out is a CDR whose `src` is the extension of a queue member;
    a call queue_log names (`queued`) is no IVR-only call, whatever became of it.
    """
    agents = {}
    for name in sorted(members):
        agents.setdefault(interface_number(name) or name.split("/", 1)[-1], name)
    outbound = cdr[member_of(cdr.src, agents) & cdr.dcontext.ne("ivr-main")]
    ivr = cdr[~member_of(cdr.uniqueid, queued) & ~member_of(cdr.src, agents)]
    billsec = pd.to_numeric(cdr.billsec, errors="coerce")
    out = pd.DataFrame(
        {
            "call_id": outbound.uniqueid.values,
            "direction": "outbound",
            "remote_number": outbound.dst.values,
            "started_at": outbound.start.array,
            "answered_at": outbound.answer.array,
            "ended_at": outbound.end.array,
            "rep_id": outbound.src.map(agents).values,
            "outcome": np.where(outbound.disposition.eq("ANSWERED"), "answered", "abandoned"),
            "disconnected_by": None,
            "file": outbound.file.values,
        }
    )
    served = billsec.loc[ivr.index] > settings.ivr_self_service_min_seconds
    inbound = pd.DataFrame(
        {
            "call_id": ivr.uniqueid.values,
            "direction": "inbound",
            "remote_number": ivr.src.values,
            "started_at": ivr.start.array,
            "answered_at": pd.NaT,
            "ended_at": ivr.end.array,
            "rep_id": None,
            "outcome": np.where(served, "ivr_self_service", "ivr_abandoned"),
            "disconnected_by": np.where(served, "system", "caller"),
            "file": ivr.file.values,
        }
    )
    calls = pd.concat([out, inbound], ignore_index=True)
    calls["channel"] = "voice"
    for column in ("parent_call_id", "queue", "enqueued_at", "transfer_kind", "transfer_to"):
        calls[column] = None
    calls["enqueued_at"] = pd.NaT
    calls["hold_seconds"] = pd.array([pd.NA] * len(calls), dtype="Int64")
    calls["hold_count"] = pd.array([pd.NA] * len(calls), dtype="Int64")
    calls["wrapup_seconds"] = pd.array([pd.NA] * len(calls), dtype="Int64")
    calls["ended_on_hold"] = pd.array([pd.NA] * len(calls), dtype="boolean")
    return calls


def _surveys(result: ReadResult, legs: pd.DataFrame, landed: pd.Index | None = None, open_calls: set[str] = frozenset(),
             newest: int | None = None, landed_calls: pa.Array | frozenset[str] = frozenset()) -> ReadResult:
    """Survey answers keyed by uniqueid belong to the last leg of that call (in these files, or landed before).

    An answer waits (skipped, to be ingested again with the later file) when
    its call is not finished in these files, or not in them at all and
    answered after the newest event they hold (`newest`): its last leg is not
    known yet.
    """
    landed = landed if landed is not None else pd.Index([], dtype=object)
    known = text_union(set(legs.callid), landed_calls)
    later = result.good.surveyed_at.notna() & (result.good.surveyed_at > _ts([newest]).iloc[0]) if newest is not None else False
    waiting = member_of(result.good.call_id, open_calls) | (~member_of(result.good.call_id, known) & later)
    if waiting.any():
        result.good = result.good[~waiting].reset_index(drop=True)
        result.skipped += int(waiting.sum())
        result.skip_reason = "answers for calls not finished in these files (or in a later file): ingest the survey again with the file that ends them"
    _, asked = _legs_of(landed, set(result.good.call_id))
    earlier = pd.DataFrame({"call_id": pd.Series(sorted(landed[asked]), dtype=object)})
    parts = earlier.call_id.astype("string").str.split("#")
    earlier["callid"] = parts.str[0].astype(object)
    earlier["leg"] = pd.to_numeric(parts.str[1], errors="coerce").fillna(1).astype(np.int64)
    last_leg = pd.concat([earlier, legs[["callid", "leg", "call_id"]]]).sort_values("leg") \
        .drop_duplicates("callid", keep="last").set_index("callid").call_id
    result.good["call_id"] = result.good.call_id.map(last_leg).fillna(result.good.call_id)
    return result
