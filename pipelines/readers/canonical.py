"""Read cadet's canonical CSV files: good rows typed, bad rows quarantined with a reason.

Nothing is lost: a row that cannot be used goes to the quarantine with its file,
line number, raw text and every reason it failed (field by field), and the rest
of the file still lands.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.contracts import ABSENT_MEANS, REQUIRED_COLUMNS, SCHEMAS, TS

_ZONED = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
QUARANTINE_COLUMNS = ["file", "line", "raw", "reason"]


class UnreadableFile(ValueError):
    """A file cadet cannot use at all; the message names the file and what to do."""


@dataclass
class ReadResult:
    file: Path
    table: str
    good: pd.DataFrame
    quarantine: pd.DataFrame
    lines_read: int
    problem: str | None = None  # the file could not be read at all: why, and what to do
    skipped: int = 0  # lines left out by rule, not by fault (a supervisor's monitoring), with the rule below
    skip_reason: str | None = None
    warnings: list[str] = field(default_factory=list)  # a configured convention the data never shows, and what it does show
    lines_used: int | None = None  # for event logs (queue_log): the lines that went into what landed

    @property
    def landed(self) -> int:
        return len(self.good)

    @property
    def quarantined(self) -> int:
        return len(self.quarantine)


def recognise(path: Path, header: list[str]) -> str:
    """Which canonical table a file holds: by its name (`calls.csv`), else by its columns."""
    stem = path.name.split(".")[0]
    if stem in SCHEMAS:
        return stem
    matches = [name for name, required in REQUIRED_COLUMNS.items() if set(required) <= set(header)]
    if len(matches) == 1:
        return matches[0]
    raise UnreadableFile(
        f"{path}: cannot tell which canonical table this is (columns {header}); "
        f"name it after the table ({', '.join(SCHEMAS)}).csv"
    )


def _header_and_lines(path: Path) -> tuple[list[str], list[bytes], bool]:
    """The header, the body lines, and whether the whole file is valid UTF-8."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if not lines:
        raise UnreadableFile(f"{path}: the file is empty; a canonical CSV starts with a header row")
    try:
        header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path}: line 1: the header row is not UTF-8 text ({exc})") from exc
    return header, lines[1:], utf8


def read_canonical_csv(path: Path | str) -> ReadResult:
    """Parse one canonical CSV file; see docs/data-model.md for the columns."""
    path = Path(path)
    header, body, utf8 = _header_and_lines(path)
    table = recognise(path, header)
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in header]
    if missing:
        raise UnreadableFile(f"{path}: line 1: the {table} table needs column(s) {missing}; see docs/data-model.md")

    problems: dict[int, list[str]] = {}
    frame = _csv_fast(path, header, body) if utf8 else None
    if frame is None:
        texts: list[str] = []
        lines: list[int] = []
        for number, line in enumerate(body, start=2):
            try:
                texts.append(line.decode("utf-8"))
                lines.append(number)
            except UnicodeDecodeError as exc:
                problems[number] = [f"not UTF-8 text at byte {exc.start}"]
        rows = _split_rows(header, texts, lines, problems)
        frame = pd.DataFrame(rows, columns=header, dtype="string")
        frame.index = pd.Index([n for n in lines if n not in problems], name="line")
    parsed = _parse_columns(frame, table, problems)
    return _checked(path, table, parsed, problems, lambda n: body[n - 2].decode("utf-8", errors="backslashreplace"), len(body))


def read_canonical_parquet(path: Path | str) -> ReadResult:
    """Read one canonical Parquet file; 'line' in the quarantine is the 1-based row number."""
    path = Path(path)
    try:
        arrow = pq.read_table(path)
    except (OSError, pa_arrow.ArrowInvalid) as exc:
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from exc
    table = recognise(path, arrow.column_names)
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in arrow.column_names]
    if missing:
        raise UnreadableFile(f"{path}: the {table} table needs column(s) {missing}; see docs/data-model.md")
    naive = [f.name for f in arrow.schema if pa_arrow.types.is_timestamp(f.type) and f.type.tz is None]
    if naive:
        raise UnreadableFile(
            f"{path}: timestamp column(s) {naive} have no time zone; write them as timestamp with tz='UTC'"
        )
    frame = arrow.to_pandas()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="line")
    for name, column in SCHEMAS[table].columns.items():
        if name not in frame.columns:
            frame[name] = pd.Series(ABSENT_MEANS.get(table, {}).get(name, pd.NA), index=frame.index, dtype="string")
        elif str(column.dtype) == TS:
            frame[name] = frame[name].dt.tz_convert("UTC")
    return _checked(path, table, frame, {}, lambda n: json.dumps({c: str(frame.at[n, c]) for c in frame.columns}), len(frame))


def read_canonical(path: Path | str) -> ReadResult:
    """A canonical file, CSV or Parquet by its suffix."""
    path = Path(path)
    return read_canonical_parquet(path) if path.suffix == ".parquet" else read_canonical_csv(path)


