"""The `cadet` command line.

Heavy libraries (pandas, Prefect, MLflow) are imported inside the commands that
need them, so `cadet --help` answers at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import click

from pipelines.config import ConfigError, Settings, load_settings
from pipelines.failures import EXIT_INTERRUPTED, EXIT_THIN_DATA, RunFailed, error_chain, on_interrupt, was_interrupted
from pipelines.home import Home
from pipelines.inputs import SOURCES

FORMATS = tuple(s.value for s in SOURCES)
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


@click.group(help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def _progress_printer(quiet: bool):
    """A rich progress display for the simulator's stages (silent with --quiet or when piped)."""
    if quiet:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=False, disable=not sys.stderr.isatty(), console=None,
    )
    tasks: dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, report


def run_simulation(obj: Context, reps: int, days: int, seed: int, fmt: str, out: Path, file_format: str, workers, quiet: bool):
    from pipelines.simulator import simulate
    from pipelines.simulator.writers import write_amazon_connect, write_asterisk, write_canonical, write_truth

    config = obj.config
    bar, report = _progress_printer(quiet)
    started = time.perf_counter()
    if bar is not None:
        bar.start()
    try:
        center = simulate(config, reps, days, seed, workers=workers, progress=report)
        if report:
            report(f"writing {fmt} files", 0, 1)
        if fmt == "canonical":
            paths = write_canonical(center.tables, out, file_format)
        elif fmt == "asterisk":
            paths = write_asterisk(center.tables, center.truth, out, config.site.timezone)
        else:
            paths = write_amazon_connect(center.tables, center.truth, out, seed)
        paths.append(write_truth(dict(center.truth, format=fmt), out))
        if report:
            report(f"writing {fmt} files", 1, 1)
    finally:
        if bar is not None:
            bar.stop()
    return center, paths, time.perf_counter() - started


