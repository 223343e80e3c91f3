"""The Parquet lake: one folder per table, one file per UTC day.

`<home>/lake/<table>/date=YYYY-MM-DD/part.parquet`.  A run that writes a day
replaces that day's file whole (temp file, then rename), so re-running a day
never doubles it and a run killed mid-write leaves the old file or the new one,
never half of either.  Temporary files start with a dot, which readers skip.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.storage import atomic_path

PART_FILE = "part.parquet"


def _lake_schema(schema: pa.Schema) -> pa.Schema:
    """Timestamps are stored as microseconds in UTC whatever unit they arrive in."""
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC"), f.nullable) if pa.types.is_timestamp(f.type) else f
        for f in schema
    ]
    return pa.schema(fields)


def _last_per_key(rows: pa.Table, key: list[str]) -> pa.Table:
    """Rows sharing a key are one record: the last given wins (the caller ordered them)."""
    if rows.num_rows < 2:
        return rows
    numbered = rows.append_column("__row", pa.array(np.arange(rows.num_rows)))
    last = numbered.group_by(key, use_threads=False).aggregate([("__row", "max")])["__row_max"]
    if len(last) == rows.num_rows:
        return rows
    return rows.take(pc.sort_indices(last))


def _same_columns(stored: pa.Table, new: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A column one side lacks (a lake written before it existed) is empty there; an all-empty one takes the other's type."""
    def empty(table: pa.Table, name: str) -> bool:  # no values: typed by whatever pandas guessed (null, double)
        return table[name].null_count == table.num_rows

    for name in set(stored.column_names) & set(new.column_names):
        old_type, new_type = stored.schema.field(name).type, new.schema.field(name).type
        if old_type == new_type:
            continue
        if empty(stored, name) and not empty(new, name):
            stored = stored.set_column(stored.column_names.index(name), name, pa.nulls(stored.num_rows, new_type))
        elif empty(new, name):
            new = new.set_column(new.column_names.index(name), name, pa.nulls(new.num_rows, old_type))
    for name in new.column_names:
        if name not in stored.column_names:
            stored = stored.append_column(new.schema.field(name), pa.nulls(stored.num_rows, new.schema.field(name).type))
    for name in stored.column_names:
        if name not in new.column_names:
            new = new.append_column(stored.schema.field(name), pa.nulls(new.num_rows, stored.schema.field(name).type))
    return stored, new


class Lake:
    """A folder of day-partitioned Parquet tables."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def partition(self, table: str, day: dt.date | None) -> Path:
        """A day's file; a table without days (the roster) is one file."""
        if day is None:
            return self.root / table / PART_FILE
        return self.root / table / f"date={day.isoformat()}" / PART_FILE

    def days(self, table: str, start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
        """The days a table holds, from `start` to `end` when given (inclusive)."""
        folder = self.root / table
        if not folder.exists():
            return []
        found = []
        for child in folder.iterdir():
            if child.name.startswith("date=") and (child / PART_FILE).exists():
                day = dt.date.fromisoformat(child.name[len("date="):])
                if (start is None or day >= start) and (end is None or day <= end):
                    found.append(day)
        return sorted(found)

    def write(self, table: str, rows: pa.Table, time_column: str, replace_days: list[dt.date] | None = None) -> dict[dt.date, int]:
        """Write `rows` split by the UTC day of `time_column`, replacing those days; returns rows per day.

        Days listed in `replace_days` that get no rows are removed, so a re-run
        that finds nothing for a day (no rule hits any more) does not leave the
        old rows behind.
        """
        written = {}
        if rows.num_rows:
            written = {day: self._write_day(table, day, part) for day, part in self._split_by_day(table, rows, time_column)}
        for day in replace_days or []:
            if day not in written:
                self.partition(table, day).unlink(missing_ok=True)
        return written

    def _write_day(self, table: str, day: dt.date | None, part: pa.Table) -> int:
        part = part.cast(_lake_schema(part.schema), safe=False)  # sub-microsecond digits are not kept
        with atomic_path(self.partition(table, day)) as tmp:
            pq.write_table(part, tmp, compression="zstd")
        return part.num_rows

    @staticmethod
    def _split_by_day(table: str, rows: pa.Table, time_column: str | None):
        if time_column is None:
            yield None, rows
            return
        # Platforms write milliseconds (Amazon Connect) or finer: the day is the floor, whatever the unit.
        stamps = pc.cast(rows[time_column], pa.timestamp("us", tz="UTC"), safe=False)
        if stamps.null_count:
            raise ValueError(f"{table}.{time_column} has {stamps.null_count} empty values; every row needs a day")
        micros = np.asarray(pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False))
        day_numbers = np.floor_divide(micros, 86_400_000_000)
        order = np.argsort(day_numbers, kind="stable")
        bounds = np.flatnonzero(np.diff(day_numbers[order])) + 1
        for chunk in np.split(order, bounds):
            yield dt.date(1970, 1, 1) + dt.timedelta(days=int(day_numbers[chunk[0]])), rows.take(pa.array(chunk))

    def upsert(self, table: str, rows: pa.Table, time_column: str | None, key: list[str]) -> dict[dt.date | None, int]:
        """Merge `rows` into their days: a row replaces the stored row with the same key, others stay.

        Re-ingesting the same input therefore changes nothing, and a second file
        for a day already in the lake adds to it instead of wiping it.  Each day
        is written sorted by key, so equal content gives equal files.
        """
        if rows.num_rows == 0:
            return {}
        merged_days: dict[dt.date, int] = {}
        for day, part in self._split_by_day(table, rows, time_column):
            part = part.cast(_lake_schema(part.schema), safe=False)  # stored unit, so keys compare
            path = self.partition(table, day)
            part = _last_per_key(part, key)
            if path.exists():
                stored, part = _same_columns(pq.read_table(path), part)
                new_keys = pa.table([part[k] for k in key], names=key).append_column("__new", pa.array([True] * part.num_rows))
                stored_keys = pa.table([stored[k] for k in key], names=key).append_column("__row", pa.array(np.arange(stored.num_rows)))
                replaced = stored_keys.join(new_keys, keys=key, join_type="inner")["__row"]
                kept = stored.filter(pc.invert(pc.is_in(pa.array(np.arange(stored.num_rows)), value_set=replaced.combine_chunks())))
                part = pa.concat_tables([kept, part.select(stored.column_names).cast(stored.schema)])
            merged_days[day] = self._write_day(table, day, part.sort_by([(k, "ascending") for k in key]))
        return merged_days

    def read(self, table: str, start: dt.date | None = None, end: dt.date | None = None,
             columns: list[str] | None = None) -> pa.Table:
        """All rows of `table` for days in [start, end] (inclusive); an empty table when there are none.

        Asked for `columns`, the result has each of them, empty ones included, so
        a source that never wrote a table (no presence in a calls-only export)
        reads as "no rows" rather than as a missing column.
        """
        paths = [self.partition(table, d) for d in self.days(table) if (start is None or d >= start) and (end is None or d <= end)]
        if not paths and self.partition(table, None).exists():
            paths = [self.partition(table, None)]
        if not paths:
            return pa.table({c: pa.array([], pa.null()) for c in columns or []})
        dataset = ds.dataset([str(p) for p in paths], format="parquet")
        if columns is None:
            return dataset.to_table()
        found = dataset.to_table(columns=[c for c in columns if c in dataset.schema.names])
        for name in columns:
            if name not in found.column_names:
                found = found.append_column(name, pa.nulls(found.num_rows))
        return found.select(columns)
