"""Benchmark: the fixed costs of a cadet command and of `cadet features`, each beside its floor.

    uv run python benchmarks/bench_overheads.py                 # 300 reps x 7 days, 3 repeats
    uv run python benchmarks/bench_overheads.py --reps 1000 --repeats 5

1. Starting the window workers.  The features flow runs windows in Prefect's
   `ProcessPoolTaskRunner` (spawned processes that import cadet and Prefect
   before their first window).  Timed: a flow that opens the runner as the
   features flow does and runs one no-op task per worker, against the floor of
   a bare `ProcessPoolExecutor` (spawn) running the same no-op, and against the
   same flow run in-process (`--workers 1`'s path).
2. The stage contracts.  Every window's daily sums, window features and rule
   hits are validated (pandera, lazily) before they are written.  Timed: the
   three checks on one simulated window, against computing that window
   (reading it from the lake, daily sums, window features, the rule checks).

3. Starting a command.  Timed: `cadet --help`, against a bare interpreter
   (`python -c pass`); and `cadet ingest` of a one-line roster against a
   running Prefect server (the one the benchmark starts), against importing
   Prefect alone (what any command that runs a flow pays first).

The centre is cadet's own simulator (seed 1, canonical Parquet), ingested with
`cadet ingest` (not timed).  Prefect runs against a temporary local server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_features import ROOT, cadet, publish

sys.path.insert(0, str(ROOT))


def no_op(n: int) -> int:
    return n


def _best(seconds: list[float]) -> str:
    return f"{min(seconds):.2f} (median {statistics.median(seconds):.2f})"


def worker_start(workers: int, repeats: int) -> dict:
    """Seconds to the last no-op result: Prefect's pool in a flow, a bare spawn pool, and the flow in-process."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from pipelines.features_flow import window_runner
    from pipelines.orphans import children_end_with_me

    @task(cache_policy=NO_CACHE)
    def nothing(n: int) -> int:
        return n

    @flow
    def pooled() -> float:
        started = time.perf_counter()
        with children_end_with_me(), window_runner(workers, workers) as runner:
            futures = [runner.submit(nothing, {"n": n}) for n in range(workers)]
            [future.result() for future in futures]
        return time.perf_counter() - started

    @flow
    def in_process() -> float:
        started = time.perf_counter()
        [nothing(n) for n in range(workers)]
        return time.perf_counter() - started

    bare = []
    for _ in range(repeats):
        started = time.perf_counter()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(no_op, range(workers)))
        bare.append(time.perf_counter() - started)
    prefect_pool = [pooled() for _ in range(repeats)]
    serial = [in_process() for _ in range(repeats)]
    return {"workers": workers, "prefect_pool_s": _best(prefect_pool), "bare_spawn_pool_s": _best(bare),
            "in_process_s": _best(serial)}


def _timed(command: list[str], env: dict, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def command_start(work: Path, api_url: str, repeats: int) -> dict:
    """Seconds for `cadet --help` and a one-line ingest against a running Prefect server, each beside its floor."""
    env = dict(os.environ, PREFECT_API_URL=api_url)
    roster = work / "one-rep" / "reps.csv"
    roster.parent.mkdir(parents=True)
    roster.write_text("rep_id,name\nagent1,Ann\n")
    homes = iter(range(repeats))
    ingest = []
    for _ in range(repeats):
        home = work / f"one-line-home-{next(homes)}"
        ingest += _timed([sys.executable, "-m", "pipelines.cli", "--home", str(home), "ingest", "--source", "canonical",
                          str(roster)], env, 1)
    return {"help_s": _best(_timed([sys.executable, "-m", "pipelines.cli", "--help"], env, repeats)),
            "bare_python_s": _best(_timed([sys.executable, "-c", "pass"], env, repeats)),
            "one_line_ingest_s": _best(ingest),
            "import_prefect_s": _best(_timed([sys.executable, "-c", "import prefect"], env, repeats))}


def contracts(home: Path, repeats: int) -> dict:
    """Seconds for the three stage checks on one window, and for computing that window."""
    from features.daily import rep_day_features
    from features.windows import rep_window_features
    from models.rules import RuleSet
    from pipelines.config import load_settings
    from pipelines.contracts import RepDaySums, RepWindowFeatures, RuleHits, check
    from pipelines.features_flow import known_customers, lake_date_range, read_window
    from pipelines.lake import Lake

    settings = load_settings(None)
    config = settings.config
    lake = Lake(home / "lake")
    start, _ = lake_date_range(lake)
    end = start + dt.timedelta(days=config.features.window_days - 1)
    computing, checking = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        tables = read_window(lake, start, end, config)
        daily = rep_day_features(tables, config.features, config.site.timezone, config.site.allotted_wrapup_seconds,
                                 start, end, known_customers(lake, start, end, config))
        window = rep_window_features(daily.sums, tables["reps"], daily.rep_queues, daily.observable, config.features,
                                     start, end)
        rules = RuleSet.from_config(settings.rules).fit(window, observable=daily.observable)
        hits = rules.evaluate(window, daily.sums, daily.evidence)
        computing.append(time.perf_counter() - started)
        started = time.perf_counter()
        check(RepDaySums, daily.sums, "features")
        check(RepWindowFeatures, window, "features")
        check(RuleHits, hits, "the rule checks")
        checking.append(time.perf_counter() - started)
    share = min(checking) / min(computing)
    return {"rep_days": len(daily.sums), "rep_windows": len(window), "rule_hits": len(hits),
            "contracts_s": _best(checking), "computing_the_window_s": _best(computing),
            "contracts_share_of_window": f"{share:.1%}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cadet-bench-overheads-"))
    os.environ.setdefault("CADET_PSEUDONYM_KEY", "benchmark-only-pseudonym-key")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the figures, not each no-op's task-run lines
    try:
        data, home = work / "input", work / "home"
        cadet("--home", str(work / "sim"), "simulate", "--reps", str(args.reps), "--days", "7", "--seed", "1",
              "--format", "canonical", "--file-format", "parquet", "--out", str(data), "--quiet")
        (data / "truth.json").unlink()
        cadet("--home", str(home), "ingest", "--source", "canonical", str(data))
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=180):
            from prefect.settings import get_current_settings

            starts = worker_start(args.workers, args.repeats)
            commands = command_start(work, get_current_settings().api.url, args.repeats)
        checks = contracts(home, args.repeats)
        print("best of", args.repeats, "runs, seconds (median in brackets)")
        publish("worker start", starts, f"overheads-workers-{args.workers}")
        publish("stage contracts", {"reps": args.reps, "days": 7, **checks}, f"overheads-contracts-{args.reps}")
        publish("command start", commands, "overheads-commands")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
