"""`cadet ingest` end to end: a real Prefect flow into a real Parquet lake."""

import json
import re

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.lake import Lake
from simulator import SimulationConfig, simulate
from simulator.writers import write_amazon_connect, write_asterisk, write_canonical


@pytest.fixture(scope="module")
def center():
    return simulate(SimulationConfig(), n_reps=12, n_days=3, seed=8, workers=1)


@pytest.fixture
def exports(center, tmp_path):
    """Canonical files outside the home, as a user's export folder would be."""
    out = tmp_path / "exports"
    write_canonical(center.tables, out, "csv")
    return out


def _ingest(home, *args):
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", "canonical", *map(str, args), "--json"])
    last = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    return result, (json.loads(last) if last.startswith("{") else None)


def assert_no_caller_number_under(home, center):
    """Every file under the home, Parquet decoded, holds none of the input's caller numbers."""
    digits = {re.sub(r"\D", "", n) for n in center.tables["calls"]["remote_number"].to_pylist()}
    lengths = {len(d) for d in digits}
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str)
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        runs = re.findall(r"\d+", text)
        found = {run[i:i + n] for run in runs for n in lengths for i in range(len(run) - n + 1)} & digits
        assert not found, f"{path} holds caller numbers {sorted(found)[:3]}"


def _lake_tables(home):
    lake = Lake(home / "lake")
    return {name: lake.read(name) for name in ("calls", "offers", "agent_states", "surveys", "schedules", "reps")}


def test_everything_lands_with_pseudonyms_and_rerunning_changes_nothing(prefect_server, center, exports, tmp_path):
    home = tmp_path / "home"
    result, summary = _ingest(home, exports)
    assert result.exit_code == 0, result.output
    assert summary["quarantined"] == 0
    assert summary["landed"] == sum(t.num_rows for t in center.tables.values())
    tables = _lake_tables(home)
    for name, table in center.tables.items():
        assert tables[name].num_rows == table.num_rows, name
    calls = tables["calls"].to_pandas()
    assert "remote_number" not in calls.columns and calls.caller_key.notna().all()
    source = center.tables["calls"].to_pandas().set_index("call_id").remote_number
    same_caller = calls.groupby("caller_key").call_id.apply(lambda ids: source[list(ids)].nunique())
    assert (same_caller == 1).all(), "one pseudonym per number"
    assert calls.caller_key.nunique() == source.nunique()

    files_before = {p: p.read_bytes() for p in (home / "lake").rglob("*.parquet")}
    result, summary = _ingest(home, exports)
    assert result.exit_code == 0
    files_after = {p: p.read_bytes() for p in (home / "lake").rglob("*.parquet")}
    assert files_after == files_before, "re-ingesting the same files leaves the lake as it was"


def test_no_caller_number_appears_anywhere_under_home(prefect_server, center, exports, tmp_path):
    home = tmp_path / "home"
    calls_csv = exports / "calls.csv"
    lines = calls_csv.read_text().splitlines()
    broken = lines[1].replace("voice", "fax") + "\n" + lines[2].rsplit(",", 5)[0] + "\n"  # a bad enum, a short row
    calls_csv.write_text("\n".join(lines) + "\n" + broken)
    result, summary = _ingest(home, exports)
    assert result.exit_code == 0, result.output
    assert summary["quarantined"] == 2
    assert_no_caller_number_under(home, center)
    quarantine = pq.read_table(next((home / "quarantine").glob("calls.csv-*.parquet"))).to_pandas()
    assert set(quarantine.line) == {len(lines) + 1, len(lines) + 2}
    assert quarantine.raw.str.contains("caller:").all()
    assert quarantine.reason.str.contains("not one of the allowed values|fields, the header has").all()


def test_nothing_usable_exits_1_and_an_unknown_source_exits_2(prefect_server, tmp_path):
    junk = tmp_path / "calls.csv"
    junk.write_text("call_id,channel\nnot,a,table\n")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "ingest", "--source", "canonical", str(junk)])
    assert result.exit_code == 1
    assert "needs column" in result.output and "nothing usable" in result.output
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "ingest", "--source", "genesys", str(junk)])
    assert result.exit_code == 2 and "canonical" in result.output


def test_asterisk_logs_land_like_canonical_and_leave_no_number_behind(prefect_server, center, tmp_path):
    logs = tmp_path / "asterisk"
    write_asterisk(center.tables, center.truth, logs, "UTC")
    queue_log = logs / "queue_log"
    queue_log.write_text(queue_log.read_text() + "1767999999|9.9|general|NONE|ENTERQUEUE|broken\n")
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", "asterisk", str(logs), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["quarantined"] == 1
    tables = _lake_tables(home)
    for name in ("calls", "offers", "agent_states", "surveys", "schedules", "reps"):
        assert tables[name].num_rows == center.tables[name].num_rows, name
    calls = tables["calls"].to_pandas()
    assert calls.hold_seconds.isna().all(), "hold is not observable from queue_log"
    assert_no_caller_number_under(home, center)


