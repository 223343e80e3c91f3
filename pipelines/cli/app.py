"""The `cadet` command: the group, its commands (cadet's own and those installed packages add), and how a command ends.

Heavy libraries (pandas, Prefect, MLflow) are imported inside the commands that
need them, so `cadet --help` answers at once.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from pipelines.cli import analysis, operations, stages
from pipelines.cli.context import Context
from pipelines.failures import EXIT_INTERRUPTED, RunFailed, error_chain, on_interrupt, was_interrupted
from pipelines.home import Home

ADDED_COMMANDS = "cadet.commands"  # entry-point group of commands other packages add (the simulator's)
_command_home: Path | None = None  # the --home of the command being run

MAIN_HELP = """\
cadet finds contact-center reps who avoid calls, from the logs your platform
already writes (Asterisk queue_log and CDRs, Amazon Connect contact records and
agent events, or cadet's canonical CSV/Parquet).

\b
Typical use:
  cadet demo                                  # simulate a center and show what cadet sees
  cadet inspect --source asterisk /var/log/asterisk/ --out site.yaml   # your site's conventions
  cadet --config site.yaml run --source asterisk /var/log/asterisk/     # ingest, features, model, scores, report
  cadet review agent1025 --verdict confirmed --by alice
  cadet serve --source asterisk /var/log/asterisk/   # nightly runs, weekly retraining

Everything cadet writes (the Parquet lake, the MLflow store, reports) lives
under --home, ./cadet-data by default.  Settings come from --config FILE
(YAML; see configs/cadet.yaml); with no file the defaults apply.
"""


@functools.cache
def added_commands() -> dict:
    """The `cadet.commands` entry points of the installed packages, by command name (read once per process)."""
    from importlib.metadata import entry_points

    return {point.name: point for point in entry_points(group=ADDED_COMMANDS)}


class CadetCommands(click.Group):
    """cadet's own commands, and those installed packages add as `cadet.commands` entry points (the simulator's
    `simulate` and `demo`), each loaded only when named or listed: cadet does not import the simulator."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(added_commands()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in added_commands():
            command = added_commands()[name].load()
        return command


@click.group(cls=CadetCommands, help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CADET_HOME",
    default="./cadet-data",
    show_default=True,
    show_envvar=True,
    help="Folder for the lake, the MLflow store and the reports.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CADET_CONFIG",
    show_envvar=True,
    default=None,
    help="YAML settings file (see configs/cadet.yaml). Defaults apply when omitted.",
)
@click.version_option(package_name="cadet", prog_name="cadet")
@click.pass_context
def cli(ctx: click.Context, home: Path, config_path: Path | None) -> None:
    global _command_home
    _command_home = home.absolute()  # flow runs name the home unambiguously; an error after the command names it too
    ctx.obj = Context(home=Home.of(_command_home), config_path=config_path)
    if config_path is not None:
        ctx.obj.config  # fail early on a bad settings file, naming key and reason  # noqa: B018


for command in (stages.ingest, stages.features, stages.train, stages.score, stages.run, analysis.inspect, analysis.report,
                analysis.review, operations.serve, operations.new_key):
    cli.add_command(command)


def main() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # A tracking server that does not answer fails the run within about two minutes, not after MLflow's own
    # retries (seven, with doubling waits, each request allowed 120 s) kept a run hanging for over eight minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # MLflow's own log lines (table migrations, pip detection, its traceback of a failed write) are not for the
    # terminal: a failure reaches the user as cadet's one line saying what to do
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "CRITICAL")
    import signal

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        _run_command()
    except SystemExit as leaving:
        if leaving.code not in (0, None):
            # cadet has said what went wrong; Prefect's log worker, flushing at exit to a server that failed with
            # the same cause (a full disk, say), would add its own "Error logging to API" lines after it
            import logging

            logging.raiseExceptions = False
        raise


def _run_command() -> None:
    """The command, its failures turned into one line and an exit code."""
    try:
        cli.main(prog_name="cadet", standalone_mode=False)
        if was_interrupted():  # Prefect dropped it while the last flow run tore down: its work had finished
            raise click.exceptions.Abort()
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as problem:
        problem.show()
        sys.exit(problem.exit_code)
    except RunFailed as failure:  # before any stage ran: the Prefect server it needs did not answer or start
        click.echo(f"cadet: {failure}", err=True)
        sys.exit(failure.exit_code)
    except Exception as stopped:  # click's Abort is Ctrl-C
        # Prefect marks the run Crashed; every write is whole or not there.  An interrupt that lands inside
        # Prefect's own task set-up surfaces as another error: after Ctrl-C it is the same interruption.
        if isinstance(stopped, click.exceptions.Abort) or was_interrupted():
            click.echo("cadet: interrupted. What was written is whole (every write is atomic); run the command again "
                       "to finish.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        _unexpected(stopped)


def _unexpected(error: Exception) -> None:
    """An error no stage turned into a message: the disk's fault said in one line, else cadet's own, for a report."""
    import traceback

    from pipelines.failures import EXIT_FAILED, EXIT_SERVICE, EXIT_STORAGE
    from pipelines.privacy import scrub_numbers
    from pipelines.storage import storage_problem

    problem = storage_problem(error, _command_home or Path.cwd())
    if problem:
        click.echo(f"cadet: {problem}", err=True)
        sys.exit(EXIT_STORAGE)
    unreachable = _unreachable(error)
    if unreachable:
        click.echo(f"cadet: {unreachable} stopped answering during the run (after its client's retries): check that it "
                   "is running and reachable, then run this again; what was written is whole", err=True)
        sys.exit(EXIT_SERVICE)
    if "database is locked" in _said(error):  # SQLite's own wait for a busy database ran out
        from pipelines.training import locked

        click.echo(f"cadet: {locked('a database under ' + str(_command_home or Path.cwd()))}", err=True)
        sys.exit(EXIT_SERVICE)
    click.echo(scrub_numbers("".join(traceback.format_exception(error))), err=True, nl=False)
    click.echo(f"cadet: stopped by an error in cadet itself ({type(error).__name__}), not in your data's rows; what "
               "was written is whole. Please report it with the lines above (caller numbers are hidden in them).",
               err=True)
    sys.exit(EXIT_FAILED)


def _unreachable(error: BaseException) -> str | None:
    """Which service an error says did not answer (the Prefect API or an MLflow server), or None.

    Told by the HTTP clients' own error classes (httpx under Prefect, requests under MLflow), by name, so that
    neither library is imported here.
    """
    for link in error_chain(error):
        kinds = {(kind.__module__.split(".")[0], kind.__name__) for kind in type(link).__mro__}
        if ("httpx", "TransportError") in kinds:
            return f"the Prefect API at {os.environ.get('PREFECT_API_URL', 'the local server')}"
        if ("requests", "ConnectionError") in kinds:
            return f"the MLflow server at {os.environ.get('MLFLOW_TRACKING_URI', '?')}"
    return None


def _said(error: BaseException) -> str:
    """The messages of an error and of those it was raised from."""
    return "\n".join(str(link) for link in error_chain(error))
