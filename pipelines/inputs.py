"""Which files of a folder a source reads: shared by `cadet ingest` and `cadet inspect` (which needs no Prefect)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class Source(StrEnum):
    """The logs cadet reads: its own canonical tables, or a platform's exports."""

    CANONICAL = "canonical"
    ASTERISK = "asterisk"
    AMAZON_CONNECT = "amazon-connect"


SOURCES = tuple(Source)


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


PLATFORM_WORDS = {"amazon-connect": ("ContactId", "EventType", "AgentARN"), "asterisk": ("callid", "queuename")}


def looks_like(path: Path) -> str | None:
    """The source whose call records a file's name and first line show (None when they show none): for a wrong --source.

    Only the files that carry calls count: a roster or a schedule sits beside any platform's logs.
    """
    if path.name.startswith("queue_log"):
        return "asterisk"
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if first[:1] in ("{", "[") and any(word in head for word in PLATFORM_WORDS["amazon-connect"]):
        return "amazon-connect"
    if first.split("|")[0].replace(".", "").isdigit() and first.count("|") >= 4:
        return "asterisk"  # epoch|callid|queue|agent|EVENT|...: a queue_log under another name
    header = {cell.strip().strip('"').lower() for cell in first.split(",")}
    if set(PLATFORM_WORDS["asterisk"]) <= header:
        return "asterisk"  # the realtime queue_log table exported as CSV
    if "call_id" in header:
        return "canonical"  # a calls table (a roster or schedule beside a platform's logs says nothing)
    return None


def wrong_source(source: str, paths: list[Path]) -> str | None:
    """Why `source` cannot be right for these files (they look like another platform's, none like its own), or None."""
    files = [f for p in map(Path, paths) for f in (sorted(p.iterdir()) if p.is_dir() else [p])
             if f.is_file() and not f.name.startswith(".") and f.name != "truth.json"]
    seen: dict[str, Path] = {}
    for file in files:
        kind = looks_like(file)
        if kind is not None:
            seen.setdefault(kind, file)
    if not seen or source in seen:
        return None
    other, example = sorted(seen.items())[0]
    return (f"the files look like {other} logs (e.g. {example.name}), and none like {source} files: "
            f"run again with --source {other}; nothing was ingested")
