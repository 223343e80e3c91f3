"""`cadet simulate` and `cadet demo`: the simulator's commands, added to cadet's through an entry point."""

import json

import pytest
from click.testing import CliRunner

from pipelines.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_cadet_lists_and_runs_the_commands_the_simulator_adds(runner):
    from importlib.metadata import entry_points

    added = {point.name: point.value for point in entry_points(group="cadet.commands")}
    assert added == {"simulate": "simulator.cli:simulate", "demo": "simulator.cli:demo"}
    listed = runner.invoke(cli, ["--help"]).output
    assert "simulate" in listed and "demo" in listed
    assert runner.invoke(cli, ["demo", "--help"]).exit_code == 0


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


def test_a_bad_world_file_stops_with_key_and_reason(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("target_occupancy: 3\n")
    result = runner.invoke(cli, ["--home", str(tmp_path), "simulate", "--world", str(bad), "--reps", "2", "--days", "1"])
    assert result.exit_code == 1
    assert "target_occupancy" in result.output and "less than 1" in result.output
    assert not (tmp_path / "simulated").exists()


def test_the_world_file_changes_the_simulated_centre(runner, tmp_path):
    world = tmp_path / "world.yaml"
    world.write_text("avoidance:\n  share: 0.5\n  behaviours: [missed_calls]\n")
    result = runner.invoke(cli, ["--home", str(tmp_path), "simulate", "--world", str(world), "--reps", "10", "--days", "1",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "simulated" / "canonical" / "truth.json").read_text())
    avoiders = [r for r in truth["reps"] if r["role"] == "avoider"]
    assert len(avoiders) == 5 and all(r["behaviours"] == ["missed_calls"] for r in avoiders)


def test_the_site_of_the_simulated_centre_is_the_site_cadet_is_set_for(runner, tmp_path):
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



def test_the_demo_detects_with_the_settings_file_of_the_site_it_simulated(runner, tmp_path, monkeypatch):
    from pipelines import run
    from pipelines.failures import RunFailed

    handed = {}

    def stop_after_handing_over(source, paths, home, settings=None, *rest, **named):
        handed["settings"] = settings
        raise RunFailed("stopped by the test once the run had its settings")

    monkeypatch.setattr(run, "run_flow", stop_after_handing_over)
    settings = tmp_path / "s.yaml"
    settings.write_text("site:\n  name: lyon\nfeatures:\n  window_days: 3\n")
    result = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(settings), "demo", "--reps", "10",
                                 "--days", "7"])
    assert "stopped by the test" in result.output, result.output
    assert handed["settings"].config.features.window_days == 3


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("quiet", [False, True])
def test_a_terminal_sees_the_simulations_progress_unless_asked_for_quiet(tmp_path, quiet):
    import os
    import subprocess
    import sys

    controller, terminal = os.openpty()
    command = [sys.executable, "-m", "pipelines.cli", "--home", str(tmp_path), "simulate", "--reps", "60", "--days", "14",
               *(["--quiet"] if quiet else [])]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, timeout=300,
                          env=dict(os.environ, COLUMNS="120", TERM="xterm"))
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end is closed: everything was read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert done.returncode == 0 and b"simulated 60 reps x 14 days" in done.stdout
    bar = [stage for stage in (b"drawing reps", b"routing calls", b"assembling canonical tables", b"writing canonical files")
           if stage in drawn]
    assert (bar == []) if quiet else (b"simulate" in drawn and bar), drawn[-500:]
