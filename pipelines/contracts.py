"""pandera contracts for cadet's canonical tables (docs/data-model.md).

Readers parse raw files into these shapes; every stage after them may rely on
them.  Validation is lazy, so one pass reports every failing row and field,
which is what the quarantine needs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa

from models.combine import TIERS
from models.rules import SEVERITIES

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

# The canonical tables by name (each schema's own), in the order ingest lands them.
SCHEMAS: dict[str, pa.DataFrameSchema] = {s.name: s for s in (CALLS, OFFERS, AGENT_STATES_SCHEMA, SURVEYS, SCHEDULES, REPS)}

# What a column a file does not have at all means.  Empty usually says "not known" already; a
# transfer_kind left empty says "not transferred", so a file without the column says "unknown".
ABSENT_MEANS = {"calls": {"transfer_kind": "unknown"}}

# A record the platform re-delivers carries when it was last updated: the newest version is kept, whatever the
# order in which versions arrive (see pipelines.ingest).
VERSION_COLUMN = {"calls": "updated_at", "surveys": "updated_at"}

# The columns a file must have to be recognised as a table.
REQUIRED_COLUMNS = {name: [c for c, col in schema.columns.items() if not col.nullable] for name, schema in SCHEMAS.items()}


# ---------------------------------------------------------------------------------------------------------------
# Contracts of the derived tables, between the stages: features -> lake -> scoring -> report.  Each is checked
# where a stage hands its table on (see `check`), so a fault in cadet stops there, naming the rows, instead of
# reaching a report about a person.  Text and date columns are checked by value, not by dtype: the same column
# arrives as Python objects from a stage and as Arrow strings from the lake.

def _one_row_per_rep_and(df: pd.DataFrame, column: str) -> pd.Series:
    return ~df.duplicated(["rep_id", column])


class _PerRep(pa.DataFrameModel):
    """A derived table about reps: every row names its rep; other columns pass through unchecked."""

    rep_id: Any = pa.Field(nullable=False)

    class Config:
        strict = False


class RepDaySums(_PerRep):
    """`rep_day_features`: one row per rep and local day, every sum a count or a duration (never negative)."""

    day: Any = pa.Field(nullable=False)

    @pa.dataframe_check(error="one row per rep and day")
    def _one_row_per_rep_and_day(cls, df: pd.DataFrame) -> pd.Series:
        return _one_row_per_rep_and(df, "day")

    @pa.dataframe_check(error="a day sum is missing or negative (sums are counts and durations)")
    def _sums_are_counts_or_durations(cls, df: pd.DataFrame) -> pd.Series:
        from features.daily import SUM_COLUMNS

        if any(c not in df for c in SUM_COLUMNS):
            return pd.Series(False, index=df.index)
        counted = [c for c in SUM_COLUMNS if "log_ratio" not in c]  # a sum of log ratios has a sign
        return (df[counted].fillna(0) >= 0).all(axis=1)


class RepWindowFeatures(_PerRep):
    """`rep_window_features`: one row per rep and window; the window ends on or after it starts."""

    period_start: Any = pa.Field(nullable=False)
    period_end: Any = pa.Field(nullable=False)

    @pa.dataframe_check(error="one row per rep and window")
    def _one_row_per_rep_and_window(cls, df: pd.DataFrame) -> pd.Series:
        return _one_row_per_rep_and(df, "period_start")

    @pa.dataframe_check(error="period_end before period_start")
    def _window_in_order(cls, df: pd.DataFrame) -> pd.Series:
        return pd.Series(pd.to_datetime(df.period_end) >= pd.to_datetime(df.period_start), index=df.index)


class RuleHits(_PerRep):
    """`rule_hits`: each hit names its rep, window, rule, behaviour code and a known severity."""

    period_start: Any = pa.Field(nullable=False)
    rule_id: Any = pa.Field(nullable=False)
    code: Any = pa.Field(nullable=False)
    severity: Any = pa.Field(isin=[str(s) for s in SEVERITIES])


class Scores(_PerRep):
    """`scores.parquet`: one score in [0, 1] per rep and window (higher = more suspicious), and its tier."""

    period_start: Any = pa.Field(nullable=False)
    score: float = pa.Field(ge=0, le=1, nullable=False)
    anomaly_score: float = pa.Field(ge=0, le=1, nullable=True)
    tier: Any = pa.Field(isin=[str(t) for t in TIERS])

    @pa.dataframe_check(error="one score per rep and window")
    def _one_score_per_rep_and_window(cls, df: pd.DataFrame) -> pd.Series:
        return _one_row_per_rep_and(df, "period_start")


class StageContractBroken(RuntimeError):
    """A stage produced a table that breaks its contract: a fault in cadet, never in the input rows."""


def check(model: type[pa.DataFrameModel], frame: pd.DataFrame, stage: str) -> pd.DataFrame:
    """`frame` held to `model`, every failure collected (lazy), and handed on unchanged."""
    if frame.empty and not len(frame.columns):
        return frame
    try:
        model.validate(frame, lazy=True)
        return frame
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        rows = cases.groupby(cases["check"].astype(str))["index"].nunique().sort_values(ascending=False)
        said = "; ".join(f"{check}: {count} row(s)" if count else f"{check}: the whole column"
                         for check, count in rows.head(5).items())
        raise StageContractBroken(f"{stage} produced a {model.__name__} table that breaks its contract ({said}); "
                                  "a fault in cadet, not in the input rows: please report it with the run's log") from None
