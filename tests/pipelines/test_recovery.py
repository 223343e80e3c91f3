"""What a killed run leaves on disk is removed by the next run on the home, and nothing else is."""

from pipelines.recovery import remove_leftovers


def test_a_killed_runs_temporaries_hand_over_and_spilled_files_go_and_the_data_stays(tmp_path):
    home = tmp_path
    day = home / "lake" / "calls" / "date=2026-01-05"
    day.mkdir(parents=True)
    (day / "part.parquet").write_bytes(b"data")
    half_written = day / ".part.parquet.k3j2.tmp"
    half_written.write_bytes(b"half")
    (home / "tmp").mkdir()
    pseudonyms = home / "tmp" / "customers-2026-01-05-2026-01-11-4242.npy"
    pseudonyms.write_bytes(b"keys")
    spilled = home / "tmp" / "work-units" / "5f2c-0-3.cdr-unit"  # an ingest's Master.csv rows waiting for their unit
    spilled.parent.mkdir()
    spilled.write_bytes(b"rows")
    (home / ".registry.json.x1.tmp").write_text("{")
    prefects = home / "prefect" / ".own.tmp"
    prefects.parent.mkdir()
    prefects.write_text("Prefect's")
    assert remove_leftovers(home) == 4
    assert not half_written.exists() and not pseudonyms.exists() and not spilled.exists() and not (home / ".registry.json.x1.tmp").exists()
    assert (day / "part.parquet").read_bytes() == b"data" and prefects.exists()
    assert remove_leftovers(home) == 0
