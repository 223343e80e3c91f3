"""pandera contracts for cadet's tables (docs/data-model.md), as `DataFrameModel` classes.

The input tables (`Calls`, `Offers`, ...): readers parse raw files into these
shapes, and every stage after them may rely on them.  Validation is lazy, so
one pass reports every failing row and field, which is what the quarantine
needs.  The derived tables (`RepDaySums`, ...) are held where a stage hands
them on.
"""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import DateTime, Series

from models.combine import TIERS
from models.rule_specs import SEVERITIES

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


EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")  # before any contact-centre log (public logs from 1999 exist)
FUTURE_SLACK = pd.Timedelta(days=2)  # clocks and time zones: a log may run a little ahead, not years


def latest_plausible() -> pd.Timestamp:
    """The latest time a log line may carry: later is a clock or logging error, never a call."""
    return pd.Timestamp.now(tz="UTC") + FUTURE_SLACK


PLAUSIBLE_ERROR = f"not a plausible time (before {EARLIEST.year} or in the future)"


def _plausible(series: pd.Series) -> pd.Series:
    return series.isna() | ((series >= EARLIEST) & (series <= latest_plausible()))


def _in_order(df: pd.DataFrame, later: str, earlier: str) -> pd.Series:
    return df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier])


def _not_too_long(df: pd.DataFrame, end: str, start: str) -> pd.Series:
    return df[end].isna() | df[start].isna() | ((df[end] - df[start]).dt.total_seconds() <= MAX_CALL_SECONDS)


TOO_LONG = f"longer than {MAX_CALL_SECONDS // 3600} h"


def _plausible_times(*columns: str) -> Any:
    """A model's check that each of `columns` holds a plausible time."""
    return pa.check(*columns, name="plausible_time", error=PLAUSIBLE_ERROR)(lambda cls, series: _plausible(series))


def _after(later: str, earlier: str) -> Any:
    """A model's check across columns: `later` is not before `earlier` (either may be empty)."""
    return pa.dataframe_check(name=f"{later}_after_{earlier}", error=f"{later} before {earlier}")(
        lambda cls, df: _in_order(df, later, earlier))


def _within_a_call(end: str, start: str) -> Any:
    """A model's check across columns: from `start` to `end` is no longer than a call can last."""
    return pa.dataframe_check(name=f"{start}_{end}_plausible", error=f"{start} to {end} {TOO_LONG}")(
        lambda cls, df: _not_too_long(df, end, start))
UTC = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]


def _text(nullable: bool = False, isin: list[str] | None = None) -> Any:
    return pa.Field(nullable=nullable, coerce=True, **({"isin": isin} if isin else {}))


def _seconds() -> Any:
    return pa.Field(ge=0, le=MAX_CALL_SECONDS, nullable=True, coerce=True)


def _ts(nullable: bool = False) -> Any:
    return pa.Field(nullable=nullable, coerce=True)


class Calls(pa.DataFrameModel):
    """`calls`: one row per call leg (an inbound call, an outbound call, each leg of a transfer)."""

    call_id: Series[pd.StringDtype] = _text()
    parent_call_id: Series[pd.StringDtype] = _text(nullable=True)
    channel: Series[pd.StringDtype] = _text(isin=CHANNELS)
    direction: Series[pd.StringDtype] = _text(isin=DIRECTIONS)
    queue: Series[pd.StringDtype] = _text(nullable=True)
    remote_number: Series[pd.StringDtype] = _text(nullable=True)
    started_at: Series[UTC] = _ts()
    enqueued_at: Series[UTC] = _ts(nullable=True)
    answered_at: Series[UTC] = _ts(nullable=True)
    ended_at: Series[UTC] = _ts()
    rep_id: Series[pd.StringDtype] = _text(nullable=True)
    outcome: Series[pd.StringDtype] = _text(isin=OUTCOMES)
    disconnected_by: Series[pd.StringDtype] = _text(nullable=True, isin=DISCONNECTED_BY)
    hold_seconds: Series[pd.Int64Dtype] = _seconds()
    hold_count: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True, coerce=True)
    wrapup_seconds: Series[pd.Int64Dtype] = _seconds()
    transfer_kind: Series[pd.StringDtype] = _text(nullable=True, isin=TRANSFER_KINDS)
    transfer_to: Series[pd.StringDtype] = _text(nullable=True)
    ended_on_hold: Series[pd.BooleanDtype] = pa.Field(nullable=True, coerce=True)
    updated_at: Series[UTC] = _ts(nullable=True)

    class Config:
        name = "calls"
        strict = False

    _plausible_time = _plausible_times("started_at", "enqueued_at", "answered_at", "ended_at", "updated_at")
    _ended_after_started = _after("ended_at", "started_at")
    _answered_after_queued = _after("answered_at", "enqueued_at")
    _ended_after_answered = _after("ended_at", "answered_at")
    _not_too_long = _within_a_call("ended_at", "started_at")


