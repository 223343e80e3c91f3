"""What a run over new files does to what earlier runs landed: nothing lost, nothing doubled, nothing reverted."""

import csv
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import cli
from pipelines.cli import main as cli_main
from pipelines.lake import Lake
from pipelines.privacy import KEY_ENV
from simulator import SimulationConfig, simulate
from simulator.writers import write_amazon_connect, write_asterisk

KEY = "incremental-ingest-test-key"
TABLES = ("calls", "offers", "agent_states", "surveys", "schedules", "reps")


@pytest.fixture(autouse=True)
def one_key(monkeypatch):
    """Homes compared row for row pseudonymise callers with the same key."""
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture(scope="module")
def center():
    return simulate(SimulationConfig(), n_reps=10, n_days=3, seed=21, workers=1)


def ingest(home, source, *folders, settings_file=None):
    chosen = ["--config", str(settings_file)] if settings_file else []
    result = CliRunner().invoke(cli, [*chosen, "--home", str(home), "ingest", "--source", source, *map(str, folders), "--json"])
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


def _split_at(text: str, field: str, cut: str) -> tuple[str, str]:
    """JSON lines before and from `cut` (an ISO time) by one of their time fields."""
    early, late = [], []
    for line in text.splitlines(keepends=True):
        record = json.loads(line)
        value = record.get(field) or (record.get("CurrentAgentSnapshot") or {}).get(field)
        (early if pd.Timestamp(value) < pd.Timestamp(cut) else late).append(line)
    return "".join(early), "".join(late)


