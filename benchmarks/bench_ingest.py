"""Benchmark: `cadet ingest` end to end, as a user runs it.

    uv run python benchmarks/bench_ingest.py --source asterisk --reps 200 --days 30
    uv run python benchmarks/bench_ingest.py --source canonical --file-format parquet --reps 1000 --days 30

Simulates the input once (not timed), then times the real command in a fresh
process with an empty home: reading, validating, pseudonymising and landing in
the lake, including Prefect's temporary server start (reported separately as
the time of an ingest of a one-line file).  Prints input lines/records per
second, rows landed per second and the peak resident memory.  With
--prefect-server the runs talk to a real Prefect server on loopback, as a
deployment does, and the temporary server's start disappears.

Beside cadet's figure, in the same run and a fresh process of its own: a
DuckDB floor on the same files, one query per file that reads it and writes it
as Parquet (queue_log split at '|', CSV and JSON lines by DuckDB's own readers,
2 threads).  It checks no row and rebuilds nothing; cadet's own work divided by
it is the ratio printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_features import json_from_own_process, measured, publish

ROOT = Path(__file__).resolve().parents[1]


ENV = dict(os.environ)


def cadet(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"cadet {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done


QUEUE_LOG_FIELDS = ["time", "callid", "queuename", "agent", "event", "data1", "data2", "data3", "data4", "data5"]


def duckdb_floor(folder: Path, out: Path) -> dict:
    """Every input file read and written as Parquet by one DuckDB query each; seconds and rows."""
    import duckdb

    db = duckdb.connect()
    db.execute("SET threads = 2")
    started, rows = time.perf_counter(), 0
    for n, path in enumerate(sorted(p for p in folder.iterdir() if p.is_file())):
        if path.suffix == ".parquet":
            source = f"read_parquet('{path}')"
        elif path.suffix in (".json", ".jsonl"):
            source = f"read_json('{path}', format = 'newline_delimited')"
        elif path.name.startswith("queue_log"):
            columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in QUEUE_LOG_FIELDS) + "}"
            source = (f"read_csv('{path}', delim = '|', header = false, quote = '', escape = '', columns = {columns}, "
                      "null_padding = true, strict_mode = false, ignore_errors = true)")
        else:
            source = f"read_csv('{path}', all_varchar = true, null_padding = true, strict_mode = false, ignore_errors = true)"
        db.execute(f"COPY (SELECT * FROM {source}) TO '{out / f'floor-{n}.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        rows += db.execute(f"SELECT count(*) FROM read_parquet('{out / f'floor-{n}.parquet'}')").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source", default="asterisk", choices=["canonical", "asterisk", "amazon-connect"])
    parser.add_argument("--file-format", default="csv", choices=["csv", "parquet"], help="canonical only")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--prefect-server", action="store_true",
                        help="run against a real Prefect server on 127.0.0.1 (as deployed) instead of the temporary one")
    args = parser.parse_args()
    if args.floor:
        print(json.dumps(duckdb_floor(args.floor, args.floor_out)))
        return
    work = Path(tempfile.mkdtemp(prefix="cadet-bench-ingest-"))
    server = start_prefect_server(work) if args.prefect_server else None
    try:
        data = work / "input"
        cadet("--home", str(work / "sim"), "simulate", "--reps", str(args.reps), "--days", str(args.days), "--seed", "1",
              "--format", args.source, "--file-format", args.file_format, "--out", str(data), "--quiet")
        (data / "truth.json").unlink()
        lines = 0
        size_mb = sum(path.stat().st_size for path in data.iterdir()) / 1e6
        for path in data.iterdir():
            if path.suffix != ".parquet":
                with open(path, "rb") as handle:
                    lines += sum(1 for _ in handle)
        events = None
        if (data / "calls.parquet").exists():
            import pyarrow.parquet as pq

            events = sum(k * pq.read_metadata(data / f"{t}.parquet").num_rows for t, k in (("calls", 2), ("offers", 1), ("agent_states", 2)))
        tiny = work / "tiny" / "reps.csv"
        tiny.parent.mkdir()
        tiny.write_text("rep_id\nagent1\n")
        overhead, _ = cadet("--home", str(work / "warmup"), "ingest", "--source", "canonical", str(tiny))
        # its own peak, measured around it alone (this process's children include the simulator)
        wall, done, peak = measured("--home", str(work / "home"), "ingest", "--source", args.source, str(data), "--json")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        work_s = max(wall - overhead, 1e-9)
        if work_s < 1.0:
            print(f"note: the input took {wall:.1f} s against {overhead:.1f} s of start cost; the rates below mean little "
                  "(give more reps or days)")
        (work / "floor").mkdir()
        floor = json_from_own_process("the DuckDB floor", __file__, "--floor", str(data), "--floor-out", str(work / "floor"))
        result = {
            "source": args.source if args.source != "canonical" else f"canonical/{args.file_format}",
            "reps": args.reps, "days": args.days, "input_lines": lines, "rows_landed": summary["landed"],
            "quarantined": summary["quarantined"], "wall_s": round(wall, 1), "prefect_overhead_s": round(overhead, 1),
            "input_mb": round(size_mb), "mb_per_s_excluding_overhead": round(size_mb / work_s, 1),
            "lines_per_s": round(lines / wall), "lines_per_s_excluding_overhead": round(lines / work_s),
            "rows_per_s_excluding_overhead": round(summary["landed"] / work_s), "peak_rss_mb": round(peak),
            "prefect": "server" if server is not None else "temporary",
            "duckdb_floor_s": round(floor["seconds"], 2), "duckdb_floor_peak_rss_mb": floor["peak_rss_mb"],
            "cadet_own_work_over_floor": round(work_s / max(floor["seconds"], 1e-9), 1),
        }
        if events is not None:
            result["events"] = events
            result["events_per_s_end_to_end"] = round(events / wall)
        publish("ingest", result, f"ingest-{result['source'].replace('/', '-')}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def start_prefect_server(work: Path) -> subprocess.Popen:
    """`prefect server start` on a free loopback port; cadet's runs then talk to it via PREFECT_API_URL."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PREFECT_HOME=str(work / "prefect-server"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                ENV["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"] = url  # for measured() too
                return server
        except OSError:
            time.sleep(1)
    server.terminate()
    raise SystemExit("the Prefect server did not start within 120 s")


if __name__ == "__main__":
    main()
