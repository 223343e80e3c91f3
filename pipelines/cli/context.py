"""What every command shares: the home and settings it runs with, the checks made before Prefect starts, the home
lock, the embedded Prefect defaults, and how a failure ends the command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from pipelines.cli.output import working
from pipelines.failures import RunFailed
from pipelines.home import Home
from pipelines.inputs import SOURCES

if TYPE_CHECKING:  # the settings' models import pandas and scikit-learn: loaded when a command reads them
    from pipelines.config import Settings

FORMATS = tuple(s.value for s in SOURCES)


class Context:
    """What every command runs with: the home, and the settings read once for the whole command."""

    def __init__(self, home: Home, config_path: Path | None):
        self.home = home
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The settings file and its rules, read on first use; a bad one stops the command with key and reason."""
        if self._settings is None:
            from pipelines.config import ConfigError, load_settings

            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._settings

    @property
    def config(self):
        return self.settings.config

    def check_rules(self) -> None:
        """A bad settings or rules file stops the command here, naming the rule and the reason, before Prefect starts."""
        self.settings  # noqa: B018


def iso(day) -> str | None:
    """A --start/--end option's date as the flows take it."""
    return day.date().isoformat() if day else None


def as_date(day: str | None):
    import datetime as dt

    return dt.date.fromisoformat(day) if day else None


def check_range(start: str | None, end: str | None) -> None:
    if start and end and end < start:
        raise click.UsageError(f"--end {end} is before --start {start}: swap them")


def check_source(source: str, paths) -> None:
    """Files that are plainly another platform's logs: say which --source they need, before anything runs."""
    from pipelines.inputs import wrong_source

    mismatch = wrong_source(source, list(paths))
    if mismatch:
        raise click.BadParameter(mismatch, param_hint="--source")


def hold_home(home: Home, name: str) -> None:
    """Take the home's lock for the rest of the command, before Prefect starts: a second cadet on the same home
    is told at once who holds it (the flows take the same lock, so a run started elsewhere is guarded too)."""
    from pipelines.locking import HomeBusy, home_lock

    try:
        click.get_current_context().with_resource(home_lock(home, f"cadet {name}"))
    except HomeBusy as busy:
        fail(name, busy)


def check_key(home: Home, name: str) -> None:
    """An unusable pseudonymisation key stops an ingesting command before Prefect starts (the flow checks it too)."""
    from pipelines.privacy import PseudonymKeyError, existing_key

    try:
        existing_key(home)
    except PseudonymKeyError as exc:
        fail(name, RunFailed(str(exc)))


def fail(name: str, failure: RunFailed) -> NoReturn:
    click.echo(f"cadet {name}: {failure}", err=True)
    sys.exit(failure.exit_code)


def prefect_defaults(home: Home) -> None:
    """Embedded defaults for Prefect, unless the user configured it (e.g. PREFECT_API_URL for a server)."""
    if "PREFECT_HOME" not in os.environ:
        prefect_home = home.prefect
        prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect does not create missing parents
        os.environ["PREFECT_HOME"] = str(prefect_home)
    # the temporary local server migrates its database on first start: give it time
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # cadet's steps log at INFO to the Prefect API (the UI's run logs); the terminal shows cadet's own lines only,
    # a failure as one line from the CLI rather than Prefect's traceback of it
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from pipelines.prefect_api import API_URL, check_configured, start_embedded

    if os.environ.get(API_URL):
        check_configured(os.environ[API_URL])
    elif not _prefect_set_in_process():
        with working("starting cadet's local Prefect server"):
            start_embedded(home)


def _prefect_set_in_process() -> bool:
    """A Prefect API chosen inside this process (a test harness's settings), not through the environment."""
    if "prefect" not in sys.modules:
        return False
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)
