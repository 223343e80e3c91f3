"""The simulated centre's settings are the simulator's own: a world file, checked like cadet's settings."""

from pathlib import Path

import pytest

from pipelines.config import CadetConfig, ConfigError
from simulator.settings import SimulationConfig, load_world

ROOT = Path(__file__).resolve().parents[2]


def test_no_world_file_means_the_default_centre_and_the_shipped_file_spells_it_out():
    assert load_world(None) == SimulationConfig()
    assert load_world(ROOT / "configs" / "simulation.yaml") == SimulationConfig()
    assert {q.name for q in SimulationConfig().queues} >= {"general", "tier2"}


def test_cadet_settings_carry_no_simulation_keys():
    assert "simulation" not in CadetConfig.model_fields
    assert not set(SimulationConfig.model_fields) & set(CadetConfig.model_fields)


def test_a_partial_world_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "world.yaml"
    path.write_text("avoidance:\n  intensity: 0.5\nring_timeout_seconds: 20\n")
    world = load_world(path)
    assert world.avoidance.intensity == 0.5 and world.ring_timeout_seconds == 20
    assert world.avoidance.share == SimulationConfig().avoidance.share
    assert world.queues == SimulationConfig().queues


@pytest.mark.parametrize(
    "text, key, reason",
    [
        ("ring_timeout_seconds: 2\n", "ring_timeout_seconds", "greater than or equal to 5"),
        ("avoidance:\n  behaviours: [napping]\n", "avoidance.behaviours", "unknown behaviour code"),
        ("queues:\n- name: a\n  share_of_reps: 1\n  mean_talk_seconds: 10\n  tier: 2\n", "(top level)", "tier-1 queue"),
        ("survey_shares: 0.1\n", "survey_shares", "unknown key (check the spelling against configs/simulation.yaml)"),
        ("site:\n  timezone: UTC\n", "site", "unknown key"),
    ],
)
def test_a_bad_world_file_names_the_key_and_the_reason(tmp_path, text, key, reason):
    path = tmp_path / "world.yaml"
    path.write_text(text)
    message = str(pytest.raises(ConfigError, load_world, path).value)
    assert str(path) in message and key in message and reason in message