def test_amazon_connect_exports_land_like_canonical(prefect_server, center, tmp_path):
    exports = tmp_path / "connect"
    write_amazon_connect(center.tables, center.truth, exports, seed=8)
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", "amazon-connect", str(exports), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["quarantined"] == 0
    tables = _lake_tables(home)
    for name in ("calls", "offers", "agent_states", "surveys", "schedules", "reps"):
        assert tables[name].num_rows == center.tables[name].num_rows, name
    calls = tables["calls"].to_pandas()
    inbound = calls[calls.direction == "inbound"]
    assert inbound.hold_seconds.sum() == center.tables["calls"].to_pandas().query("direction == 'inbound'").hold_seconds.sum()
    assert_no_caller_number_under(home, center)


def test_a_rebuilt_row_breaking_the_contract_is_quarantined_with_its_empty_fields(tmp_path):
    """An overnight agent session (longer than the 12-h limit) beside empty fields used to crash the whole ingest."""
    import pandas as pd

    from pipelines.ingest import enforce_contract
    from pipelines.readers.canonical import QUARANTINE_COLUMNS, ReadResult

    states = pd.DataFrame({
        "rep_id": ["Agent/1141", "Agent/1127"],
        "state": ["available", "available"],
        "reason": [None, float("nan")],
        "started_at": pd.to_datetime(["2018-11-30 12:59:30", "2018-11-30 12:29:50"], utc=True),
        "ended_at": pd.to_datetime(["2018-12-01 09:00:00", "2018-11-30 13:00:00"], utc=True),
    })
    checked = enforce_contract(ReadResult(tmp_path / "queue_log.csv", "agent_states", states, pd.DataFrame(columns=QUARANTINE_COLUMNS), 2))
    assert checked.good.rep_id.tolist() == ["Agent/1127"]
    assert len(checked.quarantine) == 1
    row = checked.quarantine.iloc[0]
    assert "rep_id=Agent/1141" in row.raw and "reason=," in row.raw, "an empty field renders empty, not as 'nan' or a crash"
    assert "longer than 12 h" in row.reason


def test_a_column_that_cannot_be_built_quarantines_the_table_instead_of_crashing(tmp_path):
    import pandas as pd

    from pipelines.ingest import enforce_contract
    from pipelines.readers.canonical import QUARANTINE_COLUMNS, ReadResult

    offers = pd.DataFrame({"call_id": ["c1"], "rep_id": ["r1"], "offered_at": pd.to_datetime(["2026-01-05T09:00:00Z"]),
                           "ring_seconds": [3]})  # no result column at all
    checked = enforce_contract(ReadResult(tmp_path / "x.json", "offers", offers, pd.DataFrame(columns=QUARANTINE_COLUMNS), 1))
    assert checked.good.empty and len(checked.quarantine) == 1
    assert "could not be built" in checked.quarantine.reason.iloc[0]


def test_the_work_units_use_arrows_returning_pool_unless_the_user_chose_one(monkeypatch):
    """jemalloc gives back between units what the wheels' default pool keeps; a pool named in the environment wins."""
    import pyarrow as pa

    from pipelines.ingest import ARROW_POOL_ENV, use_returning_memory_pool

    before = pa.default_memory_pool()
    try:
        monkeypatch.setenv(ARROW_POOL_ENV, "system")
        pa.set_memory_pool(pa.system_memory_pool())
        use_returning_memory_pool()
        assert pa.default_memory_pool().backend_name == "system"
        monkeypatch.delenv(ARROW_POOL_ENV)
        use_returning_memory_pool()
        try:
            pa.jemalloc_memory_pool()
        except NotImplementedError:
            pytest.skip("this pyarrow has no jemalloc: the default pool stays")
        assert pa.default_memory_pool().backend_name == "jemalloc"
    finally:
        pa.set_memory_pool(before)


def test_a_work_unit_reads_only_the_lake_days_around_its_own_and_finds_its_calls_there(tmp_path):
    """What the lake holds about a unit's calls is read for its ids from the days around its span, not held whole;
    with no span (a unit with surveys, which may answer for any day) every day is read."""
    import datetime as dt

    import pyarrow as pa

    from pipelines.ingest import landed_in_lake

    lake = Lake(tmp_path / "lake")
    day = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    stamps = [day, day + dt.timedelta(minutes=5), day, day + dt.timedelta(days=10)]
    lake.write("calls", pa.table({
        "call_id": ["1.1", "1.1#2", "2.2", "3.3"], "queue": ["sales", "support", None, "sales"],
        "started_at": pa.array(stamps, pa.timestamp("us", "UTC")), "enqueued_at": pa.array(stamps, pa.timestamp("us", "UTC")),
    }), "started_at")
    around = (int(day.timestamp()), int(day.timestamp()) + 3_600)
    landed, known = landed_in_lake(lake, pa.array(["1.1", "2.2", "3.3", "9.9"]), around)
    assert sorted(zip(landed["call_id"].to_pylist(), landed["entered"].to_pylist(), landed["started"].to_pylist())) == [
        ("1.1", int(day.timestamp()), int(day.timestamp())), ("1.1#2", int(day.timestamp()) + 300, int(day.timestamp()) + 300)]
    assert sorted(known.to_pylist()) == ["1.1", "1.1", "2.2"], "a call with no queue is known, not landed; 3.3 is days away"
    landed, known = landed_in_lake(lake, pa.array(["3.3"]), None)
    assert landed["call_id"].to_pylist() == ["3.3"] and known.to_pylist() == ["3.3"]