@cli.command(
    help="""Simulate a contact center with known avoiders, and write its logs.

\b
The simulation is seeded and deterministic: the same --reps, --days, --seed
and settings always give the same files.  Queues with skills, intraday and
weekday peaks, caller patience and abandonment, repeat callers and callbacks,
an IVR with self-service, longest-idle routing with a ring timeout, holds,
transfers, escalation to tier 2, wrap-up, outbound calls, surveys, shifts,
breaks, lunch and meetings.  A share of reps avoid calls (every behaviour code),
and confounders (harder queue, new hires, part-timers, a site-wide outage, an
accidental do-not-disturb hour, heavy meeting schedules) must not be flagged.

\b
Output in --out:
  canonical       calls, offers, agent_states, surveys, schedules, reps (.csv or .parquet)
  asterisk        queue_log, Master.csv (CDR), surveys.csv, schedules.csv, reps.csv
  amazon-connect  contact_records.jsonl, agent_events.jsonl, schedules.csv, reps.csv
and truth.json: each rep's role (honest / avoider / confounder) and behaviours.

\b
Examples:
  cadet simulate --reps 50 --days 7 --out ./sim
  cadet simulate --reps 1000 --days 30 --format asterisk --out ./big --seed 7
"""
)
@click.option("--reps", type=click.IntRange(1, 20000), default=100, show_default=True, help="Number of reps (agents) in the center.")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True, help="Calendar days to simulate, from simulation.start_date (Sundays are closed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; same seed, same center.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="canonical", show_default=True, help="Which platform's log format to write.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder [default: <home>/simulated/<format>].")
@click.option("--file-format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True, help="Canonical format only: CSV for people, Parquet for speed.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes for routing (one week each) [default: all cores].")
@click.option("--quiet", is_flag=True, help="No progress bars; print only the summary.")
@click.pass_obj
def simulate(obj: Context, reps, days, seed, fmt, out, file_format, workers, quiet):
    out = out or obj.home.simulated(fmt)
    center, paths, elapsed = run_simulation(obj, reps, days, seed, fmt, out, file_format, workers, quiet)
    roles = {}
    for rep in center.truth["reps"]:
        roles[rep["role"]] = roles.get(rep["role"], 0) + 1
    click.echo(f"simulated {reps} reps x {days} days (seed {seed}) in {elapsed:.1f} s")
    click.echo(
        "  " + ", ".join(f"{name}: {center.tables[name].num_rows:,} rows" for name in ("calls", "offers", "agent_states", "surveys"))
    )
    click.echo(f"  {center.events:,} activity events ({center.events / elapsed:,.0f} events/s)")
    click.echo("  reps: " + ", ".join(f"{k} {v}" for k, v in sorted(roles.items())))
    click.echo(f"wrote {len(paths)} files to {out}")


@cli.command(
    help="""Simulate a center and show what cadet sees in it.

\b
Runs end to end on the embedded defaults: simulates about 100 reps over two
weeks with every avoidance behaviour and every confounder present, writes the
canonical files beside the home (<home>-demo-input), then does what
`cadet run --source canonical <home>-demo-input` does (one Prefect flow:
ingest into the lake, features and rule checks, a first model in MLflow,
scores), prints the center's service levels and each role's KPIs, and lists
the flagged reps with their evidence and tier next to the truth.
"""
)
@click.option("--reps", type=click.IntRange(10, 2000), default=100, show_default=True, help="Reps in the demo center.")
@click.option("--days", type=click.IntRange(7, 90), default=14, show_default=True, help="Days to simulate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.pass_obj
def demo(obj: Context, reps, days, seed):
    import pandas as pd

    from features.kpis import center_kpis, rep_kpis

    # The simulated logs stand for a platform's export: they hold raw caller numbers,
    # so they live beside the home, not in it.
    out = demo_input_folder(obj.home)
    center, paths, elapsed = run_simulation(obj, reps, days, seed, "canonical", out, "csv", None, False)
    click.echo(f"\nSimulated {reps} reps over {days} days in {elapsed:.1f} s -> {out}")

    _prefect_defaults(obj.home)
    from pipelines.lake import Lake
    from pipelines.run import run_flow

    started = time.perf_counter()
    _hold_home(obj.home, "demo")
    try:
        with _flow_progress("demo"):
            summary = run_flow("canonical", [str(out)], str(obj.home), obj.settings)
    except RunFailed as failure:
        _fail("demo", failure)
    ingested, scored = summary["ingest"], summary["score"]
    click.echo(
        f"`cadet run` (ingest, features, train, score: one Prefect flow) took {time.perf_counter() - started:.1f} s: "
        f"{ingested['landed']:,} rows landed in {ingested['lake']}, {ingested['quarantined']:,} quarantined, "
        f"{len(summary['features']['windows'])} weekly windows, model version {scored['model_version']}"
    )
    lake = Lake(ingested["lake"])
    t = {name: lake.read(name).to_pandas() for name in ("calls", "offers", "surveys")}
    service = center_kpis(t["calls"], t["surveys"])
    click.echo(
        f"Center: {service['offered_calls']:,.0f} queued calls, abandonment {service['abandonment_rate']:.1%}, "
        f"ASA {service['asa_seconds']:.0f} s, service level (20 s) {service['service_level_20s']:.0%}, "
        f"AHT {service['aht_seconds']:.0f} s, CSAT {service['csat']:.2f}/5"
    )
    kpis = rep_kpis(t["calls"], t["offers"], t["surveys"])
    truth = pd.DataFrame(center.truth["reps"]).set_index("rep_id")
    kpis = kpis.join(truth[["role", "confounder", "behaviours"]])
    kpis["who"] = kpis["role"].where(kpis["role"] != "confounder", "confounder: " + kpis["confounder"].fillna(""))
    columns = ["answer_rate", "aht_seconds", "hold_seconds", "wrapup_seconds", "transfer_rate", "short_call_rate", "csat"]
    by_role = kpis.groupby("who")[columns].mean()
    by_role.insert(0, "reps", kpis.groupby("who").size())
    _print_frame("Mean KPIs by role, from the lake (truth from truth.json)", by_role)
    _print_flags(lake, truth)
    _print_scores(Path(scored["report"]), truth)
    click.echo(
        f"\nInput: {out}  (truth: {out / 'truth.json'})\nLake: {ingested['lake']}\n"
        f"Scores: {scored['report']}/scores.parquet\nReport: {scored['html']}  (open it in a browser; "
        f"spreadsheet: {scored['csv']})\nMLflow: {scored['tracking_uri']}"
    )


def _print_scores(report: Path, truth) -> None:
    """Reps on the investigate and watch lists (their highest window), next to the truth."""
    import pandas as pd

    scores = pd.read_parquet(report / "scores.parquet")
    flagged = scores[scores.tier != "clear"].sort_values("score", ascending=False).drop_duplicates("rep_id")
    rows = []
    for row in flagged.itertuples():
        actual = truth.loc[row.rep_id] if row.rep_id in truth.index else None
        said = "" if actual is None else (", ".join(actual.behaviours) or (actual.confounder or actual.role))
        rows.append((row.rep_id, row.tier, f"{row.score:.2f}", ", ".join(row.behaviours) or "-", said))
    _print_rows("Scored reps on a list (best window per rep) and the truth", ["rep", "tier", "score", "behaviours", "truth"], rows)
    investigate = set(flagged.loc[flagged.tier == "investigate", "rep_id"])
    avoiders = set(truth.index[truth.role == "avoider"])
    click.echo(f"investigate: {len(investigate)} reps, {len(investigate & avoiders)} of them avoiders "
               f"(of {len(avoiders)}); watch: {int((flagged.tier == 'watch').sum())} reps")


def _print_flags(lake, truth) -> None:
    """Reps with a medium or high rule hit, their behaviours and strongest evidence, next to the truth."""
    hits = lake.read("rule_hits").to_pandas()
    serious = hits[hits.severity != "low"]
    rows = []
    for rep, mine in serious.sort_values("z", ascending=False).groupby("rep_id", sort=False):
        truth_row = truth.loc[rep] if rep in truth.index else None
        actual = "" if truth_row is None else (", ".join(truth_row.behaviours) or (truth_row.confounder or truth_row.role))
        rows.append((rep, ", ".join(sorted(set(mine.code))), actual, mine.evidence.iloc[0]))
    _print_rows("Flagged reps (medium or high rule hits) and the truth", ["rep", "flagged for", "truth", "strongest evidence"], rows)
    avoiders = truth[truth.role == "avoider"]
    caught = sum(1 for rep, row in avoiders.iterrows() if set(row.behaviours) & set(serious.loc[serious.rep_id == rep, "code"]))
    others = serious.loc[~serious.rep_id.isin(avoiders.index), "rep_id"].nunique()
    click.echo(f"{caught} of {len(avoiders)} avoiders flagged for their own behaviour; "
               f"{others} other reps flagged (medium or high); low hits are watch items, see rule_hits in the lake.")


def demo_input_folder(home: Home) -> Path:
    """Where the demo's simulated export goes: beside the home, e.g. ./cadet-data-demo-input."""
    return home.root.parent / f"{home.root.name}-demo-input"


def _print_frame(title, frame) -> None:
    rows = []
    for index, *row in frame.itertuples():
        cells = [str(index)]
        for value in row:
            if isinstance(value, float):
                cells.append("n/a" if value != value else (f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"))
            else:
                cells.append(str(value))
        rows.append(cells)
    _print_rows(title, [frame.index.name or "", *frame.columns], rows, numbers_from=1)


def _text(value) -> str:
    """An optional text field for a table cell: empty, never 'None' or 'nan'."""
    return value if isinstance(value, str) else ""


def _iso(day) -> str | None:
    """A --start/--end option's date as the flows take it."""
    return day.date().isoformat() if day else None


def _print_rows(title: str, columns: list, rows: list, numbers_from: int | None = None, stderr: bool = False) -> None:
    """A rich table; columns from `numbers_from` on are right-aligned."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(str(column), justify="right" if numbers_from is not None and i >= numbers_from else "left")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    Console(width=160, stderr=stderr).print(table)


def _working(message: str):
    """A spinner with elapsed time on stderr while a long step runs (nothing when not a terminal)."""
    import contextlib

    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(message)


def _prefect_defaults(home: Home) -> None:
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
        with _working("starting cadet's local Prefect server"):
            start_embedded(home)


def _prefect_set_in_process() -> bool:
    """A Prefect API chosen inside this process (a test harness's settings), not through the environment."""
    if "prefect" not in sys.modules:
        return False
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


@cli.command(
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

    _check_source(source, paths)
    files = find_input_files(source, list(paths))
    if not files:
        raise click.ClickException(f"no {source} files found in {', '.join(map(str, paths))}")
    with _working(f"profiling {len(files)} {source} file(s)"):
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


@cli.command(
    help="""Read call-activity logs into the lake under --home.

\b
Every PATH is a file or a folder; in a folder, the files are recognised by
their names and contents: canonical tables (calls.csv, offers.parquet, ...);
for Asterisk, queue_log* (or its database export), Master*.csv CDRs, a
surveys CSV (call_id,score[,surveyed_at]) and schedules/reps beside them.  Good rows are
merged into the Parquet lake by key (re-running the same input changes
nothing); bad rows go to <home>/quarantine with file, line and reason.
Caller numbers are replaced by keyed pseudonyms before anything is written.
Runs as a Prefect flow (a local server for the command unless PREFECT_API_URL is set).

\b
Exit status: 0 when something usable was read, 1 when nothing was, 2 for a
usage error (unknown source, missing path), 4 when another cadet is working
on the same home, 5 when the Prefect server does not answer, 6 when the disk
is full or read-only or a path may not be read.

\b
Examples:
  cadet ingest --source canonical ./exports/
  cadet ingest --source canonical calls.csv offers.csv --json
  cadet ingest --source asterisk /var/log/asterisk/   # queue_log*, Master.csv, surveys.csv
  cadet ingest --source amazon-connect ./ctr/ ./agent-events/
"""
)
@click.option("--source", type=click.Choice(FORMATS), required=True, help="The platform that wrote the files.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line summarising the run, per file.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def ingest(obj: Context, source: str, as_json: bool, paths: tuple[Path, ...]):
    import json

    _check_source(source, paths)
    _hold_home(obj.home, "ingest")
    _prefect_defaults(obj.home)  # before Prefect is imported: it reads its settings then
    from pipelines.ingest import ingest_flow

    try:
        with _flow_progress(f"ingest {source}"):
            summary = ingest_flow(source, [str(p) for p in paths], str(obj.home), obj.settings)
    except RunFailed as failure:
        if failure.summary.get("files"):
            _print_ingest(failure.summary)
        _fail("ingest", failure)
    _print_ingest(summary)
    if as_json:
        click.echo(json.dumps(summary))


@cli.command(
    help="""Compute per-rep features and run the rule checks over the lake under --home.

\b
For every window (a week by default, `features.window_days` in the settings)
from --start to --end (default: every day in the lake) cadet computes, per
rep and day and per rep and window, one or more features for each behaviour
code, compares each rep with peers on the same queue, shift band, contract and
tenure (robust z-scores), and runs the rule checks of configs/rules.yaml.
Results land in the lake: rep_day_features, rep_window_features,
call_evidence, rule_hits, rules_not_observable.  Re-running a window
replaces it.  Rules whose evidence the source cannot show (queue_log has no
hold) are listed as not observable, never judged on zeros.

\b
Examples:
  cadet features                              # every window in the lake
  cadet features --start 2026-01-05 --end 2026-01-18
  cadet features --list                       # the feature catalogue
"""
)
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="First day (YYYY-MM-DD).")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Last day (YYYY-MM-DD), inclusive.")
@click.option("--list", "list_features", is_flag=True, help="Print every feature: behaviour code, unit, what it needs, meaning.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes for the windows (0 = one per core); memory grows with each.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line summarising the run.")
@click.pass_obj
def features(obj: Context, start, end, list_features: bool, workers: int, as_json: bool):
    import json

    if list_features:
        from features.catalog import DERIVED, FEATURES

        rows = [(f.name, f.code or "(context)", f.unit, ", ".join(f.needs) or "-", f.description) for f in FEATURES]
        rows += [(d.name, d.code, d.unit, "offers, callers", d.description) for d in DERIVED.values()]
        _print_rows("Features", ["feature", "behaviour", "unit", "needs", "meaning"], rows)
        return
    obj.check_rules()
    summary = _stage(obj, "features", _flow_progress("features"), "pipelines.features_flow:features_flow", _iso(start),
                     _iso(end), workers)
    _print_features(summary)
    if as_json:
        click.echo(json.dumps(summary, default=str))


@cli.command(
    help="""Train the isolation-forest model on the lake's window features and register it in MLflow.

\b
Needs `cadet features` first.  Every training is an MLflow run (parameters,
metrics, feature list, data range, the model) and a new version of the
registered model cadet-rep-anomaly.  The new version becomes the `champion`
only if it passes the promotion gates against the current champion (score
stability on the newest window, feature drift, and the analysts' confirmed
flags from `cadet review`); otherwise it stays a challenger and the output
says why.  The MLflow
store is <home>/mlflow (SQLite) unless MLFLOW_TRACKING_URI is set; browse it
with `mlflow ui --backend-store-uri sqlite:///<home>/mlflow/mlflow.db`.

\b
A center with fewer reps than `training.min_reps` (8) that can be compared
with peers gets no model: the line says so and the rules alone score it.

\b
Exit status: 0 trained, 1 on an error, 3 when there is too little data for a
model, 4 when another cadet is working on the same home, 5 when MLflow or
Prefect does not answer, 6 when the disk is full or read-only.

\b
Examples:
  cadet train
  cadet train --start 2026-01-05 --end 2026-02-01 --json
"""
)
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="First window start (YYYY-MM-DD).")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Last window start (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line summarising the run.")
@click.pass_obj
def train(obj: Context, start, end, as_json: bool):
    import json

    summary = _stage(obj, "train", _working("training the model and logging it to MLflow (Prefect flow)"),
                     "pipelines.training:train_flow", _iso(start), _iso(end))
    _print_training(summary)
    if as_json:
        click.echo(json.dumps(summary, default=str))
    if summary.get("skipped"):
        sys.exit(EXIT_THIN_DATA)


@cli.command(
    help="""Score every rep and window with the champion model and the rule hits.

\b
Needs `cadet features` first; trains a first model when none is the champion
yet.  Writes <home>/reports/<run>/scores.parquet, one row per rep and window:
rep_id, period_start, period_end, score (0-1, higher = more suspicious), tier
(investigate / watch / clear), behaviours (codes backed by evidence),
anomaly_score (the model's), rule_hits (rule ids), and how the score was made
(rule_score, model_score, sustained, top_features).  The run and the file are
logged to MLflow.  The last line of output is the report folder.

\b
Examples:
  cadet score
  cadet score --start 2026-01-12 --end 2026-01-18
"""
)
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="First window start (YYYY-MM-DD).")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Last window start (YYYY-MM-DD).")
@click.pass_obj
def score(obj: Context, start, end):
    summary = _stage(obj, "score", _working("scoring reps with the champion model and the rules (Prefect flow)"),
                     "pipelines.scoring:score_flow", _iso(start), _iso(end))
    _print_scoring(summary)
    click.echo(summary["report"])


def _stage(obj: Context, name: str, progress, flow_ref: str, start: str | None, end: str | None, *args) -> dict:
    """Run one stage's Prefect flow on the home and return its summary; a failed run stops cadet with its exit code.

    What the stage needs is checked first, so a simple mistake is told in a
    moment, not after a Prefect server has started.  The flow
    ("module:function") is imported only after the embedded Prefect defaults
    are set, because Prefect reads its settings when imported.
    """
    import importlib

    from pipelines.lake import Lake

    _check_range(start, end)
    lake = Lake(obj.home.lake)
    if name == "features" and not lake.days("calls"):
        _fail(name, RunFailed(f"the lake under {obj.home} has no calls yet: run `cadet ingest` (or `cadet run`) on the "
                              "platform's logs first, or pass the --home that holds them"))
    if name in ("train", "score") and not lake.days("rep_window_features", *map(_date, (start, end))):
        _fail(name, RunFailed(f"no window features under {obj.home} for that range: run `cadet features` first "
                              "(or `cadet run`), or pass the --home that holds them"))
    _hold_home(obj.home, name)
    _prefect_defaults(obj.home)
    module, function = flow_ref.split(":")
    flow = getattr(importlib.import_module(module), function)
    try:
        with progress:
            return flow(str(obj.home), obj.settings, start, end, *args)
    except RunFailed as failure:
        _fail(name, failure)


def _check_range(start: str | None, end: str | None) -> None:
    if start and end and end < start:
        raise click.UsageError(f"--end {end} is before --start {start}: swap them")


def _date(day: str | None):
    import datetime as dt

    return dt.date.fromisoformat(day) if day else None


def _check_source(source: str, paths) -> None:
    """Files that are plainly another platform's logs: say which --source they need, before anything runs."""
    from pipelines.inputs import wrong_source

    mismatch = wrong_source(source, list(paths))
    if mismatch:
        raise click.BadParameter(mismatch, param_hint="--source")


def _hold_home(home: Home, name: str) -> None:
    """Take the home's lock for the rest of the command, before Prefect starts: a second cadet on the same home
    is told at once who holds it (the flows take the same lock, so a run started elsewhere is guarded too)."""
    from pipelines.locking import HomeBusy, home_lock

    try:
        click.get_current_context().with_resource(home_lock(home, f"cadet {name}"))
    except HomeBusy as busy:
        _fail(name, busy)


def _fail(name: str, failure: RunFailed):
    click.echo(f"cadet {name}: {failure}", err=True)
    sys.exit(failure.exit_code)


def _print_ingest(summary: dict) -> None:
    rows = [(f["file"], f["table"] or "-", f["read"], f["landed"], f["quarantined"], f.get("skipped", 0),
             f["error"] or (f"skipped: {f['skipped_because']}" if f.get("skipped") else "")) for f in summary["files"]]
    _print_rows("Ingest", ["file", "table", "read", "landed", "quarantined", "skipped", "problem"], rows, numbers_from=2,
                stderr=True)
    click.echo(f"landed {summary['landed']:,} rows in {summary['lake']}; quarantined {summary['quarantined']:,} in {summary['quarantine']}")
    for warning in summary.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)


def _print_features(summary: dict) -> None:
    rows = [
        (w["period_start"], w["period_end"], w["reps"], w["hits"], w["hits_by_severity"].get("high", 0),
         w["hits_by_severity"].get("medium", 0), w["hits_by_severity"].get("low", 0), w["flagged_reps"])
        for w in summary["windows"]
    ]
    _print_rows("Windows", ["from", "to", "reps", "rule hits", "high", "medium", "low", "reps flagged (medium+)"], rows, numbers_from=2)
    codes: dict[str, int] = {}
    for w in summary["windows"]:
        for code, n in w["hits_by_code"].items():
            codes[code] = codes.get(code, 0) + n
    if codes:
        _print_rows("Rule hits by behaviour", ["behaviour", "hits"], sorted(codes.items()), numbers_from=1)
    for w in summary["windows"]:
        if w.get("empty"):
            click.echo(f"window {w['period_start']} .. {w['period_end']} is empty: {w['empty']}")
    blind = {(b["rule_id"], b["missing"]) for w in summary["windows"] for b in w["not_observable"]}
    for rule_id, missing in sorted(blind):
        click.echo(f"not observable from this source: {rule_id} (needs {missing})")
    click.echo(f"features and rule hits for {summary['start']} .. {summary['end']} are in {summary['lake']}")


def _print_training(summary: dict) -> None:
    if summary.get("skipped"):
        click.echo(f"no model trained: {summary['skipped']}")
        return
    rows = [(g["name"], "pass" if g["passed"] else "FAIL", g["reason"]) for g in summary["gates"]]
    _print_rows("Promotion gates", ["gate", "result", "why"], rows)
    if summary["promoted"]:
        click.echo(f"model {summary['model']} version {summary['version']} is the champion "
                   f"(trained on windows {summary['start']} .. {summary['end']}, {summary['rep_windows']:,} rep-windows)")
    else:
        click.echo(f"model {summary['model']} version {summary['version']} stays a challenger; "
                   f"the champion is still version {summary['champion']}")
    click.echo(f"MLflow: {summary['tracking_uri']} (run {summary['run_id']})")


def _print_scoring(summary: dict) -> None:
    if summary.get("no_model"):
        click.echo(f"no model: {summary['no_model']}")
    elif summary.get("trained_first"):
        click.echo(f"no champion yet: trained version {summary['trained_first']['version']} first")
    rows = [(t["rep_id"], t["period_start"], f"{t['score']:.2f}", t["tier"], ", ".join(t["behaviours"]) or "-")
            for t in summary["top"] if t["tier"] != "clear"]
    _print_rows("Highest scores", ["rep", "window", "score", "tier", "behaviours"], rows)
    tiers = summary["tiers"]
    scored_with = f"model version {summary['model_version']}" if summary["model_version"] else "the rules alone"
    click.echo(f"{summary['rep_windows']:,} rep-windows scored with {scored_with}: "
               f"{tiers['investigate']} investigate, {tiers['watch']} watch, {tiers['clear']} clear; MLflow run {summary['run_id']}")
    click.echo(f"analyst's report: {summary['html']} (spreadsheet: {summary['csv']})")


@cli.command(
    help="""Run the whole pipeline on new logs: ingest, features, train if needed, score.

\b
One Prefect flow (cadet-run) with the four steps as sub-flows, the same ones
`cadet ingest`, `cadet features`, `cadet train` and `cadet score` run.  Only
the windows holding a day that was ingested are recomputed and scored (pass
--start/--end to choose), so a nightly run stays as fast as the lake grows.
A first model is trained when no model is the champion yet; retraining an
existing champion is `cadet train`'s job (weekly, with promotion gates).
The last line of output is the report folder with scores.parquet.

\b
Exit status: 0 on success (also when nothing is new), 1 when nothing usable
was read or nothing could be scored (the flow run ends Failed), 2 for a usage
error, 4 when another cadet is working on the same home, 5 when the MLflow or
Prefect server does not answer, 6 when the disk is full or read-only or a path
may not be read, 130 when interrupted.

\b
Examples:
  cadet run --source asterisk /var/log/asterisk/
  cadet run --source amazon-connect ./ctr/ ./agent-events/
  cadet run --source canonical ./exports/ --start 2026-01-05 --end 2026-01-18
"""
)
@click.option("--source", type=click.Choice(FORMATS), required=True, help="The platform that wrote the files.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="First day to recompute and score (default: the first window an ingested day falls in).")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day to recompute and score (default: the last window an ingested day falls in).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes for the feature windows (0 = one per core).")
@click.option("--only-changed", is_flag=True,
              help="Skip files ingested before and unchanged since (size and time); for scheduled runs over a drop folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line summarising every step before the report folder.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def run(obj: Context, source: str, start, end, workers: int, only_changed: bool, as_json: bool, paths: tuple[Path, ...]):
    import json

    obj.check_rules()
    _check_range(_iso(start), _iso(end))
    _check_source(source, paths)
    _hold_home(obj.home, "run")
    _prefect_defaults(obj.home)
    from pipelines.run import run_flow

    failed = None
    try:
        with _flow_progress(f"run {source}"):
            summary = run_flow(source, [str(p) for p in paths], str(obj.home), obj.settings, _iso(start), _iso(end),
                               workers, only_changed)
    except RunFailed as failure:
        failed, summary = failure, {"ingest": None, "features": None, "trained": None, "score": None} | failure.summary
    if summary["ingest"] and summary["ingest"]["files"]:
        _print_ingest(summary["ingest"])
    if summary["features"]:
        _print_features(summary["features"])
    if summary["trained"]:
        _print_training(summary["trained"])
    if summary["score"]:
        _print_scoring(summary["score"])
    if as_json:
        click.echo(json.dumps(summary | ({"error": str(failed)} if failed else {}), default=str))
    if failed:
        _fail("run", failed)
    if summary.get("nothing_new"):
        click.echo(f"cadet run: {summary['nothing_new']}; nothing to score")
        return
    click.echo(summary["report"])


@contextlib.contextmanager
def _flow_progress(title: str):
    """A progress bar on stderr fed by the running flow (pipelines.progress); nothing when not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipelines import progress

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with Progress(SpinnerColumn(), TextColumn(f"[bold]{title}[/] {{task.description}}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting Prefect", total=None)
        progress.listen(lambda done, total, what: bar.update(task, completed=done, total=total, description=what))
        try:
            yield
        finally:
            progress.listen(None)


@cli.command(
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
    with _working("writing the report"):
        written = write_report(obj.home, folder, obj.config)
    click.echo(f"{written['flagged']} flagged reps, {written['sections']} with a section of their own; "
               f"spreadsheet: {written['csv']}")
    click.echo(written["report"])


@cli.command(
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

    from pipelines.report import latest_report
    from pipelines.review import read_verdicts, record_verdict

    if list_verdicts:
        verdicts = read_verdicts(obj.home)
        if rep_id:
            verdicts = verdicts[verdicts.rep_id == rep_id]
        rows = [(v.recorded_at.strftime("%Y-%m-%d %H:%M"), v.rep_id, str(v.period_start), v.verdict, v.reviewer,
                 _text(v.reason), ", ".join(v.behaviours if isinstance(v.behaviours, list) else []), _text(v.note))
                for v in verdicts.itertuples()]
        _print_rows("Verdicts", ["recorded", "rep", "window", "verdict", "by", "reason", "behaviours", "note"], rows)
        return
    if not rep_id or not verdict:
        raise click.UsageError("give REP_ID and --verdict (or --list)")
    if not reviewer:
        raise click.UsageError("say who reviewed: --by NAME (or set CADET_REVIEWER)")
    folder = report_dir or latest_report(obj.home)
    if folder is None:
        click.echo(f"cadet review: no scores under {obj.home.reports}: run `cadet score` first", err=True)
        sys.exit(1)
    scores = pd.read_parquet(folder / "scores.parquet")
    mine = scores[scores.rep_id == rep_id]
    if mine.empty:
        click.echo(f"cadet review: {rep_id!r} is not in {folder / 'scores.parquet'}; check the rep id in the report", err=True)
        sys.exit(1)
    if window is not None:
        row = mine[mine.period_start == window.date()]
        if row.empty:
            click.echo(f"cadet review: no window starting {window.date()} for {rep_id}; windows: "
                       + ", ".join(str(d) for d in sorted(mine.period_start)), err=True)
            sys.exit(1)
    else:
        row = mine.sort_values("score", ascending=False).head(1)
    row = row.iloc[0]
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


@cli.command(
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

    _check_source(source, paths)
    for cron in (nightly_cron, retrain_cron):
        try:
            Cron(cron)
        except ValueError as exc:
            raise click.BadParameter(f"{cron!r} is not a cron expression (minute hour day month weekday): {exc}") from exc
    _prefect_defaults(obj.home)
    from pipelines.schedule import serve_schedules

    home = obj.home.root.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config_path = str(obj.config_path.resolve()) if obj.config_path else None
    click.echo(f"serving cadet-run/nightly ({nightly_cron}) and cadet-train/weekly-retrain ({retrain_cron}), "
               f"{obj.config.site.timezone} time, for {home} on {os.environ['PREFECT_API_URL']}; Ctrl-C stops")
    serve_schedules(source, [str(p.resolve()) for p in paths], str(home), config_path, nightly_cron, retrain_cron,
                    obj.config.site.timezone)


@cli.command(
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


if __name__ == "__main__":
    main()