@pytest.fixture(scope="module")
def connect_nights(connect_exports, tmp_path_factory):
    """Two nights: each the agent events of that night and the records delivered by then."""
    newest, _, _ = connect_exports
    root = tmp_path_factory.mktemp("connect-nights")
    events = (newest / "agent_events.jsonl").read_text()
    times = sorted(pd.Timestamp(json.loads(line)["EventTimestamp"]) for line in events.splitlines())
    cut = times[len(times) // 2].isoformat()
    nights = []
    for night, (records, stream) in enumerate(zip(_split_at((newest / "contact_records.jsonl").read_text(), "LastUpdateTimestamp", cut),
                                                   _split_at(events, "EventTimestamp", cut))):
        folder = root / f"night{night}"
        shutil.copytree(newest, folder)
        (folder / "contact_records.jsonl").write_text(records)
        (folder / "agent_events.jsonl").write_text(stream)
        nights.append(folder)
    return nights


def _transferred_across(nights) -> set[str]:
    """Contacts whose next contact (the transfer's leg) was delivered the night after them."""
    first = [json.loads(line) for line in (nights[0] / "contact_records.jsonl").read_text().splitlines()]
    later = {json.loads(line)["ContactId"] for line in (nights[1] / "contact_records.jsonl").read_text().splitlines()}
    return {r["ContactId"] for r in first if r.get("NextContactId") in later}


def test_connect_in_two_runs_lands_what_one_run_lands(prefect_server, connect_exports, connect_nights, tmp_path):
    """A status or a ringing contact open at the cut, a miss whose record comes the next night, and a contact
    transferred just before the cut whose next contact's record comes the next night, all land as in one run;
    an older night again changes nothing."""
    assert _transferred_across(connect_nights), "the cut falls inside a transfer, so that case is tried"
    ingest(tmp_path / "once", "amazon-connect", connect_exports[0])
    for folder in connect_nights:
        ingest(tmp_path / "nightly", "amazon-connect", folder)
    assert_same_lake(tmp_path / "nightly", tmp_path / "once")
    ingest(tmp_path / "nightly", "amazon-connect", connect_nights[0])
    assert_same_lake(tmp_path / "nightly", tmp_path / "once")


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


@pytest.fixture(scope="module")
def asterisk_logs(center, tmp_path_factory):
    folder = tmp_path_factory.mktemp("asterisk") / "all"
    write_asterisk(center.tables, center.truth, folder, "UTC")
    (folder / "truth.json").unlink(missing_ok=True)
    return folder


def _asterisk_folder(source, target, queue_logs: dict[str, list[str]]):
    """`target` with the centre's cumulative Master.csv, surveys, roster and schedules, and the given queue_log files."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if not path.name.startswith("queue_log"):
            shutil.copy(path, target / path.name)
    for name, lines in queue_logs.items():
        (target / name).write_text("".join(lines))
    return target


def test_asterisk_in_two_runs_lands_what_one_run_lands(prefect_server, asterisk_logs, tmp_path):
    """The nightly case: yesterday's queue_log, then today's, the cumulative Master.csv beside each."""
    lines = (asterisk_logs / "queue_log").read_text().splitlines(keepends=True)
    ingest(tmp_path / "once", "asterisk", asterisk_logs)
    half = len(lines) // 2
    first = _asterisk_folder(asterisk_logs, tmp_path / "night1", {"queue_log": lines[:half]})
    second = _asterisk_folder(asterisk_logs, tmp_path / "night2", {"queue_log": lines[half:]})
    ingest(tmp_path / "nightly", "asterisk", first)
    ingest(tmp_path / "nightly", "asterisk", second)
    assert_same_lake(tmp_path / "nightly", tmp_path / "once")
    ingest(tmp_path / "nightly", "asterisk", first)  # an older file again changes nothing
    assert_same_lake(tmp_path / "nightly", tmp_path / "once")


def test_asterisk_nights_each_with_its_own_cdrs_land_what_one_run_lands(prefect_server, tmp_path):
    """A week of nights cut at midday (calls open across each cut), each with its queue_log and a Master.csv of
    the calls that ended in it or the night after (rotated, so never the whole week), no surveys: each night reads
    only the lake's days around its own, a call landed again the next night (to settle its wrap-up) keeps the start
    its CDR gave it, and the lake equals one run over the whole week."""
    week = simulate(SimulationConfig(), n_reps=6, n_days=8, seed=5, workers=1)
    whole = tmp_path / "whole"
    write_asterisk(week.tables, week.truth, whole, "UTC")
    for name in ("truth.json", "surveys.csv"):
        (whole / name).unlink(missing_ok=True)
    lines = (whole / "queue_log").read_text().splitlines(keepends=True)
    cdrs = (whole / "Master.csv").read_text().splitlines(keepends=True)
    first = dt.datetime.fromtimestamp(int(lines[0].split("|")[0]), dt.UTC).replace(hour=12, minute=0, second=0)
    cuts = [first + dt.timedelta(days=d) for d in (2, 4, 6)] + [dt.datetime.max.replace(tzinfo=dt.UTC)]
    ingest(tmp_path / "once", "asterisk", whole)

    def night_of(moment: dt.datetime) -> int:
        return next(n for n, cut in enumerate(cuts) if moment < cut)

    line_nights = [night_of(dt.datetime.fromtimestamp(int(line.split("|")[0]), dt.UTC)) for line in lines]
    cdr_nights = [night_of(dt.datetime.fromisoformat(next(csv.reader([row]))[11]).replace(tzinfo=dt.UTC)) for row in cdrs]
    for night in range(len(cuts)):
        folder = tmp_path / f"night{night}"
        folder.mkdir()
        for name in ("reps.csv", "schedules.csv"):
            shutil.copy(whole / name, folder / name)
        (folder / "queue_log").write_text("".join(line for line, n in zip(lines, line_nights) if n == night))
        (folder / "Master.csv").write_text("".join(row for row, n in zip(cdrs, cdr_nights) if n in (night, night + 1)))
        ingest(tmp_path / "nightly", "asterisk", folder)
    assert len(set(line_nights)) == len(cuts), "every night has its own lines"
    assert_same_lake(tmp_path / "nightly", tmp_path / "once")


def _file_counts(summary) -> dict[str, tuple]:
    return {Path(f["file"]).name: (f["read"], f["landed"], f["quarantined"], f["skipped"], f["landed_lines"])
            for f in summary["files"]}


def test_asterisk_read_in_work_units_lands_and_counts_what_one_read_does(prefect_server, asterisk_logs, tmp_path):
    """A queue_log larger than a work unit is read, rebuilt and landed a unit at a time: calls and sessions open
    at a cut, CDRs of calls in progress at a cut, surveys of calls in earlier units land as in one read, what is
    left open for the next night is the same, and each file's lines are counted as one read counts them."""
    lines = (asterisk_logs / "queue_log").read_text().count("\n")
    whole = ingest(tmp_path / "once", "asterisk", asterisk_logs)
    settings_file = tmp_path / "units.yaml"
    settings_file.write_text(f"ingest:\n  lines_per_unit: {lines // 7}\n")
    units = ingest(tmp_path / "units", "asterisk", asterisk_logs, settings_file=settings_file)
    assert whole["work_units"] == 1 and units["work_units"] >= 6, units["work_units"]
    assert_same_lake(tmp_path / "units", tmp_path / "once")
    carried = [Lake(home / "lake").read("asterisk_carry").to_pandas() for home in (tmp_path / "units", tmp_path / "once")]
    carried = [c.sort_values(list(c.columns)).reset_index(drop=True) for c in carried]
    pd.testing.assert_frame_equal(*carried)
    assert _file_counts(units) == _file_counts(whole)
    assert not list((tmp_path / "units" / "tmp").rglob("*.*")), "the Master.csv rows spilled for the units are gone"


def test_a_fault_in_one_work_unit_is_reported_and_stops_the_units_after_it(prefect_server, asterisk_logs, tmp_path, monkeypatch):
    """What the units before it landed stays (a later ingest of the same files completes it); the units after it,
    which would continue from a hole, are not read."""
    import pipelines.ingest as ingest_module

    lines = (asterisk_logs / "queue_log").read_text().count("\n")
    settings_file = tmp_path / "units.yaml"
    settings_file.write_text(f"ingest:\n  lines_per_unit: {lines // 4}\n")
    calls = []
    real = ingest_module.rebuild_asterisk

    def failing_second(inputs, settings, history):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a fault planted by the test")
        return real(inputs, settings, history)

    monkeypatch.setattr(ingest_module, "rebuild_asterisk", failing_second)
    summary = ingest(tmp_path / "home", "asterisk", asterisk_logs, settings_file=settings_file)
    assert len(calls) == 2
    fault = [f for f in summary["files"] if f["error"]]
    assert len(fault) == 1 and "a fault in cadet" in fault[0]["error"] and "planted" in fault[0]["error"]
    assert 0 < summary["landed"]
    assert not list((tmp_path / "home" / "tmp").rglob("*.*")), "what was spilled for the units not read is gone"
    monkeypatch.setattr(ingest_module, "rebuild_asterisk", real)
    ingest(tmp_path / "home", "asterisk", asterisk_logs, settings_file=settings_file)
    ingest(tmp_path / "once", "asterisk", asterisk_logs)
    assert_same_lake(tmp_path / "home", tmp_path / "once")


def test_a_file_a_work_unit_cannot_read_is_named_with_the_reason_not_a_traceback(prefect_server, asterisk_logs, tmp_path, monkeypatch):
    import pipelines.readers.asterisk_units as units_module

    lines = (asterisk_logs / "queue_log").read_text().count("\n")
    settings_file = tmp_path / "units.yaml"
    settings_file.write_text(f"ingest:\n  lines_per_unit: {lines // 4}\n")

    def unreadable(path, timezone):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(units_module, "CdrBlocks", unreadable)
    result = CliRunner().invoke(cli, ["--config", str(settings_file), "--home", str(tmp_path / "home"), "ingest",
                                      "--source", "asterisk", str(asterisk_logs), "--json"])
    assert result.exit_code == 1, result.output
    assert "cannot read it: Permission denied" in result.output and "Traceback" not in result.output


def test_a_full_home_while_work_units_spill_is_said_as_the_home_not_the_input(prefect_server, asterisk_logs, tmp_path, monkeypatch,
                                                                            capsys):
    """Master.csv rows dealt to the units are written under the home: a full disk there is the home's problem."""
    import errno

    import pipelines.readers.asterisk_units as units_module

    lines = (asterisk_logs / "queue_log").read_text().count("\n")
    settings_file = tmp_path / "units.yaml"
    settings_file.write_text(f"ingest:\n  lines_per_unit: {lines // 4}\n")

    def full_disk(path, timezone):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(units_module, "CdrBlocks", full_disk)
    home = tmp_path / "home"
    monkeypatch.setattr(sys, "argv", ["cadet", "--config", str(settings_file), "--home", str(home), "ingest", "--source",
                                      "asterisk", str(asterisk_logs)])
    with pytest.raises(SystemExit) as stopped:
        cli_main()
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert stopped.value.code == 6, said
    assert f"the disk holding {home} is full" in said and "cannot read it" not in said


def test_asterisk_duplicated_and_overlapping_lines_are_one_event(prefect_server, asterisk_logs, tmp_path):
    lines = (asterisk_logs / "queue_log").read_text().splitlines(keepends=True)
    ingest(tmp_path / "once", "asterisk", asterisk_logs)
    events = [line.split("|")[4] for line in lines]
    doubled = []
    for line, event in zip(lines, events):
        doubled.append(line)
        if event in ("ENTERQUEUE", "ADDMEMBER", "RINGNOANSWER", "CONNECT", "PAUSE") and hash(line) % 3 == 0:
            doubled.append(line)
    folder = _asterisk_folder(asterisk_logs, tmp_path / "doubled", {"queue_log": doubled})
    summary = ingest(tmp_path / "doubled-home", "asterisk", folder)
    assert_same_lake(tmp_path / "doubled-home", tmp_path / "once")
    queue_log = next(f for f in summary["files"] if f["file"].endswith("queue_log"))
    system = events.count("QUEUESTART")
    assert queue_log["skipped"] == len(doubled) - len(lines) + system, queue_log
    assert "the same events again" in queue_log["skipped_because"]
    assert queue_log["read"] == queue_log["landed_lines"] + queue_log["quarantined"] + queue_log["skipped"]
    cut, overlap = int(len(lines) * 0.6), int(len(lines) * 0.1)
    rotated = _asterisk_folder(asterisk_logs, tmp_path / "rotated", {"queue_log.1": lines[:cut], "queue_log": lines[cut - overlap:]})
    ingest(tmp_path / "rotated-home", "asterisk", rotated)
    assert_same_lake(tmp_path / "rotated-home", tmp_path / "once")


@pytest.fixture(scope="module")
def small_asterisk(tmp_path_factory, prefect_server):
    """A small centre's logs, and the home of one clean ingest of them (the reference every example is held to)."""
    center = simulate(SimulationConfig(), n_reps=6, n_days=2, seed=33, workers=1)
    folder = tmp_path_factory.mktemp("small") / "all"
    write_asterisk(center.tables, center.truth, folder, "UTC")
    (folder / "truth.json").unlink(missing_ok=True)
    reference = folder.parent / "once"
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, KEY)
        ingest(reference, "asterisk", folder)
    return folder, reference


