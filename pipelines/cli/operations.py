"""Running cadet as a service: `serve` its schedules, and `new-key` for a home whose pseudonym key is lost."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipelines.cli.context import FORMATS, Context, check_source, prefect_defaults


@click.command(
    help="""Run cadet on a schedule: nightly ingest + score, weekly retraining (Prefect deployments).

\b
Registers two deployments with a Prefect server and runs them in this process
when their time comes (keep it running, e.g. as a systemd service):
  cadet-run/nightly         --nightly cron: `cadet run --only-changed` over PATH...
  cadet-train/weekly-retrain --retrain cron: `cadet train` (promotion gates apply)
Cron times are in the site's zone (site.timezone in the settings).  Both can be
started by hand from the Prefect UI or with
`prefect deployment run cadet-run/nightly`.  A run that reads nothing usable
or has nothing to score ends Failed in Prefect, its message saying why; the
steps of every run are in its log in the Prefect UI.

\b
Needs a Prefect server, so runs and schedules outlive this process:
  prefect server start --host 127.0.0.1 --port 4200        # UI on http://127.0.0.1:4200
  export PREFECT_API_URL=http://127.0.0.1:4200/api

\b
Examples:
  cadet serve --source asterisk /var/log/asterisk/
  cadet serve --source amazon-connect ./ctr/ ./agent-events/ --nightly "30 1 * * *" --retrain "0 5 * * 1"
"""
)
@click.option("--source", type=click.Choice(FORMATS), required=True, help="The platform that writes the files.")
@click.option("--nightly", "nightly_cron", default="0 2 * * *", show_default=True, help="Cron for ingest + score.")
@click.option("--retrain", "retrain_cron", default="0 4 * * 0", show_default=True, help="Cron for retraining.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def serve(obj: Context, source: str, nightly_cron: str, retrain_cron: str, paths: tuple[Path, ...]):
    if not os.environ.get("PREFECT_API_URL"):
        raise click.UsageError(
            "cadet serve needs a Prefect server so schedules and runs outlive this process. Start one with\n"
            "  prefect server start --host 127.0.0.1 --port 4200\n"
            "then: export PREFECT_API_URL=http://127.0.0.1:4200/api  and run cadet serve again.")
    from prefect.schedules import Cron

    check_source(source, paths)
    for cron in (nightly_cron, retrain_cron):
        try:
            Cron(cron)
        except ValueError as exc:
            raise click.BadParameter(f"{cron!r} is not a cron expression (minute hour day month weekday): {exc}") from exc
    prefect_defaults(obj.home)
    from pipelines.schedule import serve_schedules

    home = obj.home.root.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config_path = str(obj.config_path.resolve()) if obj.config_path else None
    click.echo(f"serving cadet-run/nightly ({nightly_cron}) and cadet-train/weekly-retrain ({retrain_cron}), "
               f"{obj.config.site.timezone} time, for {home} on {os.environ['PREFECT_API_URL']}; Ctrl-C stops")
    serve_schedules(source, [str(p.resolve()) for p in paths], str(home), config_path, nightly_cron, retrain_cron,
                    obj.config.site.timezone)


@click.command(
    "new-key",
    help="""Create a new pseudonymisation key for a home whose key is lost, on purpose.

\b
Caller numbers are pseudonymised at ingest with the key in
<home>/secrets/pseudonym.key (or $CADET_PSEUDONYM_KEY).  If that file is
missing while the lake already holds callers, `cadet ingest` and `cadet run`
stop rather than make a new key silently.  First try to restore the file from
where you keep it.  A new key means a caller seen before and the same caller
calling again after it no longer link as repeat callers (cherry-picking and
early hang-up callbacks start over); the lake's old pseudonyms stay as they
are.  This command never replaces an existing key.

\b
Example:
  cadet --home /srv/cadet new-key
"""
)
@click.pass_obj
def new_key(obj: Context):
    from pipelines.privacy import KEY_ENV, create_key

    path = obj.home.pseudonym_key
    if path.exists():
        raise click.UsageError(f"{path} exists: cadet never replaces a key (move it aside yourself if you must)")
    if os.environ.get(KEY_ENV):
        raise click.UsageError(f"${KEY_ENV} is set and takes precedence over a key file: change it there instead")
    create_key(obj.home)
    click.echo(f"new pseudonymisation key in {path}; callers from before it will not link to callers after it")
