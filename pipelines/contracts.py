"""pandera contracts for cadet's canonical tables (docs/data-model.md).

Readers parse raw files into these shapes; every stage after them may rely on
them.  Validation is lazy, so one pass reports every failing row and field,
which is what the quarantine needs.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

CHANNELS = ["voice", "chat", "email"]
DIRECTIONS = ["inbound", "outbound", "internal"]
OUTCOMES = ["answered", "abandoned", "ivr_self_service", "ivr_abandoned"]
DISCONNECTED_BY = ["caller", "agent", "transfer", "system"]
TRANSFER_KINDS = ["queue", "escalation", "self_service", "external", "unknown"]
OFFER_RESULTS = ["answered", "ring_no_answer", "declined", "caller_abandoned"]
AGENT_STATES = ["available", "paused"]
ACTIVITIES = ["shift", "break", "lunch", "meeting", "training"]
CONTRACTS = ["full_time", "part_time"]

MAX_CALL_SECONDS = 12 * 3600  # a leg longer than this is a logging error, not a call

TS = "datetime64[ns, UTC]"


def _text(nullable: bool = False, isin: list[str] | None = None) -> pa.Column:
    checks = [pa.Check.isin(isin)] if isin else []
    return pa.Column("string", checks=checks, nullable=nullable, coerce=True)


def _seconds() -> pa.Column:
    return pa.Column("Int64", checks=[pa.Check.ge(0), pa.Check.le(MAX_CALL_SECONDS)], nullable=True, coerce=True)


EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")  # before any contact-centre log (public logs from 1999 exist)
FUTURE_SLACK = pd.Timedelta(days=2)  # clocks and time zones: a log may run a little ahead, not years


def latest_plausible() -> pd.Timestamp:
    """The latest time a log line may carry: later is a clock or logging error, never a call."""
    return pd.Timestamp.now(tz="UTC") + FUTURE_SLACK


def _plausible() -> pa.Check:
    return pa.Check(lambda s: s.isna() | ((s >= EARLIEST) & (s <= latest_plausible())), element_wise=False,
                    error=f"not a plausible time (before {EARLIEST.year} or in the future)", name="plausible_time")


def _ts(nullable: bool = False) -> pa.Column:
    return pa.Column(TS, checks=[_plausible()], nullable=nullable, coerce=True)


def _ordered(later: str, earlier: str) -> pa.Check:
    return pa.Check(
        lambda df: df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier]),
        element_wise=False,
        error=f"{later} before {earlier}",
        name=f"{later}_after_{earlier}",
    )


def _not_too_long(end: str, start: str) -> pa.Check:
    return pa.Check(
        lambda df: df[end].isna() | df[start].isna() | ((df[end] - df[start]).dt.total_seconds() <= MAX_CALL_SECONDS),
        element_wise=False,
        error=f"{start} to {end} longer than {MAX_CALL_SECONDS // 3600} h",
        name=f"{start}_{end}_plausible",
    )


CALLS = pa.DataFrameSchema(
    {
        "call_id": _text(),
        "parent_call_id": _text(nullable=True),
        "channel": _text(isin=CHANNELS),
        "direction": _text(isin=DIRECTIONS),
        "queue": _text(nullable=True),
        "remote_number": _text(nullable=True),
        "started_at": _ts(),
        "enqueued_at": _ts(nullable=True),
        "answered_at": _ts(nullable=True),
        "ended_at": _ts(),
        "rep_id": _text(nullable=True),
        "outcome": _text(isin=OUTCOMES),
        "disconnected_by": _text(nullable=True, isin=DISCONNECTED_BY),
        "hold_seconds": _seconds(),
        "hold_count": pa.Column("Int64", checks=[pa.Check.ge(0)], nullable=True, coerce=True),
        "wrapup_seconds": _seconds(),
        "transfer_kind": _text(nullable=True, isin=TRANSFER_KINDS),
        "transfer_to": _text(nullable=True),
        "ended_on_hold": pa.Column("boolean", nullable=True, coerce=True),
        "updated_at": _ts(nullable=True),
    },
    checks=[
        _ordered("ended_at", "started_at"),
        _ordered("answered_at", "enqueued_at"),
        _ordered("ended_at", "answered_at"),
        _not_too_long("ended_at", "started_at"),
    ],
    strict=False,
    name="calls",
)

OFFERS = pa.DataFrameSchema(
    {
        "call_id": _text(),
        "rep_id": _text(),
        "offered_at": _ts(),
        "ring_seconds": pa.Column("Int64", checks=[pa.Check.ge(0), pa.Check.le(3600)], coerce=True),
        "result": _text(isin=OFFER_RESULTS),
    },
    name="offers",
)

AGENT_STATES_SCHEMA = pa.DataFrameSchema(
    {
        "rep_id": _text(),
        "state": _text(isin=AGENT_STATES),
        "reason": _text(nullable=True),
        "started_at": _ts(),
        "ended_at": _ts(),
    },
    checks=[_ordered("ended_at", "started_at"), _not_too_long("ended_at", "started_at")],
    name="agent_states",
)

SURVEYS = pa.DataFrameSchema(
    {
        "call_id": _text(),
        "score": pa.Column("Int64", checks=[pa.Check.between(1, 5)], coerce=True),
        "surveyed_at": _ts(nullable=True),
        "updated_at": _ts(nullable=True),
    },
    name="surveys",
)

SCHEDULES = pa.DataFrameSchema(
    {
        "rep_id": _text(),
        "activity": _text(isin=ACTIVITIES),
        "starts_at": _ts(),
        "ends_at": _ts(),
    },
    checks=[_ordered("ends_at", "starts_at")],
    name="schedules",
)

REPS = pa.DataFrameSchema(
    {
        "rep_id": _text(),
        "site": _text(nullable=True),
        "primary_queue": _text(nullable=True),
        "queues": _text(nullable=True),
        "hired_on": pa.Column("datetime64[ns]", nullable=True, coerce=True),
        "contract": _text(nullable=True, isin=CONTRACTS),
    },
    name="reps",
)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "calls": CALLS,
    "offers": OFFERS,
    "agent_states": AGENT_STATES_SCHEMA,
    "surveys": SURVEYS,
    "schedules": SCHEDULES,
    "reps": REPS,
}

# What a column a file does not have at all means.  Empty usually says "not known" already; a
# transfer_kind left empty says "not transferred", so a file without the column says "unknown".
ABSENT_MEANS = {"calls": {"transfer_kind": "unknown"}}

# A record the platform re-delivers carries when it was last updated: the newest version is kept, whatever the
# order in which versions arrive (see pipelines.ingest).
VERSION_COLUMN = {"calls": "updated_at", "surveys": "updated_at"}

# The columns a file must have to be recognised as a table.
REQUIRED_COLUMNS = {name: [c for c, col in schema.columns.items() if not col.nullable] for name, schema in SCHEMAS.items()}
