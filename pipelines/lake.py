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


class Lake:
    """A folder of day-partitioned Parquet tables."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def partition(self, table: str, day: dt.date) -> Path:
        return self.root / table / f"date={day.isoformat()}" / PART_FILE

    def days(self, table: str) -> list[dt.date]:
        folder = self.root / table
        if not folder.exists():
            return []
        found = []
        for child in folder.iterdir():
            if child.name.startswith("date=") and (child / PART_FILE).exists():
                found.append(dt.date.fromisoformat(child.name[len("date="):]))
        return sorted(found)

    def write(self, table: str, rows: pa.Table, time_column: str) -> dict[dt.date, int]:
        """Write `rows` split by the UTC day of `time_column`, replacing those days; returns rows per day."""
        if rows.num_rows == 0:
            return {}
        stamps = pc.cast(rows[time_column], pa.timestamp("s", tz="UTC"))
        if stamps.null_count:
            raise ValueError(f"{table}.{time_column} has {stamps.null_count} empty values; every row needs a day")
        day_numbers = np.floor_divide(np.asarray(pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False)), 86400)
        written: dict[dt.date, int] = {}
        order = np.argsort(day_numbers, kind="stable")
        sorted_days = day_numbers[order]
        bounds = np.flatnonzero(np.diff(sorted_days)) + 1
        for chunk in np.split(order, bounds):
            day = dt.date(1970, 1, 1) + dt.timedelta(days=int(day_numbers[chunk[0]]))
            part = rows.take(pa.array(chunk))
            with atomic_path(self.partition(table, day)) as tmp:
                pq.write_table(part, tmp, compression="zstd")
            written[day] = part.num_rows
        return written

    def read(self, table: str, start: dt.date | None = None, end: dt.date | None = None) -> pa.Table:
        """All rows of `table` for days in [start, end] (inclusive); an empty table when there are none."""
        paths = [self.partition(table, d) for d in self.days(table) if (start is None or d >= start) and (end is None or d <= end)]
        if not paths:
            return pa.table({})
        return ds.dataset([str(p) for p in paths], format="parquet").to_table()
