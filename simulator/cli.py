"""The simulator's commands, `cadet simulate` and `cadet demo`, added to `cadet` through an entry point.

The simulator is an application of its own on top of cadet: it writes logs
with ground truth, and the demo runs cadet on them.  The world (queues,
callers, staffing, who avoids calls) comes from --world; the site (its time
zone, allotted wrap-up) from cadet's settings, so a simulated centre is the
site cadet is configured for.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipelines.cli.context import FORMATS, Context, fail, hold_home, prefect_defaults
from pipelines.cli.output import print_frame, print_rows, progress_bar
from pipelines.failures import RunFailed
from pipelines.home import Home

if TYPE_CHECKING:  # the settings import cadet's settings models (pandas, scikit-learn): loaded when a command runs
    from simulator.settings import SimulationConfig

WORLD = click.option(
    "--world", "world_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar="CADET_WORLD",
    show_envvar=True, default=None,
    help="YAML file of the simulated centre (see configs/simulation.yaml) [default: the built-in centre].")


def world_of(path: Path | None) -> SimulationConfig:
    """The world file, or the built-in centre; a bad file stops the command with key and reason."""
    from pipelines.config import ConfigError
    from simulator.settings import load_world

    try:
        return load_world(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def run_simulation(obj: Context, world: SimulationConfig, reps: int, days: int, seed: int, fmt: str, out: Path,
                   file_format: str, workers: int | None, quiet: bool):
    """Simulate the centre and write its logs and truth.json to `out`; the centre, the files and the seconds taken."""
    from simulator import simulate
    from simulator.writers import write_amazon_connect, write_asterisk, write_canonical, write_truth

    site = obj.config.site
    started = time.perf_counter()
    with progress_bar("simulate", "drawing reps", shown=not quiet) as report:
        center = simulate(world, reps, days, seed, site=site, workers=workers, progress=report)
        report(0, 1, f"writing {fmt} files")
        if fmt == "canonical":
            paths = write_canonical(center.tables, out, file_format)
        elif fmt == "asterisk":
            paths = write_asterisk(center.tables, center.truth, out, site.timezone)
        else:
            paths = write_amazon_connect(center.tables, center.truth, out, seed)
        paths.append(write_truth(dict(center.truth, format=fmt), out))
    return center, paths, time.perf_counter() - started


@click.command(
    help="""Simulate a contact center with known avoiders, and write its logs.

\b
The simulation is seeded and deterministic: the same --reps, --days, --seed,
world (--world) and site (--config) always give the same files.  Queues with skills, intraday and
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
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True, help="Calendar days to simulate, from the world's start_date (Sundays are closed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; same seed, same center.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="canonical", show_default=True, help="Which platform's log format to write.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder [default: <home>/simulated/<format>].")
@click.option("--file-format", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True, help="Canonical format only: CSV for people, Parquet for speed.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes for routing (one week each) [default: all cores].")
@click.option("--quiet", is_flag=True, help="No progress bars; print only the summary.")
@WORLD
@click.pass_obj
def simulate(obj: Context, reps, days, seed, fmt, out, file_format, workers, quiet, world_path):
    out = out or obj.home.simulated(fmt)
    center, paths, elapsed = run_simulation(obj, world_of(world_path), reps, days, seed, fmt, out, file_format, workers, quiet)
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


@click.command(
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
@WORLD
@click.pass_obj
def demo(obj: Context, reps, days, seed, world_path):
    import pandas as pd

    from features.kpis import center_kpis, rep_kpis

    # The simulated logs stand for a platform's export: they hold raw caller numbers,
    # so they live beside the home, not in it.
    world = world_of(world_path)
    out = demo_input_folder(obj.home)
    center, paths, elapsed = run_simulation(obj, world, reps, days, seed, "canonical", out, "csv", None, False)
    click.echo(f"\nSimulated {reps} reps over {days} days in {elapsed:.1f} s -> {out}")

    prefect_defaults(obj.home)
    from pipelines.lake import Lake
    from pipelines.run import run_flow

    started = time.perf_counter()
    hold_home(obj.home, "demo")
    try:
        with progress_bar("demo"):
            summary = run_flow("canonical", [str(out)], str(obj.home), obj.settings)
    except RunFailed as failure:
        fail("demo", failure)
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
    print_frame("Mean KPIs by role, from the lake (truth from truth.json)", by_role)
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
    print_rows("Scored reps on a list (best window per rep) and the truth", ["rep", "tier", "score", "behaviours", "truth"], rows)
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
    print_rows("Flagged reps (medium or high rule hits) and the truth", ["rep", "flagged for", "truth", "strongest evidence"], rows)
    avoiders = truth[truth.role == "avoider"]
    caught = sum(1 for rep, row in avoiders.iterrows() if set(row.behaviours) & set(serious.loc[serious.rep_id == rep, "code"]))
    others = serious.loc[~serious.rep_id.isin(avoiders.index), "rep_id"].nunique()
    click.echo(f"{caught} of {len(avoiders)} avoiders flagged for their own behaviour; "
               f"{others} other reps flagged (medium or high); low hits are watch items, see rule_hits in the lake.")


def demo_input_folder(home: Home) -> Path:
    """Where the demo's simulated export goes: beside the home, e.g. ./cadet-data-demo-input."""
    return home.root.parent / f"{home.root.name}-demo-input"
