"""`cadet run`: ingest, features, a first model and scores in one Prefect flow, for every source."""

import datetime as dt
import json
from pathlib import Path

import mlflow
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.lake import Lake
from pipelines.run import windows_touched
from pipelines.tables import CATALOG
from pipelines.tracking import tracking_uri
from simulator import SimulationConfig, simulate
from simulator.writers import write_amazon_connect, write_asterisk, write_canonical

SCORE_COLUMNS = {"rep_id": "string", "period_start": "date32[day]", "period_end": "date32[day]", "score": "double",
                 "tier": "string", "behaviours": "list<element: string>", "anomaly_score": "double",
                 "rule_hits": "list<element: string>"}
FORMAT_IDS = {"canonical": "canonical", "asterisk": "asterisk", "amazon-connect": "amazon-connect"}


@pytest.fixture(scope="module")
def center():
    return simulate(SimulationConfig(), n_reps=60, n_days=9, seed=4, workers=1)


def run(home: Path, *args: str):
    result = CliRunner().invoke(cli, ["--home", str(home), "run", *args, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    return Path(lines[-1]), json.loads(lines[-2])


def assert_scores_contract(report: Path, home: Path, avoiders: set[str]) -> "pa.Table":
    assert report.parent == home / "reports"
    scores = pq.read_table(report / "scores.parquet")
    for column, kind in SCORE_COLUMNS.items():
        assert str(scores.schema.field(column).type) == kind, column
    frame = scores.to_pandas()
    assert frame.score.between(0, 1).all() and frame.anomaly_score.between(0, 1).all()
    assert set(frame.tier) <= {"investigate", "watch", "clear"}
    lake_reps = set(Lake(home / "lake").read("offers", columns=["rep_id"]).to_pandas().rep_id)
    assert lake_reps <= set(frame.rep_id), "every rep offered a call is scored"
    investigate = set(frame.loc[frame.tier == "investigate", "rep_id"])
    assert investigate and investigate <= avoiders, f"investigate names avoiders only: {sorted(investigate - avoiders)}"
    return scores


@pytest.mark.parametrize("source", ["canonical", "asterisk", "amazon-connect"])
def test_run_turns_each_platforms_logs_into_scores(prefect_server, center, tmp_path, source):
    logs = tmp_path / "logs"
    if source == "canonical":
        write_canonical(center.tables, logs, "csv")
    elif source == "asterisk":
        write_asterisk(center.tables, center.truth, logs, "UTC")
    else:
        write_amazon_connect(center.tables, center.truth, logs, seed=8)
    home = tmp_path / "home"
    report, summary = run(home, "--source", source, str(logs))
    avoiders = {r["ids"][FORMAT_IDS[source]] for r in center.truth["reps"] if r["role"] == "avoider"}
    assert_scores_contract(report, home, avoiders)
    assert summary["trained"]["promoted"], "a first model is trained and becomes the champion"
    first_day = Lake(home / "lake").days("calls")[0]
    assert summary["start"] == str(first_day) and len(summary["features"]["windows"]) == 2, "both windows of 9 days"
    mlflow.set_tracking_uri(tracking_uri(home))
    client = mlflow.MlflowClient()
    assert client.get_run(report.name).data.tags["stage"] == "score"
    assert str(client.get_model_version_by_alias("cadet-rep-anomaly", "champion").version) == str(summary["trained"]["version"])


def _days(tables: dict[str, pa.Table], first: dt.date, last: dt.date) -> dict[str, pa.Table]:
    """The simulated tables cut to [first, last] (UTC days), as a nightly export would hold them."""
    out = {}
    for name, table in tables.items():
        column = CATALOG[name].day_column if name in CATALOG else None
        if column is None:
            out[name] = table
            continue
        day = pc.cast(pc.cast(table[column], pa.timestamp("s", tz="UTC")), pa.date32())
        out[name] = table.filter(pc.and_(pc.greater_equal(day, pa.scalar(first)), pc.less_equal(day, pa.scalar(last))))
    return out


def test_a_second_run_scores_only_the_new_windows_like_a_full_scoring_would(prefect_server, tmp_path):
    two_weeks = simulate(SimulationConfig(), n_reps=60, n_days=14, seed=9, workers=1)
    calls_days = pc.cast(pc.cast(two_weeks.tables["calls"]["started_at"], pa.timestamp("s", tz="UTC")), pa.date32())
    first = pc.min(calls_days).as_py()
    second = first + dt.timedelta(days=7)
    home = tmp_path / "home"
    week_one, week_two = tmp_path / "week-1", tmp_path / "week-2"
    write_canonical(_days(two_weeks.tables, first, first + dt.timedelta(days=6)), week_one, "csv")
    write_canonical(_days(two_weeks.tables, second, second + dt.timedelta(days=6)), week_two, "csv")
    report_one, one = run(home, "--source", "canonical", str(week_one))
    report_two, two = run(home, "--source", "canonical", str(week_two))
    assert [w["period_start"] for w in one["features"]["windows"]] == [str(first)]
    assert [w["period_start"] for w in two["features"]["windows"]] == [str(second)], "the first week is not recomputed"
    assert two["trained"] is None, "the champion is kept; retraining is `cadet train`'s job"
    nightly = pq.read_table(report_two / "scores.parquet").to_pandas()
    assert set(nightly.period_start) == {second}
    assert nightly.sustained.any(), "a rep flagged in both weeks is a sustained pattern, though week one was not rescored"
    assert report_one != report_two and (report_one / "scores.parquet").exists(), "each run keeps its own report"
    result = CliRunner().invoke(cli, ["--home", str(home), "score"])
    assert result.exit_code == 0, result.output
    full = pq.read_table(Path(result.stdout.strip().splitlines()[-1]) / "scores.parquet").to_pandas()
    full = full[full.period_start == second].set_index("rep_id").sort_index()
    nightly = nightly.set_index("rep_id").sort_index()
    assert (nightly.tier == full.tier).all() and (nightly.score - full.score).abs().max() < 1e-12
    assert (nightly.sustained == full.sustained).all()


def test_windows_touched_keep_the_lakes_alignment():
    lake = (dt.date(2026, 1, 5), dt.date(2026, 1, 25))
    assert windows_touched(lake, [dt.date(2026, 1, 13)], 7) == (dt.date(2026, 1, 12), dt.date(2026, 1, 18))
    assert windows_touched(lake, [dt.date(2026, 1, 11), dt.date(2026, 1, 20)], 7) == (dt.date(2026, 1, 5), dt.date(2026, 1, 25))
    assert windows_touched(lake, [dt.date(2026, 1, 25)], 7) == (dt.date(2026, 1, 19), dt.date(2026, 1, 25))
    assert windows_touched(lake, [], 7) == lake, "nothing dated landed (a roster only): every window"


def _latest_run_state(flow_name: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                     sort=FlowRunSort.START_TIME_DESC, limit=1)
    return runs[0].state


def test_run_on_unusable_input_says_so_fails_in_prefect_and_exits_1(prefect_server, tmp_path):
    junk = tmp_path / "calls.csv"
    junk.write_text("nothing,useful\n1,2\n")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "run", "--source", "canonical", str(junk)])
    assert result.exit_code == 1 and "nothing usable was read" in result.output
    assert "Ingest" in result.output and "quarantined" in result.output, "the per-file table is printed before the failure"
    assert "Traceback" not in result.output
    state = _latest_run_state("cadet-run")
    assert state.is_failed() and "nothing usable was read" in state.message, "an automation on failed runs can fire"