class Offers(pa.DataFrameModel):
    """`offers`: one row per call offered to a rep (rung at the rep's phone), with how it ended."""

    call_id: Series[pd.StringDtype] = _text()
    rep_id: Series[pd.StringDtype] = _text()
    offered_at: Series[UTC] = _ts()
    ring_seconds: Series[pd.Int64Dtype] = pa.Field(ge=0, le=3600, coerce=True)
    result: Series[pd.StringDtype] = _text(isin=OFFER_RESULTS)

    class Config:
        name = "offers"

    _plausible_time = _plausible_times("offered_at")


class AgentStates(pa.DataFrameModel):
    """`agent_states`: one row per interval a rep was logged in and available or paused (with the reason)."""

    rep_id: Series[pd.StringDtype] = _text()
    state: Series[pd.StringDtype] = _text(isin=AGENT_STATES)
    reason: Series[pd.StringDtype] = _text(nullable=True)
    started_at: Series[UTC] = _ts()
    ended_at: Series[UTC] = _ts()

    class Config:
        name = "agent_states"

    _plausible_time = _plausible_times("started_at", "ended_at")
    _ended_after_started = _after("ended_at", "started_at")
    _not_too_long = _within_a_call("ended_at", "started_at")


class Surveys(pa.DataFrameModel):
    """`surveys`: one post-call survey score (1-5) per call."""

    call_id: Series[pd.StringDtype] = _text()
    score: Series[pd.Int64Dtype] = pa.Field(in_range={"min_value": 1, "max_value": 5}, coerce=True)
    surveyed_at: Series[UTC] = _ts(nullable=True)
    updated_at: Series[UTC] = _ts(nullable=True)

    class Config:
        name = "surveys"

    _plausible_time = _plausible_times("surveyed_at", "updated_at")


class Schedules(pa.DataFrameModel):
    """`schedules`: what each rep was scheduled to do (shift, break, lunch, meeting, training) and when."""

    rep_id: Series[pd.StringDtype] = _text()
    activity: Series[pd.StringDtype] = _text(isin=ACTIVITIES)
    starts_at: Series[UTC] = _ts()
    ends_at: Series[UTC] = _ts()

    class Config:
        name = "schedules"

    _plausible_time = _plausible_times("starts_at", "ends_at")
    _ends_after_starts = _after("ends_at", "starts_at")


class Reps(pa.DataFrameModel):
    """`reps`: the roster, one row per rep (site, queues, hire date, contract)."""

    rep_id: Series[pd.StringDtype] = _text()
    site: Series[pd.StringDtype] = _text(nullable=True)
    primary_queue: Series[pd.StringDtype] = _text(nullable=True)
    queues: Series[pd.StringDtype] = _text(nullable=True)
    hired_on: Series[DateTime] = pa.Field(nullable=True, coerce=True)
    contract: Series[pd.StringDtype] = _text(nullable=True, isin=CONTRACTS)

    class Config:
        name = "reps"


INPUT_MODELS: tuple[type[pa.DataFrameModel], ...] = (Calls, Offers, AgentStates, Surveys, Schedules, Reps)
# The canonical tables by name (each model's own), in the order ingest lands them, as the schemas readers validate with.
SCHEMAS: dict[str, pa.DataFrameSchema] = {model.to_schema().name: model.to_schema() for model in INPUT_MODELS}

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
