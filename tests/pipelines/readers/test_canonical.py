"""Canonical CSV reader: good rows land typed, bad rows are quarantined with file, line and reason."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.readers.canonical import UnreadableFile, read_canonical_csv
from simulator import SimulationConfig, simulate
from simulator.writers import write_canonical

HEADER = (
    "call_id,parent_call_id,channel,direction,queue,remote_number,started_at,enqueued_at,answered_at,ended_at,"
    "rep_id,outcome,disconnected_by,hold_seconds,hold_count,wrapup_seconds,transfer_kind,transfer_to,ended_on_hold"
)
GOOD = (
    "c{n},,voice,inbound,general,+13125550100,2026-01-05T09:00:00Z,2026-01-05T09:00:30Z,2026-01-05T09:00:40Z,"
    "2026-01-05T09:05:00Z,agent1,answered,caller,10,1,30,,,false"
)


def _write(tmp_path, body: bytes, name="calls.csv"):
    path = tmp_path / name
    path.write_bytes(HEADER.encode() + b"\n" + body)
    return path


def test_each_kind_of_bad_row_is_quarantined_with_its_reason(tmp_path):
    path = _write(tmp_path, b"\n".join([
        GOOD.format(n=1).encode(),
        b"c2,,voice,inbound,general,+1312,2026-01-05 09:00:00,,,2026-01-05T09:05:00Z,,abandoned,caller,,,,,,",
        b"c3,,voice,inbound,general,+1312,2026-01-05T09:10:00Z,,,2026-01-05T09:05:00Z,,abandoned,caller,,,,,,",
        b"c4,,fax,inbound",
        b"c5,,voice,inbound,general,+1312,2026-01-05T09:10:00Z,,,2026-01-05T09:15:00Z,,hung_up,caller,-5,,,,,maybe",
        b"c6,,voice,inbound,general,+1312\xff,2026-01-05T09:10:00Z,,,2026-01-05T09:15:00Z,,abandoned,caller,,,,,,",
        b"c7,,voice,inbound,general,+1312,2026-01-05T09:10:00Z,,,2026-01-06T09:15:00Z,,abandoned,caller,,,,,,",
        b",,voice,inbound,general,+1312,2026-01-05T09:10:00Z,,,2026-01-05T09:15:00Z,,abandoned,caller,,,,,,",
    ]) + b"\n")
    result = read_canonical_csv(path)
    assert result.table == "calls" and result.lines_read == 8
    assert result.good.call_id.tolist() == ["c1"]
    reasons = dict(zip(result.quarantine.line, result.quarantine.reason))
    assert "started_at: not an ISO 8601 time with a zone" in reasons[3]
    assert reasons[4] == "ended_at before started_at"
    assert reasons[5] == "has 4 fields, the header has 19"
    assert "outcome: 'hung_up' is not one of the allowed values" in reasons[6]
    assert "hold_seconds" in reasons[6] and "ended_on_hold: not true/false" in reasons[6]
    assert reasons[7].startswith("not UTF-8")
    assert "longer than 12 h" in reasons[8]
    assert reasons[9] == "call_id: required but empty"
    assert (result.quarantine.file == str(path)).all()
    assert result.quarantine.raw[result.quarantine.line == 5].item() == "c4,,fax,inbound"


def test_times_no_call_can_have_are_quarantined_and_the_rest_land(tmp_path):
    path = _write(tmp_path, b"\n".join([
        GOOD.format(n=1).encode(),
        GOOD.format(n=2).replace("2026-01-05T09:00:00Z", "1677-09-22T00:00:00Z", 1).encode(),  # call length would overflow
        GOOD.format(n=3).replace("2026-01-05T09:05:00Z", "2230-01-05T09:05:00Z").encode(),
    ]) + b"\n")
    result = read_canonical_csv(path)
    assert result.good.call_id.tolist() == ["c1"]
    reasons = dict(zip(result.quarantine.line, result.quarantine.reason))
    assert "not a plausible time" in reasons[3] and "not a plausible time" in reasons[4]


def test_good_rows_are_typed(tmp_path):
    result = read_canonical_csv(_write(tmp_path, (GOOD.format(n=1) + "\n").encode()))
    row = result.good.iloc[0]
    assert row.started_at == pd.Timestamp("2026-01-05T09:00:00Z")
    assert row.hold_seconds == 10 and row.ended_on_hold is False or row.ended_on_hold == False  # noqa: E712
    assert pd.isna(row.parent_call_id)


def test_offsets_are_converted_to_utc(tmp_path):
    line = GOOD.format(n=1).replace("2026-01-05T09:00:00Z", "2026-01-05T03:00:00-06:00")
    result = read_canonical_csv(_write(tmp_path, (line + "\n").encode()))
    assert result.good.started_at.iloc[0] == pd.Timestamp("2026-01-05T09:00:00Z")


def test_simulated_canonical_files_land_whole(tmp_path):
    center = simulate(SimulationConfig(), n_reps=10, n_days=2, seed=4, workers=1)
    write_canonical(center.tables, tmp_path, "csv")
    for name, table in center.tables.items():
        result = read_canonical_csv(tmp_path / f"{name}.csv")
        assert result.table == name
        assert result.quarantined == 0, result.quarantine.head()
        assert result.landed == table.num_rows


def test_a_file_that_is_no_table_is_refused_with_advice(tmp_path):
    path = tmp_path / "mystery.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UnreadableFile, match="name it after the table"):
        read_canonical_csv(path)
    empty = tmp_path / "calls.csv"
    empty.write_text("")
    with pytest.raises(UnreadableFile, match="empty"):
        read_canonical_csv(empty)
    short = tmp_path / "offers.csv"
    short.write_text("call_id,rep_id\n")
    with pytest.raises(UnreadableFile, match="needs column"):
        read_canonical_csv(short)


garbage = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ") + b","),
    st.text(alphabet="abc,:-TZ0123456789 \"", max_size=120),
).map(lambda x: x if isinstance(x, bytes) else x.encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), garbage), min_size=1, max_size=25))
def test_random_garbage_never_crashes_and_every_line_is_accounted_for(tmp_path, lines):
    body = []
    good_ids = []
    for n, (is_good, junk) in enumerate(lines):
        if is_good:
            body.append(GOOD.format(n=n).encode())
            good_ids.append(f"c{n}")
        else:
            body.append(junk.replace(b"\n", b" ").replace(b"\r", b" "))
    path = _write(tmp_path, b"\n".join(body) + b"\n")
    result = read_canonical_csv(path)
    assert result.lines_read == len(body)
    assert set(good_ids) <= set(result.good.call_id)
    assert result.landed + result.quarantined == len(body)
    assert result.quarantine.reason.str.len().gt(0).all()


def test_parquet_files_land_whole_and_bad_rows_are_quarantined(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.readers.canonical import read_canonical

    center = simulate(SimulationConfig(), n_reps=8, n_days=2, seed=4, workers=1)
    write_canonical(center.tables, tmp_path, "parquet")
    for name, table in center.tables.items():
        result = read_canonical(tmp_path / f"{name}.parquet")
        assert (result.table, result.landed, result.quarantined) == (name, table.num_rows, 0)
    offers = center.tables["offers"].to_pylist()
    offers[1]["result"] = "ghosted"
    offers[2]["ring_seconds"] = -3
    pq.write_table(pa.Table.from_pylist(offers, schema=center.tables["offers"].schema), tmp_path / "offers.parquet")
    result = read_canonical(tmp_path / "offers.parquet")
    reasons = dict(zip(result.quarantine.line, result.quarantine.reason))
    assert set(reasons) == {2, 3}
    assert "'ghosted' is not one of the allowed values" in reasons[2] and "ring_seconds" in reasons[3]
    assert result.landed == len(offers) - 2


def test_parquet_without_time_zone_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.readers.canonical import read_canonical

    pq.write_table(pa.table({"call_id": ["c"], "score": [4], "surveyed_at": pa.array([0], pa.timestamp("s"))}), tmp_path / "surveys.parquet")
    with pytest.raises(UnreadableFile, match="no time zone"):
        read_canonical(tmp_path / "surveys.parquet")


def test_a_well_formed_file_with_bad_values_keeps_line_numbers(tmp_path):
    """The fast path (whole file parsed at once) must report the same lines as the careful one."""
    lines = [GOOD.format(n=n) for n in range(5)]
    lines[3] = lines[3].replace("answered,caller", "answered,robot")
    result = read_canonical_csv(_write(tmp_path, ("\n".join(lines) + "\n").encode()))
    assert result.quarantine.line.tolist() == [5]
    assert "disconnected_by: 'robot' is not one of the allowed values" in result.quarantine.reason.item()
    assert result.quarantine.raw.item() == lines[3]
    assert result.good.call_id.tolist() == ["c0", "c1", "c2", "c4"]


def test_a_calls_file_without_transfer_or_disconnect_columns_says_unknown_not_none(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("call_id,channel,direction,queue,remote_number,started_at,answered_at,ended_at,rep_id,outcome\n"
                    "c1,voice,inbound,general,+13125550100,2026-01-05T09:00:00Z,2026-01-05T09:00:20Z,2026-01-05T09:04:00Z,ann,answered\n")
    row = read_canonical_csv(path).good.iloc[0]
    assert row.transfer_kind == "unknown", "no column: whether it was transferred is not known"
    assert pd.isna(row.disconnected_by) and pd.isna(row.hold_seconds)
    given = tmp_path / "given" / "calls.csv"
    given.parent.mkdir()
    given.write_text(path.read_text().replace("outcome\n", "outcome,transfer_kind\n").replace("answered\n", "answered,\n"))
    assert pd.isna(read_canonical_csv(given).good.transfer_kind.iloc[0]), "an empty cell in the column: not transferred"