@pytest.mark.parametrize("source", ["asterisk", "amazon-connect"])
def test_a_scheduled_run_with_nothing_new_ends_successfully_for_platform_logs(prefect_server, tmp_path, source):
    small = simulate(SimulationConfig(), n_reps=12, n_days=3, seed=9, workers=1)
    logs = tmp_path / "logs"
    if source == "asterisk":
        write_asterisk(small.tables, small.truth, logs, "UTC")
    else:
        write_amazon_connect(small.tables, small.truth, logs, seed=9)
    (logs / "truth.json").unlink(missing_ok=True)
    args = ["--home", str(tmp_path / "home"), "run", "--source", source, "--only-changed", str(logs)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "no new or changed files since the last ingest" in again.output and "among the files" not in again.output
    assert _latest_run_state("cadet-run").is_completed()


def _one_rep_export(center, out: Path, keep: set[str] = frozenset({"calls", "reps"})) -> str:
    """The center's files cut down to the busiest rep's own rows, and only the tables in `keep`."""
    calls = center.tables["calls"]
    rep = calls["rep_id"].to_pandas().value_counts().index[0]
    tables = {}
    for name, table in center.tables.items():
        if name not in keep:
            table = table.slice(0, 0)
        elif "rep_id" in table.column_names:
            table = table.filter(pc.fill_null(pc.equal(table["rep_id"], rep), False))
        tables[name] = table
    write_canonical(tables, out, "csv")
    for name in set(center.tables) - set(keep):
        (out / f"{name}.csv").unlink()
    return rep


def test_a_center_of_one_rep_with_calls_only_gets_a_report_and_says_why_there_is_no_model(prefect_server, center, tmp_path):
    """No presence, offers, surveys or schedules, and nobody to compare with: no traceback, a report from the rules."""
    rep = _one_rep_export(center, tmp_path / "export")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "run", "--source", "canonical", str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "no model trained: 1 rep(s) could be compared with peers (a model needs at least 8)" in result.stdout
    assert "scored with the rules alone" in result.stdout
    folder = Path(result.stdout.strip().splitlines()[-1])
    scores = pq.read_table(folder / "scores.parquet").to_pandas()
    assert set(scores.rep_id) == {rep} and scores.model_score.eq(0).all()
    html = (folder / "report.html").read_text()
    assert "no model (1 rep(s) could be compared" in html

    train = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "train"])
    assert train.exit_code == 3 and "no model trained" in train.stdout


