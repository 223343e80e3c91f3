"""What a run over new files does to what earlier runs landed: nothing lost, nothing doubled, nothing reverted."""

import datetime as dt
import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.config import CadetConfig
from pipelines.lake import Lake
from pipelines.privacy import KEY_ENV
from pipelines.simulator import simulate
from pipelines.simulator.writers import write_amazon_connect

TABLES = ("calls", "offers", "agent_states", "surveys", "schedules", "reps")


@pytest.fixture(autouse=True)
def one_key(monkeypatch):
    """Homes compared row for row pseudonymise callers with the same key."""
    monkeypatch.setenv(KEY_ENV, "incremental-ingest-test-key")


@pytest.fixture(scope="module")
def center():
    return simulate(CadetConfig(), n_reps=10, n_days=3, seed=21, workers=1)


def ingest(home, source, *folders):
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", source, *map(str, folders), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def lake_tables(home) -> dict[str, pd.DataFrame]:
    lake = Lake(home / "lake")
    out = {}
    for name in TABLES:
        frame = lake.read(name).to_pandas()
        out[name] = frame.sort_values(list(frame.columns)[:3]).reset_index(drop=True) if len(frame) else frame
    return out


def assert_same_lake(home, expected_home):
    got, expected = lake_tables(home), lake_tables(expected_home)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], expected[name], check_like=True, obj=name)


def _older_versions(records: str) -> str:
    """Each contact as Amazon Connect delivered it before its last update: an hour earlier, before the survey."""
    lines = []
    for line in records.splitlines():
        record = json.loads(line)
        updated = dt.datetime.fromisoformat(record["LastUpdateTimestamp"].replace("Z", "+00:00"))
        record["LastUpdateTimestamp"] = (updated - dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        if record.get("Agent"):
            record["Agent"]["AfterContactWorkDuration"] = 999
        (record.get("Attributes") or {}).pop("csat", None)
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def connect_exports(center, tmp_path_factory):
    """The newest records in `newest/`, the same contacts' earlier versions (and the rest) in `redelivered/`."""
    root = tmp_path_factory.mktemp("connect")
    newest = root / "newest"
    write_amazon_connect(center.tables, center.truth, newest, seed=21)
    (newest / "truth.json").unlink(missing_ok=True)
    redelivered = root / "redelivered"
    shutil.copytree(newest, redelivered)
    (redelivered / "contact_records.jsonl").write_text(_older_versions((newest / "contact_records.jsonl").read_text()))
    both = root / "both"
    shutil.copytree(newest, both)
    (both / "zz_redelivered_records.jsonl").write_text((redelivered / "contact_records.jsonl").read_text())
    return newest, redelivered, both


def test_connect_older_redeliveries_in_a_later_run_change_nothing(prefect_server, connect_exports, tmp_path):
    newest, redelivered, _ = connect_exports
    ingest(tmp_path / "once", "amazon-connect", newest)
    ingest(tmp_path / "twice", "amazon-connect", newest)
    summary = ingest(tmp_path / "twice", "amazon-connect", redelivered)
    assert_same_lake(tmp_path / "twice", tmp_path / "once")
    records = next(f for f in summary["files"] if f["file"].endswith("contact_records.jsonl"))
    assert records["landed"] == 0 and records["skipped"] > 0, records


def test_connect_the_newest_version_wins_whatever_the_arrival_order(prefect_server, connect_exports, tmp_path):
    newest, redelivered, both = connect_exports
    ingest(tmp_path / "once", "amazon-connect", newest)
    ingest(tmp_path / "late", "amazon-connect", redelivered)
    ingest(tmp_path / "late", "amazon-connect", newest)  # the newer versions arrive last
    assert_same_lake(tmp_path / "late", tmp_path / "once")
    ingest(tmp_path / "together", "amazon-connect", both)  # both versions in one run: every contact lands once
    assert_same_lake(tmp_path / "together", tmp_path / "once")


def test_repeated_canonical_rows_land_once_and_are_counted(prefect_server, center, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    calls = center.tables["calls"].to_pandas().head(300)
    calls.to_csv(folder / "calls.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    once = ingest(tmp_path / "once", "canonical", folder)
    pd.concat([calls, calls.head(100)]).to_csv(folder / "calls.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    twice = ingest(tmp_path / "twice", "canonical", folder)
    assert_same_lake(tmp_path / "twice", tmp_path / "once")
    row = twice["files"][0]
    assert (row["read"], row["landed"], row["skipped"]) == (400, 300, 100), row
    assert once["files"][0]["skipped"] == 0
