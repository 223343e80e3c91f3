from pathlib import Path

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


@pytest.mark.parametrize("command", [["ingest", "--source", "canonical"], ["run", "--source", "canonical"]])
def test_an_unusable_pseudonym_key_stops_ingesting_before_prefect_starts(runner, tmp_path, monkeypatch, command):
    (tmp_path / "calls.csv").write_text("call_id,rep_id\n")
    monkeypatch.setenv("CADET_PSEUDONYM_KEY", "short")
    result = runner.invoke(cli, ["--home", str(tmp_path / "home"), *command, str(tmp_path / "calls.csv")])
    assert result.exit_code == 1 and "is too short: use at least 16 characters" in result.output, result.output
    assert not (tmp_path / "home" / "prefect").exists(), "no Prefect server was started for a bad key"
    assert not (tmp_path / "home" / "secrets").exists(), "no key file was made beside the one in the environment"


def _new_key_failing_with(create_key, tmp_path, monkeypatch, capsys) -> tuple[int, str]:
    """`cadet new-key` as the shell runs it (through main), its key file write failing as `create_key` does."""
    import sys

    from pipelines import cli as cli_module
    from pipelines import privacy

    monkeypatch.delenv("CADET_PSEUDONYM_KEY", raising=False)
    monkeypatch.setattr(privacy, "create_key", create_key)
    monkeypatch.setattr(sys, "argv", ["cadet", "--home", str(tmp_path / "home"), "new-key"])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    return stopped.value.code, capsys.readouterr().err


@pytest.mark.parametrize("error, says", [
    (OSError(28, "No space left on device"), "is full"),
    (OSError(30, "Read-only file system"), "read-only file system"),
    (PermissionError(13, "Permission denied"), "permission denied on"),
])
def test_a_home_that_cannot_be_written_is_named_in_one_line_with_exit_6(tmp_path, monkeypatch, capsys, error, says):
    def fails(home):
        error.filename = str(Path(home) / "secrets" / "pseudonym.key")
        raise error

    code, err = _new_key_failing_with(fails, tmp_path, monkeypatch, capsys)
    assert code == 6 and says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_is_recognised_through_the_errors_wrapped_around_it(tmp_path):
    import sqlite3

    from pipelines.storage import storage_problem

    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as low:
            raise RuntimeError("(raised as a result of Query-invoked autoflush)") from low
    except RuntimeError as wrapped:
        assert "is full" in storage_problem(wrapped, tmp_path)
    assert storage_problem(ValueError("a bad row"), tmp_path) is None


def test_an_error_in_cadet_itself_prints_its_traceback_without_caller_numbers(tmp_path, monkeypatch, capsys):
    def fails(home):
        raise KeyError("caller +44 20 7946 0958")

    code, err = _new_key_failing_with(fails, tmp_path, monkeypatch, capsys)
    assert code == 1 and "Traceback" in err and "error in cadet itself (KeyError)" in err
    assert "7946" not in err and "<number>" in err


def test_a_prefect_server_that_does_not_answer_is_one_line_and_exit_5_within_seconds(tmp_path, monkeypatch, capsys):
    import socket
    import sys
    import time

    from pipelines import cli as cli_module
    from pipelines import prefect_api

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    monkeypatch.setattr(prefect_api, "REACH_ATTEMPTS", (0, 0.2))
    roster = tmp_path / "reps.csv"
    roster.write_text("rep_id,name\nagent1,Ann\n")
    monkeypatch.setattr(sys, "argv", ["cadet", "--home", str(tmp_path / "home"), "ingest", "--source", "canonical",
                                      str(roster)])
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    err = capsys.readouterr().err
    assert stopped.value.code == 5 and f"the Prefect API at {url} did not answer" in err and "prefect server start" in err
    assert len(err.strip().splitlines()) == 1 and time.monotonic() - started < 30
    assert not (tmp_path / "home" / "lake").exists(), "nothing landed"


def test_a_prefect_server_that_stops_answering_mid_run_is_one_line_and_exit_5(tmp_path, monkeypatch, capsys):
    import httpx

    def fails(home):
        raise RuntimeError("could not record the task run") from httpx.ConnectError("All connection attempts failed")

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    code, err = _new_key_failing_with(fails, tmp_path, monkeypatch, capsys)
    assert code == 5 and "the Prefect API at http://127.0.0.1:4200/api stopped answering" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_loads_no_data_library_and_reading_settings_loads_no_estimator():
    """`cadet --help` answers at once, and a command that only reads settings (ingest, inspect, review) does not
    pay for scikit-learn, SciPy, Prefect or the simulator."""
    import subprocess
    import sys

    probe = """
import sys
from click.testing import CliRunner
from pipelines.cli import cli
assert CliRunner().invoke(cli, ["--help"]).exit_code == 0
print(sorted(m for m in ("pandas", "sklearn", "scipy", "prefect", "mlflow", "simulator.centre") if m in sys.modules))
from pipelines.config import load_settings
load_settings(None)
print(sorted(m for m in ("sklearn", "scipy", "prefect", "mlflow", "simulator.centre") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after_help, after_settings = done.stdout.strip().splitlines()
    assert after_help == "[]", f"cadet --help loaded {after_help}"
    assert after_settings == "[]", f"reading the settings loaded {after_settings}"