@pytest.mark.slow
def test_ctrl_c_stops_a_run_in_seconds_with_one_line_and_no_run_left_running(center, tmp_path):
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    logs = tmp_path / "logs"
    write_canonical(center.tables, logs, "csv")
    (logs / "truth.json").unlink(missing_ok=True)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_TRACKING"))}
    run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--home", str(home), "run", "--source", "canonical",
                            str(logs)], env=env, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not Lake(home / "lake").days("calls") and time.monotonic() < deadline:  # stop it in the middle of the run
        assert run.poll() is None, run.communicate()
        time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, (out, err)
    assert "interrupted" in err and "run the command again" in err and "Traceback" not in err + out
    with sqlite3.connect(home / "prefect" / "prefect.db") as db:
        states = [state for (state,) in db.execute("SELECT state_type FROM flow_run")]
    assert states and "RUNNING" not in states, states


def test_a_run_reads_its_settings_file_once_and_every_step_uses_it(prefect_server, center, tmp_path, monkeypatch):
    """Settings read per step (and per window) could differ within one run if the file changed meanwhile."""
    from pipelines import config as config_module

    _one_rep_export(center, tmp_path / "export")
    settings = tmp_path / "site.yaml"
    settings.write_text("features:\n  window_days: 3\n")
    reads = []
    real = config_module.load_config
    monkeypatch.setattr(config_module, "load_config", lambda path: reads.append(path) or real(path))
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(settings), "run", "--source",
                                      "canonical", "--json", str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-2])
    spans = [(dt.date.fromisoformat(w["period_start"]), dt.date.fromisoformat(w["period_end"]))
             for w in summary["features"]["windows"]]
    assert len(spans) >= 3 and all((hi - lo).days <= 2 for lo, hi in spans), "the file's 3-day windows were used"
    assert reads == [settings], f"the settings file was read {len(reads)} times in one run"
