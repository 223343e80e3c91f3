import datetime as dt

import pyarrow as pa
import pytest

from pipelines.lake import Lake


def _calls(ids, stamps):
    return pa.table({
        "call_id": pa.array(ids, pa.string()),
        "ended_at": pa.array(stamps, pa.timestamp("s", tz="UTC")),
    })


T = [dt.datetime(2026, 1, 5, 23, 59, 59, tzinfo=dt.UTC), dt.datetime(2026, 1, 6, 0, 0, 1, tzinfo=dt.UTC)]


def test_rows_land_in_their_utc_day(tmp_path):
    lake = Lake(tmp_path)
    written = lake.write("calls", _calls(["a", "b", "c"], [T[0], T[1], T[1]]), "ended_at")
    assert written == {dt.date(2026, 1, 5): 1, dt.date(2026, 1, 6): 2}
    assert lake.days("calls") == [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    assert sorted(lake.read("calls")["call_id"].to_pylist()) == ["a", "b", "c"]
    assert lake.read("calls", start=dt.date(2026, 1, 6))["call_id"].to_pylist() == ["b", "c"]


def test_rewriting_a_day_replaces_it_and_never_doubles_it(tmp_path):
    lake = Lake(tmp_path)
    rows = _calls(["a", "b"], [T[0], T[1]])
    lake.write("calls", rows, "ended_at")
    lake.write("calls", rows, "ended_at")
    assert lake.read("calls").num_rows == 2
    lake.write("calls", _calls(["b2"], [T[1]]), "ended_at")
    assert sorted(lake.read("calls")["call_id"].to_pylist()) == ["a", "b2"]


def test_a_write_killed_midway_leaves_the_old_day_visible_and_no_partial_file(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    lake.write("calls", _calls(["old"], [T[0]]), "ended_at")
    import pyarrow.parquet as pq

    real_write = pq.write_table

    def dies_halfway(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(pq, "write_table", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        lake.write("calls", _calls(["new"], [T[0]]), "ended_at")
    monkeypatch.setattr(pq, "write_table", real_write)
    assert lake.read("calls")["call_id"].to_pylist() == ["old"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "part.parquet"]


def test_rows_without_a_day_are_refused(tmp_path):
    with pytest.raises(ValueError, match="empty values"):
        Lake(tmp_path).write("calls", _calls(["a"], [None]), "ended_at")


def test_empty_lake_reads_as_empty(tmp_path):
    assert Lake(tmp_path).read("calls").num_rows == 0
    assert Lake(tmp_path).days("calls") == []


def test_upsert_replaces_same_keys_keeps_others_and_is_stable(tmp_path):
    lake = Lake(tmp_path)
    lake.upsert("calls", _calls(["b", "a"], [T[0], T[0]]), "ended_at", ["call_id"])
    first = (tmp_path / "calls" / "date=2026-01-05" / "part.parquet").read_bytes()
    lake.upsert("calls", _calls(["a", "b"], [T[0], T[0]]), "ended_at", ["call_id"])
    assert (tmp_path / "calls" / "date=2026-01-05" / "part.parquet").read_bytes() == first
    lake.upsert("calls", _calls(["c"], [T[0]]), "ended_at", ["call_id"])
    assert lake.read("calls")["call_id"].to_pylist() == ["a", "b", "c"]


def test_sub_second_timestamps_land_in_their_day_with_their_precision(tmp_path):
    """Amazon Connect writes milliseconds ('2024-01-08T07:00:28.062Z'); nanoseconds arrive from pandas."""
    lake = Lake(tmp_path)
    stamps = pa.array([1704697228062000000, 1704671999999999999], pa.timestamp("ns", tz="UTC"))
    rows = pa.table({"rep_id": ["a", "b"], "started_at": stamps})
    written = lake.upsert("agent_states", rows, "started_at", ["rep_id", "started_at"])
    assert written == {dt.date(2024, 1, 8): 1, dt.date(2024, 1, 7): 1}
    stored = lake.read("agent_states", start=dt.date(2024, 1, 8))
    assert stored["started_at"][0].as_py() == dt.datetime(2024, 1, 8, 7, 0, 28, 62000, tzinfo=dt.UTC)
    assert lake.upsert("agent_states", rows, "started_at", ["rep_id", "started_at"]) == written
    assert lake.read("agent_states").num_rows == 2, "re-landing the same rows replaces them"


@pytest.mark.parametrize("first_queue, then_queue", [([None], ["billing"]), (["billing"], [None])])
def test_a_column_empty_in_one_landing_takes_the_type_of_the_other(tmp_path, first_queue, then_queue):
    """Outbound calls alone have no queue (pandas types the empty column as numbers): queued calls still land beside them."""
    lake = Lake(tmp_path)
    for ids, queue in ((["out"], first_queue), (["in"], then_queue)):
        rows = _calls(ids, [T[0]]).append_column("queue", pa.array(queue, pa.float64() if queue == [None] else pa.string()))
        lake.upsert("calls", rows, "ended_at", ["call_id"])
    stored = lake.read("calls")
    assert stored.schema.field("queue").type == pa.string()
    assert dict(zip(stored["call_id"].to_pylist(), stored["queue"].to_pylist())) == dict(
        zip(["out", "in"], first_queue + then_queue))
