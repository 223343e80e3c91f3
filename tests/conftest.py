import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The feature windows run one at a time in the command's own process unless a test asks for Prefect's process pool
# (each pool takes 5 to 11 s to start on 2 cores); the pool's lake equals this one's (test_features_flow.py), and the
# kill -9 and schedule tests run cadet as users do, with the pool.
os.environ.setdefault("CADET_WORKERS", "1")


import pytest


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server (and database) for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def pytest_collection_modifyitems(config, items):
    """Everything that runs a Prefect flow or server is `slow`: `pytest -m "not slow"` is the inner loop.

    The `minutes` tests go first: left to the end of the collection order, they ran on after every other
    test had finished, with the second worker idle.
    """
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()) or item.module.__name__.endswith("test_schedule"):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("minutes") is None)
