"""A seeded, deterministic simulator of a contact center, with ground truth.

`simulate()` (in `simulator.centre`) returns the center as cadet's canonical
tables (see docs/data-model.md) plus a truth record saying which reps avoid
calls and which merely look odd for a good reason.  The writers in
`simulator.writers` turn those tables into files: canonical CSV/Parquet,
Asterisk, Amazon Connect.  The names below load on first use, so `cadet
--help` (which lists the simulator's commands) does not load the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.centre import Center, simulate
    from simulator.settings import SimulationConfig

_WHERE = {"Center": "simulator.centre", "simulate": "simulator.centre", "SimulationConfig": "simulator.settings"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)


__all__ = ["Center", "SimulationConfig", "simulate"]
