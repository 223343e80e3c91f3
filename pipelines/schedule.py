"""`cadet serve`: the two scheduled jobs as Prefect deployments, served by one long-running process.

- `cadet-run/nightly`: ingest what changed in the drop folders, recompute the
  windows it touched, score them and write the report (`cadet run --only-changed`);
- `cadet-train/weekly-retrain`: retrain on every window, promote only through
  the gates (`cadet train`).

Both run in this process's runner when their cron time comes, or when
triggered from the Prefect UI or `prefect deployment run`.
"""

from __future__ import annotations

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from pipelines.run import run_flow
from pipelines.training import train_flow

NIGHTLY, WEEKLY = "nightly", "weekly-retrain"


def deployments(source: str, paths: list[str], home: str, config_path: str | None, nightly_cron: str, retrain_cron: str,
                timezone: str) -> list[RunnerDeployment]:
    """The nightly pipeline and the weekly retraining, with their cron schedules in the site's zone."""
    common = {"entrypoint_type": EntrypointType.MODULE_PATH, "tags": ["cadet"]}
    nightly = run_flow.to_deployment(
        name=NIGHTLY, schedules=[Cron(nightly_cron, timezone=timezone)],
        parameters={"source": source, "paths": paths, "home": home, "settings": config_path, "only_changed": True},
        description=f"Ingest new {source} logs from {', '.join(paths)}, recompute the windows they touch, score them "
                    "and write the analyst's report.", **common)
    weekly = train_flow.to_deployment(
        name=WEEKLY, schedules=[Cron(retrain_cron, timezone=timezone)],
        parameters={"home": home, "settings": config_path},
        description="Retrain the isolation forest on every window; the new model becomes the champion only through "
                    "the promotion gates.", **common)
    return [nightly, weekly]


def serve_schedules(source: str, paths: list[str], home: str, config_path: str | None, nightly_cron: str,
                    retrain_cron: str, timezone: str) -> None:
    """Register both deployments and run their flow runs until interrupted (one at a time)."""
    from prefect import serve

    serve(*deployments(source, paths, home, config_path, nightly_cron, retrain_cron, timezone), limit=1)
