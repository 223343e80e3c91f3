"""cadet's edges: readers, the lake, flows, MLflow and the CLI."""

from pipelines.orphans import watch_parent_if_handed_down

watch_parent_if_handed_down()