@pytest.mark.minutes
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_any_split_duplication_reordering_or_overlap_lands_what_one_clean_run_lands(prefect_server, small_asterisk, data):
    """queue_log cut into nightly pieces at random points, each night re-reading up to 40 lines of the night
    before, lines duplicated and shuffled within a piece, each night's piece in two rotated files in either
    order, with the cumulative Master.csv and surveys, then a quiet night whose queue_log is empty: the lake
    equals one clean run over the whole log, and every line is landed, quarantined or skipped."""
    import random
    import tempfile
    from pathlib import Path

    logs, reference = small_asterisk
    lines = (logs / "queue_log").read_text().splitlines(keepends=True)
    cuts = sorted(data.draw(st.lists(st.integers(1, len(lines) - 1), min_size=1, max_size=3, unique=True), label="cuts"))
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        bounds = [0, *cuts, len(lines)]
        for night, (start, end) in enumerate(zip(bounds, bounds[1:])):
            piece = lines[start - rng.randint(0, min(start, 40)):end]
            piece = piece + [rng.choice(piece) for _ in range(rng.randint(0, len(piece) // 10))]
            rng.shuffle(piece)
            split = rng.randint(0, len(piece))  # two rotated files in one night, in either order
            files = {"queue_log.1": piece[:split], "queue_log": piece[split:]} if split else {"queue_log": piece}
            folder = _asterisk_folder(logs, scratch / f"night{night}", files)
            summary = ingest(scratch / "nightly", "asterisk", folder)
            for row in summary["files"]:  # queue_log by its lines; Master.csv, surveys, roster, schedules by rows
                used = row["landed_lines"] if row.get("landed_lines") is not None else row["landed"]
                assert used + row["quarantined"] + row["skipped"] == row["read"], row
            assert not [w for w in summary["warnings"] if "neither landed" in w], summary["warnings"]
        quiet = _asterisk_folder(logs, scratch / "quiet", {"queue_log": []})
        summary = ingest(scratch / "nightly", "asterisk", quiet)
        assert next(r for r in summary["files"] if Path(r["file"]).name == "queue_log")["read"] == 0
        assert_same_lake(scratch / "nightly", reference)
