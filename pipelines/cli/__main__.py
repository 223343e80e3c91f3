"""`python -m pipelines.cli`: the same command as `cadet`."""

import sys

# In a spawned helper (a feature worker), which re-runs this file as its main module before anything else, this
# import is its first cadet import: it starts the helper's watch on this process (pipelines.orphans).
from pipelines.cli.app import main

if __name__ == "__main__":
    # multiprocessing skips re-running a package's `__main__` when it is named by module name, so a helper would
    # import nothing of cadet until its first task arrived, seconds later; named by its path, it is re-run (and
    # this guard keeps the helper from running the command).
    sys.modules["__main__"].__spec__ = None
    main()
