"""`cadet features` end to end: a real Prefect flow from the lake back into the lake."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from pipelines.cli import cli
from pipelines.lake import Lake
from pipelines.tables import DERIVED_TABLES
from pipelines.tracking import tracking_uri
from simulator import SimulationConfig, simulate
from simulator.writers import write_asterisk, write_canonical

OUTPUTS = DERIVED_TABLES


@pytest.fixture(scope="module")
def center():
    return simulate(SimulationConfig(), n_reps=60, n_days=9, seed=4, workers=1)


def ingest(home, source, folder):
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--source", source, str(folder)])
    assert result.exit_code == 0, result.output


def features(home, *extra):
    result = CliRunner().invoke(cli, ["--home", str(home), *extra, "features", "--json"])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.output.strip().splitlines()[-1])


def snapshot(lake: Lake) -> dict:
    return {name: lake.read(name).to_pandas().sort_values(list(lake.read(name).column_names[:3])).reset_index(drop=True)
            for name in OUTPUTS if lake.days(name)}


@pytest.fixture(scope="module")
def canonical_home(prefect_server, center, tmp_path_factory):
    home = tmp_path_factory.mktemp("canonical") / "home"
    folder = tmp_path_factory.mktemp("canonical-input")
    write_canonical(center.tables, folder, "csv")
    ingest(home, "canonical", folder)
    return home


def test_features_and_explained_rule_hits_land_in_the_lake(canonical_home, center):
    result, summary = features(canonical_home)
    lake = Lake(canonical_home / "lake")
    for name in ("rep_day_features", "rep_window_features", "call_evidence", "rule_hits"):
        assert lake.days(name), f"{name} was not written"
    windows = lake.read("rep_window_features").to_pandas()
    assert set(windows.rep_id) == {r["rep_id"] for r in center.truth["reps"]}
    assert [w["period_start"] for w in summary["windows"]] == ["2026-01-05", "2026-01-12"]
    hits = lake.read("rule_hits").to_pandas()
    assert len(hits) == sum(w["hits"] for w in summary["windows"]) > 0
    assert hits.evidence.str.contains(" of ").all() and hits.evidence.str.contains(r"peers in").all()
    avoiders = {r["rep_id"] for r in center.truth["reps"] if r["role"] == "avoider"}
    serious = hits[hits.severity != "low"]
    assert set(serious.rep_id) <= avoiders, "medium and high hits name avoiders only"
    assert "Rule hits by behaviour" in result.output


def test_one_worker_computes_one_window_at_a_time(canonical_home, monkeypatch):
    """`--workers 1` is for a machine short of memory: never two windows in memory at once."""
    import threading
    import time

    from pipelines import features_flow

    compute, lock, running, most = features_flow.compute_window, threading.Lock(), [0], [0]

    def watched(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)  # long enough for a second window to start, if anything would start one
        try:
            return compute(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(features_flow, "compute_window", watched)
    result = CliRunner().invoke(cli, ["--home", str(canonical_home), "features", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output.strip().splitlines()[-1])["windows"]) == 2 and most[0] == 1


def test_a_pool_of_workers_lands_the_same_lake_as_one_window_at_a_time(canonical_home, monkeypatch):
    lake = Lake(canonical_home / "lake")
    _, summary = features(canonical_home)  # CADET_WORKERS=1 in the suite: in this process
    assert summary["workers"] == 1
    alone = snapshot(lake)
    monkeypatch.setenv("CADET_WORKERS", "2")  # what a user's environment says for every command
    result, summary = features(canonical_home)
    assert summary["workers"] == 2 and len(summary["windows"]) == 2
    pooled = snapshot(lake)
    assert alone.keys() == pooled.keys()
    for name, frame in alone.items():
        pd.testing.assert_frame_equal(frame, pooled[name], obj=name)


def test_rerunning_replaces_the_windows_and_leaves_no_stale_hits(canonical_home, tmp_path):
    lake = Lake(canonical_home / "lake")
    features(canonical_home)
    first = snapshot(lake)
    features(canonical_home)
    second = snapshot(lake)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].equals(second[name]), f"{name} changed on a re-run"
    strict = tmp_path / "rules.yaml"
    strict.write_text(yaml.safe_dump({"rules": [dict(id="never", code="missed_calls", feature="miss_rate", min_value=2.0,
                                                     evidence="{rep}")]}))
    settings = tmp_path / "cadet.yaml"
    settings.write_text(yaml.safe_dump({"rules_file": "rules.yaml"}))
    _, summary = features(canonical_home, "--config", str(settings))
    assert all(w["hits"] == 0 for w in summary["windows"])
    assert lake.read("rule_hits").num_rows == 0, "hits of the earlier run were removed, not left behind"


def test_an_asterisk_lake_gives_empty_hold_features_and_says_so(prefect_server, center, tmp_path):
    folder = tmp_path / "asterisk"
    write_asterisk(center.tables, center.truth, folder, "UTC")
    home = tmp_path / "home"
    ingest(home, "asterisk", folder)
    result, summary = features(home)
    lake = Lake(home / "lake")
    windows = lake.read("rep_window_features").to_pandas()
    assert windows.hold_seconds_per_call.isna().all() and windows.hold_hangup_rate.isna().all(), "null, never zero"
    assert windows.miss_rate.notna().any() and windows.wrapup_seconds_per_call.notna().any()
    daily = pq.read_table(lake.partition("rep_day_features", lake.days("rep_day_features")[0])).to_pandas()
    assert (daily.hold_observed_calls == 0).all()
    blind = lake.read("rules_not_observable").to_pandas()
    assert {"long_hold.hold_time", "long_hold.hangups_on_hold"} <= set(blind.rule_id)
    assert "not observable from this source: long_hold.hold_time" in result.output
    assert not lake.read("rule_hits").to_pandas().code.eq("long_hold").any()
    assert summary["windows"][0]["observable"]["hold"] is False


def test_the_features_flow_on_an_empty_lake_ends_failed_saying_what_to_do(prefect_server, tmp_path):
    """The flow itself fails (a scheduled or API-triggered run has no CLI in front of it to check first)."""
    from pipelines.failures import RunFailed
    from pipelines.features_flow import features_flow

    state = features_flow(str(tmp_path / "empty"), return_state=True)
    assert state.is_failed() and "run `cadet ingest`" in state.message
    with pytest.raises(RunFailed, match="run `cadet ingest`"):
        features_flow(str(tmp_path / "empty"))


def test_the_feature_list_names_every_behaviour_code():
    result = CliRunner().invoke(cli, ["features", "--list"])
    assert result.exit_code == 0
    from features.catalog import BEHAVIOUR_CODES

    for code in BEHAVIOUR_CODES:
        assert code in result.output


def test_train_after_features_registers_a_champion_in_the_home(canonical_home):
    features(canonical_home)
    result = CliRunner().invoke(cli, ["--home", str(canonical_home), "train", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])  # MLflow writes its own lines to stderr
    assert summary["promoted"] and summary["champion"] == summary["version"]
    assert (canonical_home / "mlflow" / "mlflow.db").exists()
    assert "is the champion" in result.output and "Promotion gates" in result.output


def test_train_before_features_says_what_to_do(prefect_server, tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "empty"), "train"])
    assert result.exit_code == 1 and "run `cadet features` first" in result.output


def test_score_writes_the_scores_contract_and_prints_the_report_folder(canonical_home, center):
    import mlflow
    import pyarrow.parquet as pq

    features(canonical_home)
    result = CliRunner().invoke(cli, ["--home", str(canonical_home), "score"])
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report.parent == canonical_home / "reports" and (report / "scores.parquet").exists()
    scores = pq.read_table(report / "scores.parquet").to_pandas()
    for column in ("rep_id", "period_start", "period_end", "score", "tier", "behaviours", "anomaly_score", "rule_hits"):
        assert column in scores
    assert scores.score.between(0, 1).all() and scores.anomaly_score.between(0, 1).all()
    assert set(scores.tier) <= {"investigate", "watch", "clear"}
    assert all(isinstance(list(b), list) for b in scores.behaviours)
    assert set(scores.rep_id) == {r["rep_id"] for r in center.truth["reps"]}
    investigate = set(scores.loc[scores.tier == "investigate", "rep_id"])
    avoiders = {r["rep_id"] for r in center.truth["reps"] if r["role"] == "avoider"}
    assert investigate and investigate <= avoiders, "the investigate list names avoiders only"
    mlflow.set_tracking_uri(tracking_uri(canonical_home))
    run = mlflow.MlflowClient().get_run(report.name)
    assert run.data.tags["stage"] == "score" and run.data.metrics["rep_windows"] == len(scores)


def test_a_week_without_data_is_an_empty_window_and_the_others_are_judged(prefect_server, tmp_path):
    import datetime as dt

    import pyarrow.compute as pc

    center = simulate(SimulationConfig(), n_reps=10, n_days=15, seed=12, workers=1)
    first = min(center.tables["calls"]["started_at"].to_pylist()).date()
    closed = (first + dt.timedelta(days=7), first + dt.timedelta(days=13))  # the second week: no logs at all
    tables = {}
    for name, table in center.tables.items():
        column = {"calls": "started_at", "offers": "offered_at", "agent_states": "started_at", "surveys": "surveyed_at",
                  "schedules": "starts_at"}.get(name)
        if column is None:
            tables[name] = table
            continue
        day = pc.cast(table[column], "date32").to_pylist()
        tables[name] = table.filter([not (closed[0] <= d <= closed[1]) for d in day])
    write_canonical(tables, tmp_path / "logs", "csv")
    ingest(tmp_path / "home", "canonical", tmp_path / "logs")
    result, summary = features(tmp_path / "home")
    empty = [w for w in summary["windows"] if w.get("empty")]
    assert [(w["period_start"], w["period_end"]) for w in empty] == [(closed[0].isoformat(), closed[1].isoformat())]
    assert f"window {closed[0]} .. {closed[1]} is empty" in result.output
    judged = [w for w in summary["windows"] if not w.get("empty")]
    assert len(judged) == 2 and all(w["reps"] > 0 for w in judged)
