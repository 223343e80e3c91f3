"""The lake's catalog: every table cadet stores, with its key, the column that dates it, and its contract.

Ingest, features, scoring and the report all read the layout from here, so a
table's key or day column is declared once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandera.pandas as pa_schema
import pyarrow as pa

from pipelines import contracts


class Role(StrEnum):
    INPUT = "input"  # cadet's canonical tables, landed by ingest (docs/data-model.md)
    CARRY = "carry"  # what the next ingest of a platform continues (calls still open at the end of a file)
    BOOKKEEPING = "bookkeeping"  # what cadet records about its own runs
    DERIVED = "derived"  # computed from the inputs, one window at a time; replaced whole when recomputed


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake.

    `day_column` names the UTC day a row is filed under (None: one file for the
    whole table); `key` identifies a record, so landing it again replaces it;
    `model` is the pandera model its rows are held to (an input table's when
    it lands, a derived table's where a stage hands it on); `storage` the
    Arrow schema of a table cadet writes in one fixed shape.
    """

    name: str
    role: Role
    day_column: str | None
    key: tuple[str, ...] = ()
    model: type[pa_schema.DataFrameModel] | None = None
    storage: pa.Schema | None = None

    @property
    def key_columns(self) -> list[str]:
        return list(self.key)

    @property
    def contract(self) -> pa_schema.DataFrameSchema | None:
        """The model as the schema readers and ingest validate with (its columns, dtypes and checks)."""
        return self.model.to_schema() if self.model is not None else None


_US_UTC = pa.timestamp("us", tz="UTC")

CATALOG: dict[str, LakeTable] = {t.name: t for t in (
    LakeTable("calls", Role.INPUT, "started_at", ("call_id",), contracts.Calls),
    LakeTable("offers", Role.INPUT, "offered_at", ("call_id", "rep_id", "offered_at"), contracts.Offers),
    LakeTable("agent_states", Role.INPUT, "started_at", ("rep_id", "started_at"), contracts.AgentStates),
    LakeTable("surveys", Role.INPUT, "surveyed_at", ("call_id",), contracts.Surveys),
    LakeTable("schedules", Role.INPUT, "starts_at", ("rep_id", "activity", "starts_at"), contracts.Schedules),
    LakeTable("reps", Role.INPUT, None, ("rep_id",), contracts.Reps),
    LakeTable("asterisk_carry", Role.CARRY, None, storage=pa.schema(
        [("kind", pa.string()), ("epoch", pa.int64())]
        + [(c, pa.string()) for c in ("callid", "queue", "agent", "event", "d1", "d2", "d3")]
        + [("n_fields", pa.int64())])),
    LakeTable("connect_carry", Role.CARRY, None, storage=pa.schema(
        [("kind", pa.string()), ("rep_id", pa.string()), ("call_id", pa.string()), ("event_at", _US_UTC),
         ("event", pa.string()), ("status", pa.string()), ("status_type", pa.string()), ("since", _US_UTC),
         ("state", pa.string())])),
    LakeTable("ingest_runs", Role.BOOKKEEPING, None, ("file",), storage=pa.schema([
        ("file", pa.string()), ("source", pa.string()), ("table", pa.string()), ("read", pa.int64()),
        ("landed", pa.int64()), ("quarantined", pa.int64()), ("error", pa.string()), ("file_bytes", pa.int64()),
        ("file_modified_at", _US_UTC)])),
    LakeTable("rep_day_features", Role.DERIVED, "day", model=contracts.RepDaySums),
    LakeTable("call_evidence", Role.DERIVED, "day"),
    LakeTable("rep_window_features", Role.DERIVED, "period_start", model=contracts.RepWindowFeatures),
    LakeTable("rule_hits", Role.DERIVED, "period_start", model=contracts.RuleHits),
    LakeTable("rules_not_observable", Role.DERIVED, "period_start"),
)}


def tables_of(role: Role) -> tuple[str, ...]:
    """The names of the tables with that role, in the catalog's order (inputs: the order they land in)."""
    return tuple(name for name, table in CATALOG.items() if table.role is role)


INPUT_TABLES = tables_of(Role.INPUT)
DERIVED_TABLES = tables_of(Role.DERIVED)
