"""The home: the one folder that holds everything cadet writes for a site, and where each thing lives in it.

Every path under the home is named here and nowhere else, so a reader of any
stage finds the same layout, and moving a home moves all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WORK_UNITS = "work-units"  # in the scratch folder


@dataclass(frozen=True)
class Home:
    """A site's home folder (absolute), and the place of each store under it.

    Built once per command from `--home` (or a flow's `home` parameter) and
    passed down; `Home.of` accepts a Home, a path or a string.
    """

    root: Path

    @classmethod
    def of(cls, where: Home | Path | str) -> Home:
        return where if isinstance(where, Home) else cls(Path(where).absolute())

    def __str__(self) -> str:
        return str(self.root)

    def __fspath__(self) -> str:
        return str(self.root)

    @property
    def lake(self) -> Path:
        """The Parquet lake: one folder per table, one file per day."""
        return self.root / "lake"

    @property
    def quarantine(self) -> Path:
        """Rows a reader or a contract refused, one Parquet file per source file, with the reason."""
        return self.root / "quarantine"

    @property
    def reports(self) -> Path:
        """One folder per scoring run: scores.parquet, report.html, flagged.csv, meta.json."""
        return self.root / "reports"

    def report_folder(self, run_id: str) -> Path:
        return self.reports / run_id

    @property
    def reviews(self) -> Path:
        """Analysts' verdicts, one JSON file per verdict (never rewritten)."""
        return self.root / "reviews"

    @property
    def pseudonym_key(self) -> Path:
        """The secret key of the keyed hash that pseudonymises caller numbers."""
        return self.root / "secrets" / "pseudonym.key"

    @property
    def mlflow(self) -> Path:
        """The MLflow store of the home (unless MLFLOW_TRACKING_URI names another)."""
        return self.root.resolve() / "mlflow"

    @property
    def mlflow_database(self) -> Path:
        return self.mlflow / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        """Where MLflow keeps the models and the logged reports."""
        return self.mlflow / "artifacts"

    @property
    def registry_record(self) -> Path:
        """cadet's own record of the newest model version it registered (a check that the registry is whole)."""
        return self.mlflow / "registry.json"

    @property
    def prefect(self) -> Path:
        """PREFECT_HOME of the temporary server when no Prefect server is named."""
        return self.root.resolve() / "prefect"

    @property
    def scratch(self) -> Path:
        """Scratch files of a run (earlier versions put caller keys for the workers here)."""
        return self.root / "tmp"

    @property
    def work_units(self) -> Path:
        """A large Asterisk ingest's Master.csv rows, spilled by work unit. Each file is removed when its unit has
        read it; what is left, when the ingest ends, or by the next run after a kill."""
        return self.scratch / WORK_UNITS

    @property
    def lock_file(self) -> Path:
        """Held by the one command that writes to the home at a time."""
        return self.root / ".cadet.lock"

    def simulated(self, fmt: str) -> Path:
        """Where `cadet simulate` writes a simulated centre's logs by default."""
        return self.root / "simulated" / fmt
