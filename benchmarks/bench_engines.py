"""Benchmark: two columnar engines on a queue_log, beside cadet's own reader, on the same file in the same run.

    uv run python benchmarks/bench_engines.py                        # simulated 500 reps x 30 days (seed 1)
    uv run python benchmarks/bench_engines.py --reps 200 --days 14
    uv run python benchmarks/bench_engines.py --input /var/log/asterisk/   # a real export: its queue_log and Master.csv

What each engine does, one query each, in a fresh process of its own (2 threads):

  parse   the pipe-separated lines into the second, call id, queue, agent, event and five data fields
          (missing trailing fields empty, a line that is not a queue_log line skipped and counted)
  legs    per call id and agent: the first and last second, the queue, whether it connected, its last event
  write   the parsed lines as one Parquet file (zstd)

cadet's figures on the same file: `read_queue_log` (parse: the same fields, each line checked, the bad ones
quarantined with a reason) and `read_asterisk` (the queue_log and Master.csv read and calls, offers and
presence rebuilt: one read of the whole file, as one work unit), in a fresh process as well; what landing
adds (contracts, pseudonyms, the lake) is in bench_ingest.py.  The engines' queries are floors, not
equivalents: they do not check a line, quarantine, rebuild a call or carry one over.  Each line prints seconds, queue_log lines per second, peak memory and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_features import json_from_own_process
from bench_ingest import ROOT, cadet

FIELDS = ["time", "callid", "queuename", "agent", "event", "data1", "data2", "data3", "data4", "data5"]


def duckdb_run(queue_log: Path, out: Path) -> dict:
    import duckdb

    db = duckdb.connect()
    db.execute("SET threads = 2")
    columns = "{" + ", ".join(f"'{name}': '{'BIGINT' if name == 'time' else 'VARCHAR'}'" for name in FIELDS) + "}"
    seconds = {}
    started = time.perf_counter()
    db.execute(f"""CREATE TABLE lines AS SELECT * FROM read_csv('{queue_log}', delim = '|', header = false, quote = '',
                   escape = '', columns = {columns}, null_padding = true, strict_mode = false, ignore_errors = true)""")
    seconds["parse"] = time.perf_counter() - started
    started = time.perf_counter()
    legs = db.execute("""SELECT count(*) FROM (SELECT callid, agent, min(time), max(time), any_value(queuename),
                         bool_or(event = 'CONNECT'), arg_max(event, time) FROM lines WHERE agent <> 'NONE'
                         GROUP BY callid, agent)""").fetchone()[0]
    seconds["legs"] = time.perf_counter() - started
    started = time.perf_counter()
    db.execute(f"COPY lines TO '{out / 'duckdb.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
    seconds["write"] = time.perf_counter() - started
    parsed = db.execute("SELECT count(*) FROM lines").fetchone()[0]
    return {"seconds": seconds, "parsed": parsed, "legs": legs}


def polars_run(queue_log: Path, out: Path) -> dict:
    import polars as pl

    seconds = {}
    started = time.perf_counter()
    # a schema of all ten fields: lines with fewer (most of them) get empty trailing fields
    lines = pl.read_csv(queue_log, separator="|", has_header=False, schema={name: pl.String for name in FIELDS},
                        quote_char=None, truncate_ragged_lines=True, missing_columns="insert")
    lines = lines.with_columns(pl.col("time").cast(pl.Int64, strict=False)).filter(pl.col("time").is_not_null())
    seconds["parse"] = time.perf_counter() - started
    started = time.perf_counter()
    legs = (lines.filter(pl.col("agent") != "NONE").group_by(["callid", "agent"])
            .agg(pl.col("time").min().alias("first"), pl.col("time").max().alias("last"), pl.col("queuename").first(),
                 (pl.col("event") == "CONNECT").any().alias("connected"), pl.col("event").sort_by("time").last()))
    seconds["legs"] = time.perf_counter() - started
    started = time.perf_counter()
    lines.write_parquet(out / "polars.parquet", compression="zstd")
    seconds["write"] = time.perf_counter() - started
    return {"seconds": seconds, "parsed": lines.height, "legs": legs.height}


def cadet_run(queue_log: Path, out: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from pipelines.config import CadetConfig
    from pipelines.readers.asterisk import read_asterisk, read_queue_log

    config = CadetConfig()
    started = time.perf_counter()
    log, quarantine = read_queue_log(queue_log, config.site.timezone)
    seconds = {"parse": time.perf_counter() - started}
    parsed = len(log.line)
    del log, quarantine
    files = sorted(p for p in queue_log.parent.iterdir() if p.is_file())
    started = time.perf_counter()
    results = read_asterisk(files, config.ingest.asterisk, config.site.timezone)
    seconds["read and rebuild (read_asterisk)"] = time.perf_counter() - started
    rebuilt: dict[str, int] = {}
    for result in results:
        rebuilt[result.table] = rebuilt.get(result.table, 0) + len(result.good)
    return {"seconds": seconds, "parsed": parsed, "rebuilt": rebuilt}


RUNS = {"duckdb": duckdb_run, "polars": polars_run, "cadet": cadet_run}


def _one(engine: str, queue_log: Path, out: Path) -> dict:
    """Run one engine in a fresh process; its figures and its own peak memory."""
    return json_from_own_process(engine, __file__, "--only", engine, "--queue-log", str(queue_log), "--out", str(out),
                                 env=dict(os.environ, POLARS_MAX_THREADS="2"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--input", type=Path, default=None, help="a folder of Asterisk logs (queue_log, Master.csv)")
    parser.add_argument("--only", choices=sorted(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--queue-log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        result = RUNS[args.only](args.queue_log, args.out)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result, default=str))
        return

    work = Path(tempfile.mkdtemp(prefix="cadet-bench-engines-"))
    try:
        folder = args.input
        if folder is None:
            folder = work / "input"
            cadet("--home", str(work / "sim"), "simulate", "--reps", str(args.reps), "--days", str(args.days), "--seed", "1",
                  "--format", "asterisk", "--out", str(folder), "--quiet")
            (folder / "truth.json").unlink(missing_ok=True)
        queue_log = folder / "queue_log"
        with open(queue_log, "rb") as handle:  # warm the page cache, and count the lines
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
        size_mb = queue_log.stat().st_size / 1e6
        source = f"the logs in {args.input}" if args.input else f"cadet's simulator, {args.reps} reps x {args.days} days, seed 1"
        print(f"cadet engines benchmark on {os.cpu_count()} cores: {queue_log} ({source}), {lines:,} lines, {size_mb:,.0f} MB")
        results = {engine: _one(engine, queue_log, work) for engine in ("duckdb", "polars", "cadet")}
        for engine, result in results.items():
            steps = "  ".join(f"{step} {seconds:.2f} s" for step, seconds in result["seconds"].items())
            print(f"  {engine:7s} {steps}  (peak {result['peak_rss_mb']:,} MB; {result['parsed']:,} lines parsed"
                  + (f", {result['legs']:,} legs)" if "legs" in result else ")"))
        own = results["cadet"]["seconds"]
        rebuilt = own["read and rebuild (read_asterisk)"]
        for engine in ("duckdb", "polars"):
            floor = results[engine]["seconds"]
            print(f"  cadet / {engine}: parse {own['parse'] / floor['parse']:.1f}x ({lines / own['parse']:,.0f} against "
                  f"{lines / floor['parse']:,.0f} lines/s); read and rebuild against parse + legs "
                  f"{rebuilt / (floor['parse'] + floor['legs']):.1f}x ({lines / rebuilt:,.0f} against "
                  f"{lines / (floor['parse'] + floor['legs']):,.0f} lines/s)")
        out = ROOT / "benchmarks" / "results"
        out.mkdir(exist_ok=True)
        (out / "engines.json").write_text(json.dumps({"queue_log_lines": lines, "source": source, **results}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
