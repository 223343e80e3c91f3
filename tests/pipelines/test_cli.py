import json

import pytest
from click.testing import CliRunner

from pipelines.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_main_help_explains_home_config_and_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for word in ("--home", "CADET_HOME", "./cadet-data", "--config", "simulate", "demo", "ingest", "score", "report", "run",
                 "review", "serve"):
        assert word in result.output


def test_simulate_help_explains_every_option(runner):
    result = runner.invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    for option in ("--reps", "--days", "--seed", "--format", "--out", "--file-format", "--workers", "--quiet"):
        assert option in result.output
    for fmt in ("canonical", "asterisk", "amazon-connect", "truth.json", "queue_log", "contact_records"):
        assert fmt in result.output


def test_simulate_writes_files_under_home_by_default(runner, tmp_path):
    result = runner.invoke(cli, ["--home", str(tmp_path), "simulate", "--reps", "8", "--days", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "simulated" / "canonical"
    assert {p.name for p in out.iterdir()} == {
        "calls.csv", "offers.csv", "agent_states.csv", "surveys.csv", "schedules.csv", "reps.csv", "truth.json",
    }
    truth = json.loads((out / "truth.json").read_text())
    assert truth["format"] == "canonical" and len(truth["reps"]) == 8
    assert "simulated 8 reps x 2 days" in result.output


def test_home_comes_from_the_environment(runner, tmp_path):
    result = runner.invoke(cli, ["simulate", "--reps", "3", "--days", "1", "--quiet", "--format", "asterisk"], env={"CADET_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "simulated" / "asterisk" / "queue_log").exists()


def test_bad_settings_file_stops_with_key_and_reason(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("simulation:\n  target_occupancy: 3\n")
    result = runner.invoke(cli, ["--config", str(bad), "simulate", "--reps", "2", "--days", "1"])
    assert result.exit_code != 0
    assert "simulation.target_occupancy" in result.output and "less than 1" in result.output


def test_settings_file_changes_the_simulation(runner, tmp_path):
    settings = tmp_path / "s.yaml"
    settings.write_text("site:\n  name: lyon\n")
    out = tmp_path / "out"
    result = runner.invoke(cli, ["--config", str(settings), "simulate", "--reps", "4", "--days", "1", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "lyon" in (out / "reps.csv").read_text()


def test_invalid_option_values_are_refused(runner):
    result = runner.invoke(cli, ["simulate", "--reps", "0"])
    assert result.exit_code == 2 and "--reps" in result.output
    result = runner.invoke(cli, ["simulate", "--format", "genesys"])
    assert result.exit_code == 2 and "canonical" in result.output


@pytest.mark.parametrize("command, message", [
    (["features"], "has no calls yet: run `cadet ingest`"),
    (["train"], "run `cadet features` first"),
    (["score"], "run `cadet features` first"),
])
def test_a_stage_on_an_empty_home_says_what_to_run_first_before_prefect_starts(runner, tmp_path, command, message):
    result = runner.invoke(cli, ["--home", str(tmp_path / "home"), *command])
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "home" / "prefect").exists(), "no Prefect server was started for a mistake"


def test_an_end_before_the_start_is_a_usage_error_told_at_once(runner, tmp_path):
    result = runner.invoke(cli, ["--home", str(tmp_path), "features", "--start", "2026-01-10", "--end", "2026-01-05"])
    assert result.exit_code == 2 and "swap them" in result.output
    assert not (tmp_path / "prefect").exists()
