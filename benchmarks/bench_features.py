"""Benchmark: `cadet features` end to end over a lake, as a user runs it.

    uv run python benchmarks/bench_features.py --reps 1000 --days 30
    uv run python benchmarks/bench_features.py --reps 2200 --days 30      # ~10 million events

Simulates a center and ingests it (canonical Parquet; neither is timed), then
times `cadet features` in a fresh process: reading each window's days from the
lake, per-rep-per-day sums, peer-normalised window features, every rule check,
and writing the five output tables.  Prefect's temporary server start is
reported separately (the same command on a lake of 10 reps and one day).  Prints events/s and
the peak resident memory, which follows the window, not the lake.

Beside it, in the same run and a fresh process: a DuckDB floor over the same
lake, one query per table for the rep x day sums (calls: count, answered, talk
and hold seconds, wrap-up; offers: count and ring seconds; presence: seconds
per state), and one for the per-rep totals over all days (2 threads).  It
compares no peer, checks no rule and writes nothing; the ratio is cadet's own
work divided by it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def cadet(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cadet {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done


def publish(title: str, result: dict, name: str) -> None:
    """Print one benchmark's figures and keep them in benchmarks/results/<name>.json."""
    print(f"cadet {title} benchmark on {os.cpu_count()} cores")
    print("  " + "  ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in result.items()))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))


def measured(*args: str) -> tuple[float, subprocess.CompletedProcess, float]:
    """Wall time, output and peak RSS (MB, largest process incl. its workers) of one cadet command, alone."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "d = subprocess.run(sys.argv[1:], capture_output=True, text=True); w = time.perf_counter() - t; "
             "sys.stderr.write(d.stderr); print(d.stdout); "
             "print(f'@@{w} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(d.returncode)")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cadet {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.rstrip().splitlines()
    wall, rss = lines[-1][2:].split()
    done.stdout = "\n".join(lines[:-1])
    return float(wall), done, int(rss) / 1024


FLOOR_QUERIES = {
    "calls": """SELECT rep_id, CAST(ended_at AS DATE) AS day, count(*) AS calls, count(answered_at) AS answered,
                sum(epoch(ended_at) - epoch(answered_at)) AS talk_s, sum(hold_seconds) AS hold_s,
                sum(wrapup_seconds) AS wrapup_s, count(transfer_kind) AS transfers
                FROM read_parquet('{lake}/calls/*/*.parquet') WHERE rep_id IS NOT NULL GROUP BY ALL""",
    "offers": """SELECT rep_id, CAST(offered_at AS DATE) AS day, count(*) AS offered, sum(ring_seconds) AS ring_s,
                 count(*) FILTER (WHERE result <> 'answered') AS missed
                 FROM read_parquet('{lake}/offers/*/*.parquet') GROUP BY ALL""",
    "agent_states": """SELECT rep_id, CAST(started_at AS DATE) AS day, state, sum(epoch(ended_at) - epoch(started_at)) AS s
                       FROM read_parquet('{lake}/agent_states/*/*.parquet') GROUP BY ALL""",
}


def duckdb_floor(lake: Path) -> dict:
    """The rep x day sums per table, then per-rep totals over the days, in DuckDB; seconds and rows."""
    import resource

    import duckdb

    db = duckdb.connect()
    db.execute("SET threads = 2")
    started = time.perf_counter()
    rows = {}
    for table, query in FLOOR_QUERIES.items():
        db.execute(f"CREATE TABLE daily_{table} AS {query.format(lake=lake)}")
        rows[table] = db.execute(f"SELECT count(*) FROM daily_{table}").fetchone()[0]
    db.execute("""CREATE TABLE per_rep AS SELECT c.rep_id, sum(c.calls) AS calls, sum(c.talk_s) AS talk_s,
                  any_value(o.offered) AS offered FROM daily_calls c
                  LEFT JOIN (SELECT rep_id, sum(offered) AS offered FROM daily_offers GROUP BY rep_id) o USING (rep_id)
                  GROUP BY c.rep_id""")
    rows["reps"] = db.execute("SELECT count(*) FROM per_rep").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def json_from_own_process(what: str, script: str, *args: str, env: dict | None = None) -> dict:
    """`script` run in a fresh process (so its peak memory is its own); the JSON it prints last. `what` names a failure."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--limit", type=float, default=30.0,
                        help="fail when cadet's own work (excl. Prefect start) on up to 10 million events takes longer")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the simulated lake in this folder and keep it; re-use it when it is already there")
    args = parser.parse_args()
    if args.floor:
        print(json.dumps(duckdb_floor(args.floor)))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="cadet-bench-features-"))
    try:
        data, home = work / "input", work / "home"
        if not (home / "lake" / "calls").exists():
            cadet("--home", str(work / "sim"), "simulate", "--reps", str(args.reps), "--days", str(args.days), "--seed", "1",
                  "--format", "canonical", "--file-format", "parquet", "--out", str(data), "--quiet")
            (data / "truth.json").unlink()
            cadet("--home", str(home), "ingest", "--source", "canonical", str(data))
        events = 2 * pq.read_metadata(data / "calls.parquet").num_rows + pq.read_metadata(data / "offers.parquet").num_rows \
            + 2 * pq.read_metadata(data / "agent_states.parquet").num_rows
        tiny = work / "tiny"
        if not (tiny / "home" / "lake" / "calls").exists():
            cadet("--home", str(tiny / "sim"), "simulate", "--reps", "10", "--days", "1", "--out", str(tiny / "input"), "--quiet")
            (tiny / "input" / "truth.json").unlink()
            cadet("--home", str(tiny / "home"), "ingest", "--source", "canonical", str(tiny / "input"))
        overhead, _ = cadet("--home", str(tiny / "home"), "features")
        wall, done, peak = measured("--home", str(home), "features", "--json")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        own = max(wall - overhead, 1e-9)
        floor = json_from_own_process("the DuckDB floor", __file__, "--floor", str(home / "lake"))
        result = {
            "reps": args.reps, "days": args.days, "events": events, "windows": len(summary["windows"]),
            "rep_windows": sum(w["reps"] for w in summary["windows"]), "rule_hits": sum(w["hits"] for w in summary["windows"]),
            "wall_s": round(wall, 1), "prefect_overhead_s": round(overhead, 1), "own_work_s": round(own, 1),
            "events_per_s_excluding_overhead": round(events / own), "peak_rss_mb_largest_process": round(peak),
            "duckdb_floor_s": round(floor["seconds"], 2), "duckdb_floor_peak_rss_mb": floor["peak_rss_mb"],
            "cadet_own_work_over_floor": round(own / max(floor["seconds"], 1e-9), 1),
        }
        publish("features", result, f"features-{args.reps}x{args.days}")
        allowed = args.limit * max(1.0, events / 10_000_000)
        if own > allowed:
            raise SystemExit(f"too slow: {own:.1f} s of cadet's own work for {events:,} events (limit {allowed:.1f} s: "
                             f"{args.limit} s for up to 10 million events)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
