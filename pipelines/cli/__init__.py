"""The `cadet` command line: one module per group of commands (`stages`, `analysis`, `operations`), the shared
context and output beside them, and `app` tying them into one command."""

from pipelines.cli.app import cli, main

__all__ = ["cli", "main"]
