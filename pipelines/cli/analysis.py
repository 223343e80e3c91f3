"""The analyst's commands: `inspect` a site's logs, write the `report`, `review` a flagged rep."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipelines.cli.context import FORMATS, Context, check_source
from pipelines.cli.output import print_rows, text_cell, working


@click.command(
    help="""Profile a center's logs and propose the settings its conventions need.

\b
A center names its escalation queue, its IVR extension, its wrap-up pause
reason and its ring timeout its own way.  `cadet inspect` reads the logs as
`cadet ingest` would (nothing is written to the lake), and writes a settings
file with a proposal for each convention the logs show, every value with its
evidence in a comment: queues and their volumes; transfer targets and how
soon after answering (escalation queues, IVR extensions or self-service
numbers); pause reasons with count, median length, the share starting right
after a call (wrap-up) and the share starting together across many reps
(outages); reps under several interfaces; the ring timeout from the
ring-no-answer ring times; the site's UTC offset where the logs show it;
Amazon Connect's status names and the supervisors who monitor calls.
Review the file, then pass it with `cadet --config FILE ...`.

\b
Exit status: 0 when the logs could be profiled, 1 when none could be read,
2 for a usage error.

\b
Examples:
  cadet inspect --source asterisk /var/log/asterisk/ --out site.yaml
  cadet inspect --source amazon-connect ./ctr/ ./agent-events/
  cadet --config site.yaml run --source asterisk /var/log/asterisk/
"""
)
@click.option("--source", type=click.Choice(FORMATS), required=True, help="The platform that wrote the files.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the proposed settings here (default: print them).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def inspect(obj: Context, source: str, out: Path | None, paths: tuple[Path, ...]):
    import datetime as dt

    from pipelines.inputs import find_input_files
    from pipelines.inspect import inspect_logs, render
    from pipelines.storage import write_text_atomic

    check_source(source, paths)
    files = find_input_files(source, list(paths))
    if not files:
        raise click.ClickException(f"no {source} files found in {', '.join(map(str, paths))}")
    with working(f"profiling {len(files)} {source} file(s)"):
        profile = inspect_logs(source, files, obj.config)
    text = render(profile, dt.date.today().isoformat())
    if out is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        for p in profile.proposals:
            click.echo(f"proposed {p.key}: {p.value if p.value is not None else '(see the comment)'}")
        click.echo(f"{len(profile.proposals)} proposal(s) with their evidence in {out}")
    if profile.problems and not profile.facts:
        for problem in profile.problems:
            click.echo(f"cadet inspect: {problem}", err=True)
        sys.exit(1)


@click.command(
    help="""Write the analyst's HTML report (and a CSV) for a scoring run.

\b
`cadet score` and `cadet run` already write report.html and flagged.csv next
to scores.parquet; this command writes them again, e.g. after verdicts were
recorded or with other report settings.  FOLDER is a report folder
(<home>/reports/<run>); by default the newest one.  The page is one
self-contained file (no network, no script): open it from disk or in MLflow's
artifact viewer.  It holds a summary (reps scored, flagged per tier and
behaviour, data range, sources, what was not observable), the ranked flagged
reps, and a section per flagged rep: each behaviour's evidence in words, the
rep against peers, the worst days as states against queue volume, example
call ids and the model's top features.

\b
Examples:
  cadet report
  cadet report ./cadet-data/reports/3f2a9c.../
"""
)
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_obj
def report(obj: Context, folder: Path | None):
    from pipelines.report import latest_report, write_report

    folder = folder or latest_report(obj.home)
    if folder is None or not (folder / "scores.parquet").exists():
        click.echo(f"cadet report: no scores under {obj.home.reports}: run `cadet score` (or `cadet run`) first", err=True)
        sys.exit(1)
    with working("writing the report"):
        written = write_report(obj.home, folder, obj.config)
    click.echo(f"{written['flagged']} flagged reps, {written['sections']} with a section of their own; "
               f"spreadsheet: {written['csv']}")
    click.echo(written["report"])


@click.command(
    help="""Record an analyst's verdict on a flagged rep, or list the verdicts.

