import pandas as pd
import pytest

from pipelines.config import SiteConfig
from simulator import SimulationConfig, simulate


@pytest.fixture(scope="session")
def center():
    """A center big enough that every behaviour code and confounder is present."""
    return simulate(SimulationConfig(), n_reps=120, n_days=14, seed=3, workers=1)


@pytest.fixture(scope="session")
def frames(center):
    return {name: table.to_pandas() for name, table in center.tables.items()}


@pytest.fixture(scope="session")
def truth_frame(center):
    return pd.DataFrame(center.truth["reps"]).set_index("rep_id")


@pytest.fixture(scope="session")
def small_center_chicago():
    """A small center in a zone with a UTC offset, for the platform writers."""
    return simulate(SimulationConfig(), n_reps=24, n_days=8, seed=5, site=SiteConfig(timezone="America/Chicago"), workers=1)