def _checked(path: Path, table: str, frame: pd.DataFrame, problems: dict[int, list[str]], raw_of, lines_read: int) -> ReadResult:
    """Validate against the contract; rows with any problem go to the quarantine with every reason."""
    schema = SCHEMAS[table]
    good = _validate(frame, schema, problems)
    good = good.drop(index=[n for n in problems if n in good.index])
    quarantine = pd.DataFrame(
        [(str(path), number, raw_of(number), "; ".join(reasons)) for number, reasons in sorted(problems.items())],
        columns=QUARANTINE_COLUMNS,
    )
    keep = [c for c in schema.columns if c in good.columns]
    return ReadResult(path, table, good[keep].reset_index(drop=True), quarantine, lines_read)


def _csv_fast(path: Path, header: list[str], body: list[bytes]) -> pd.DataFrame | None:
    """A well-formed file parsed by pyarrow in one go; None when a line needs the careful reader.

    Careful reading (line by line) is for files with blank lines, rows of the
    wrong width, broken quoting or bytes that are not UTF-8: there every line
    must be told apart to quarantine it with its number.
    """
    if any(not line for line in body):
        return None
    problems = []
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=header),
            parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: problems.append(row) or "skip"),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa_arrow.string() for name in header}, strings_can_be_null=True, null_values=[""]
            ),
        )
    except (pa_arrow.ArrowInvalid, UnicodeDecodeError):
        return None
    if problems or table.num_rows != len(body):
        return None
    frame = table.to_pandas(types_mapper=lambda _: pd.StringDtype())
    frame.index = pd.RangeIndex(2, len(body) + 2, name="line")
    return frame


def _split_rows(header, texts, lines, problems) -> list[list[str | None]]:
    """CSV-split each line on its own, so one broken line cannot swallow the next."""
    rows = []
    width = len(header)
    for number, text in zip(lines, texts):
        if '"' in text:
            try:
                fields = next(csv.reader([text]), [])
            except csv.Error as exc:
                problems.setdefault(number, []).append(f"not a CSV row ({exc})")
                continue
        else:
            fields = text.split(",") if text else []  # unquoted lines, the vast majority: no parser needed
        if len(fields) != width:
            problems.setdefault(number, []).append(f"has {len(fields)} fields, the header has {width}")
            continue
        rows.append([value if value != "" else None for value in fields])
    return rows


def _parse_columns(frame: pd.DataFrame, table: str, problems: dict[int, list[str]]) -> pd.DataFrame:
    """Turn text into the contract's types; a value that will not parse is a problem for its line."""
    schema = SCHEMAS[table]
    out = pd.DataFrame(index=frame.index)
    for name, column in schema.columns.items():
        if name not in frame.columns:
            out[name] = pd.Series(ABSENT_MEANS.get(table, {}).get(name, pd.NA), index=frame.index, dtype="string")
            continue
        text = frame[name]
        given = text.notna()
        if str(column.dtype) == TS:
            zoned = text.str.contains(_ZONED, na=False)
            values = pd.to_datetime(text.where(zoned), utc=True, format="ISO8601", errors="coerce")
            bad = given & values.isna()
            reason = f"{name}: not an ISO 8601 time with a zone (e.g. 2026-01-05T09:00:00Z)"
        elif str(column.dtype) in ("Int64", "int64"):
            values = pd.to_numeric(text, errors="coerce")
            bad = given & (values.isna() | (values % 1 != 0))
            values = values.where(~bad).astype("Int64")
            reason = f"{name}: not a whole number"
        elif str(column.dtype) == "boolean":
            lowered = text.str.lower()
            values = lowered.map({"true": True, "false": False, "1": True, "0": False}).astype("boolean")
            bad = given & values.isna()
            reason = f"{name}: not true/false"
        elif str(column.dtype).startswith("datetime64[ns]"):
            values = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
            bad = given & values.isna()
            reason = f"{name}: not a date (YYYY-MM-DD)"
        else:
            values = text
            bad = pd.Series(False, index=frame.index)
            reason = ""
        for number in frame.index[bad]:
            problems.setdefault(int(number), []).append(f"{reason}, got {text[number]!r}")
        out[name] = values
    return out


def _validate(frame: pd.DataFrame, schema: pa.DataFrameSchema, problems: dict[int, list[str]]) -> pd.DataFrame:
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        for _, case in cases.iterrows():
            if pd.isna(case["index"]):
                continue
            line = int(case["index"])
            reasons = problems.setdefault(line, [])
            check = str(case["check"])
            if case["schema_context"] == "DataFrameSchema":
                reason = check  # a rule across columns, e.g. "ended_at before started_at"
            else:
                column = str(case["column"])
                if any(r.startswith(f"{column}: ") for r in reasons):
                    continue  # already explained when the value was parsed
                if check == "not_nullable":
                    reason = f"{column}: required but empty"
                elif check.startswith("isin"):
                    reason = f"{column}: {case['failure_case']!r} is not one of the allowed values"
                else:
                    reason = f"{column}: fails {check} ({case['failure_case']!r})"
            if reason not in reasons:
                reasons.append(reason)
        return frame