\b
Verdicts: confirmed (the rep was avoiding calls), dismissed (the flag was
wrong; --reason is required), needs-more-data.  Each is kept under
<home>/reviews, one file per verdict, never rewritten; the last one for a rep
and window is the one in force.  A dismissed flag is not raised again while
the rep shows the same behaviours (for review.dismissal_days after it); the
report lists it as "previously dismissed".  Confirmed and dismissed flags are
the labels `cadet train`'s confirmed-flags gate judges a new model on.
The window defaults to the rep's highest-scored window in the newest report.
A verdict on a window that was not flagged (tier clear) would become a
training label nobody asked for: cadet refuses it unless you pass --force.

\b
Examples:
  cadet review agent1025 --verdict confirmed --by alice --note "listened to 5 calls"
  cadet review agent1046 --verdict dismissed --reason "headset fault, ticket 4411" --by bob
  cadet review agent1046 --window 2026-01-12 --verdict needs-more-data --by bob
  cadet review --list
"""
)
@click.argument("rep_id", required=False)
@click.option("--verdict", type=click.Choice(["confirmed", "dismissed", "needs-more-data"]), help="The analyst's verdict.")
@click.option("--by", "reviewer", envvar="CADET_REVIEWER", show_envvar=True, help="Who reviewed (name or e-mail).")
@click.option("--reason", default=None, help="Why the flag was dismissed (required for dismissed).")
@click.option("--note", default=None, help="Anything the next analyst should know.")
@click.option("--window", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Window start (YYYY-MM-DD).")
@click.option("--report", "report_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Report folder the flag comes from (default: the newest).")
@click.option("--list", "list_verdicts", is_flag=True, help="Print every verdict recorded, oldest first.")
@click.option("--force", is_flag=True, help="Record a verdict on a window that was not flagged (tier clear).")
@click.pass_obj
def review(obj: Context, rep_id, verdict, reviewer, reason, note, window, report_dir, list_verdicts: bool, force: bool):
    import pandas as pd

    from models.review import NoSuchWindow, window_under_review
    from pipelines.report import latest_report
    from pipelines.review import read_verdicts, record_verdict

    if list_verdicts:
        verdicts = read_verdicts(obj.home)
        if rep_id:
            verdicts = verdicts[verdicts.rep_id == rep_id]
        rows = [(v.recorded_at.strftime("%Y-%m-%d %H:%M"), v.rep_id, str(v.period_start), v.verdict, v.reviewer,
                 text_cell(v.reason), ", ".join(v.behaviours if isinstance(v.behaviours, list) else []), text_cell(v.note))
                for v in verdicts.itertuples()]
        print_rows("Verdicts", ["recorded", "rep", "window", "verdict", "by", "reason", "behaviours", "note"], rows)
        return
    if not rep_id or not verdict:
        raise click.UsageError("give REP_ID and --verdict (or --list)")
    if not reviewer:
        raise click.UsageError("say who reviewed: --by NAME (or set CADET_REVIEWER)")
    folder = report_dir or latest_report(obj.home)
    if folder is None:
        click.echo(f"cadet review: no scores under {obj.home.reports}: run `cadet score` first", err=True)
        sys.exit(1)
    try:
        row = window_under_review(pd.read_parquet(folder / "scores.parquet"), rep_id, window.date() if window else None)
    except NoSuchWindow as missing:
        click.echo(f"cadet review: {missing} ({folder / 'scores.parquet'})", err=True)
        sys.exit(1)
    if row.tier == "clear" and not force:
        raise click.UsageError(f"{rep_id} was not flagged in the window {row.period_start} - {row.period_end} (score "
                               f"{row.score:.2f}, clear): a verdict there becomes a training label; pass --force if you "
                               "mean it, or --window for a flagged window")
    try:
        path = record_verdict(obj.home, rep_id, row.period_start, row.period_end, verdict, reviewer, reason, note,
                              list(row.behaviours), list(row.rule_hits))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{verdict}: {rep_id}, window {row.period_start} - {row.period_end} "
               f"({', '.join(row.behaviours) or 'no behaviour named'}), by {reviewer}; kept in {path}")
    if verdict == "dismissed":
        click.echo("the same flag will show as 'previously dismissed' from the next `cadet score` / `cadet report` on")
