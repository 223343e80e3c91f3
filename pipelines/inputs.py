"""Which files of a folder a source reads: shared by `cadet ingest` and `cadet inspect` (which needs no Prefect)."""

from __future__ import annotations

from pathlib import Path

SOURCES = ("canonical", "asterisk", "amazon-connect")


def find_input_files(source: str, paths: list[Path]) -> list[Path]:
    """The files to read: each PATH itself, or the recognisable files inside a directory."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and _looks_like_input(source, p)))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return found


def _looks_like_input(source: str, path: Path) -> bool:
    if path.name.startswith(".") or path.name == "truth.json":  # truth.json: the simulator's answer key
        return False
    if source == "asterisk" and path.name.startswith("queue_log"):
        return True
    if source == "amazon-connect" and path.suffix in ("", ".json", ".jsonl"):
        return True
    return path.suffix in (".csv", ".parquet")
