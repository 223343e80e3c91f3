"""The pipeline's commands: `ingest`, `features`, `train`, `score`, and `run`, which chains them.

Each runs its stage's Prefect flow on the home; what a stage needs is checked
first, and its summary is printed as tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipelines.cli.context import FORMATS, Context, as_date, check_key, check_range, check_source, fail, hold_home, iso, prefect_defaults
from pipelines.cli.output import print_rows, progress_bar, working
from pipelines.failures import EXIT_THIN_DATA, RunFailed


@click.command(
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

    check_source(source, paths)
    hold_home(obj.home, "ingest")
    check_key(obj.home, "ingest")
    prefect_defaults(obj.home)  # before Prefect is imported: it reads its settings then
    from pipelines.ingest import ingest_flow

    try:
        with progress_bar(f"ingest {source}"):
            summary = ingest_flow(source, [str(p) for p in paths], str(obj.home), obj.settings)
    except RunFailed as failure:
        if failure.summary.get("files"):
            _print_ingest(failure.summary)
        fail("ingest", failure)
    _print_ingest(summary)
    if as_json:
        click.echo(json.dumps(summary))


@click.command(
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
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, envvar="CADET_WORKERS", show_envvar=True,
              help="Worker processes for the windows (0 = one per core; 1 = one window at a time, in this process); "
                   "memory grows with each.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line summarising the run.")
@click.pass_obj
def features(obj: Context, start, end, list_features: bool, workers: int, as_json: bool):
    import json

    if list_features:
        from features.catalog import DERIVED, FEATURES

        rows = [(f.name, f.code or "(context)", f.unit, ", ".join(f.needs) or "-", f.description) for f in FEATURES]
        rows += [(d.name, d.code, d.unit, "offers, callers", d.description) for d in DERIVED.values()]
        print_rows("Features", ["feature", "behaviour", "unit", "needs", "meaning"], rows)
        return
    obj.check_rules()
    summary = _stage(obj, "features", progress_bar("features"), "pipelines.features_flow:features_flow", iso(start),
                     iso(end), workers)
    _print_features(summary)
    if as_json:
        click.echo(json.dumps(summary, default=str))


@click.command(
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

    summary = _stage(obj, "train", working("training the model and logging it to MLflow (Prefect flow)"),
                     "pipelines.training:train_flow", iso(start), iso(end))
    _print_training(summary)
    if as_json:
        click.echo(json.dumps(summary, default=str))
    if summary.get("skipped"):
        sys.exit(EXIT_THIN_DATA)


@click.command(
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
    summary = _stage(obj, "score", working("scoring reps with the champion model and the rules (Prefect flow)"),
                     "pipelines.scoring:score_flow", iso(start), iso(end))
    _print_scoring(summary)
    click.echo(summary["report"])


@click.command(
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
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, envvar="CADET_WORKERS", show_envvar=True,
              help="Worker processes for the feature windows (0 = one per core; 1 = one window at a time, in this process).")
@click.option("--only-changed", is_flag=True,
              help="Skip files ingested before and unchanged since (size and time); for scheduled runs over a drop folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line summarising every step before the report folder.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def run(obj: Context, source: str, start, end, workers: int, only_changed: bool, as_json: bool, paths: tuple[Path, ...]):
    import json

    obj.check_rules()
    check_range(iso(start), iso(end))
    check_source(source, paths)
    hold_home(obj.home, "run")
    check_key(obj.home, "run")
    prefect_defaults(obj.home)
    from pipelines.run import run_flow

    failed = None
    try:
        with progress_bar(f"run {source}"):
            summary = run_flow(source, [str(p) for p in paths], str(obj.home), obj.settings, iso(start), iso(end),
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
        fail("run", failed)
    if summary.get("nothing_new"):
        click.echo(f"cadet run: {summary['nothing_new']}; nothing to score")
        return
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

    check_range(start, end)
    lake = Lake(obj.home.lake)
    if name == "features" and not lake.days("calls"):
        fail(name, RunFailed(f"the lake under {obj.home} has no calls yet: run `cadet ingest` (or `cadet run`) on the "
                              "platform's logs first, or pass the --home that holds them"))
    if name in ("train", "score") and not lake.days("rep_window_features", *map(as_date, (start, end))):
        fail(name, RunFailed(f"no window features under {obj.home} for that range: run `cadet features` first "
                              "(or `cadet run`), or pass the --home that holds them"))
    hold_home(obj.home, name)
    prefect_defaults(obj.home)
    module, function = flow_ref.split(":")
    flow = getattr(importlib.import_module(module), function)
    try:
        with progress:
            return flow(str(obj.home), obj.settings, start, end, *args)
    except RunFailed as failure:
        fail(name, failure)


def _print_ingest(summary: dict) -> None:
    rows = [(f["file"], f["table"] or "-", f["read"], f["landed"], f["quarantined"], f.get("skipped", 0),
             f["error"] or (f"skipped: {f['skipped_because']}" if f.get("skipped") else "")) for f in summary["files"]]
    print_rows("Ingest", ["file", "table", "read", "landed", "quarantined", "skipped", "problem"], rows, numbers_from=2,
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
    print_rows("Windows", ["from", "to", "reps", "rule hits", "high", "medium", "low", "reps flagged (medium+)"], rows, numbers_from=2)
    codes: dict[str, int] = {}
    for w in summary["windows"]:
        for code, n in w["hits_by_code"].items():
            codes[code] = codes.get(code, 0) + n
    if codes:
        print_rows("Rule hits by behaviour", ["behaviour", "hits"], sorted(codes.items()), numbers_from=1)
    for w in summary["windows"]:
        if w.get("empty"):
            click.echo(f"window {w['period_start']} .. {w['period_end']} is empty: {w['empty']}")
    blind = {(b["rule_id"], b["missing"]) for w in summary["windows"] for b in w["not_observable"]}
    for rule_id, missing in sorted(blind):
        click.echo(f"not observable from this source: {rule_id} (needs {missing})")
    processes = summary.get("workers", 1)
    computed = f" (computed in {processes} worker processes)" if processes > 1 else ""
    click.echo(f"features and rule hits for {summary['start']} .. {summary['end']} are in {summary['lake']}{computed}")


def _print_training(summary: dict) -> None:
    if summary.get("skipped"):
        click.echo(f"no model trained: {summary['skipped']}")
        return
    rows = [(g["name"], "pass" if g["passed"] else "FAIL", g["reason"]) for g in summary["gates"]]
    print_rows("Promotion gates", ["gate", "result", "why"], rows)
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
    print_rows("Highest scores", ["rep", "window", "score", "tier", "behaviours"], rows)
    tiers = summary["tiers"]
    scored_with = f"model version {summary['model_version']}" if summary["model_version"] else "the rules alone"
    click.echo(f"{summary['rep_windows']:,} rep-windows scored with {scored_with}: "
               f"{tiers['investigate']} investigate, {tiers['watch']} watch, {tiers['clear']} clear; MLflow run {summary['run_id']}")
    click.echo(f"analyst's report: {summary['html']} (spreadsheet: {summary['csv']})")
