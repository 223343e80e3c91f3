"""Held-out worlds: each seed a different, valid centre; honest reps do now and then what avoiders overdo."""

import pyarrow.compute as pc

from pipelines.config import SiteConfig
from simulator import SimulationConfig, simulate
from simulator.worlds import HELD_OUT_FROM, random_world


def test_each_seed_draws_a_valid_world_of_its_own_and_the_same_seed_the_same_one():
    worlds = [random_world(seed) for seed in range(HELD_OUT_FROM, HELD_OUT_FROM + 6)]
    for world in worlds:
        simulated = SimulationConfig(**world.simulation)  # validates queues, shares, ranges
        SiteConfig(**world.site)  # ... and the time zone
        assert any(q.tier == 2 for q in simulated.queues) and simulated.honest.habit_spread > 0
    assert len({w.describe() for w in worlds}) == len(worlds)
    assert random_world(HELD_OUT_FROM) == random_world(HELD_OUT_FROM)


def test_a_world_without_avoiders_is_the_same_world_with_its_avoiders_honest():
    with_them, without = random_world(1234, intensity=0.75), random_world(1234, avoiders=False)
    assert without.simulation["avoidance"]["share"] == 0
    assert with_them.simulation["avoidance"]["share"] > 0
    for key in ("queues", "honest", "confounders", "ring_timeout_seconds"):
        assert with_them.simulation[key] == without.simulation[key]
    assert with_them.site == without.site


def test_honest_reps_make_the_odd_personal_call_only_when_the_world_says_so():
    plain = SimulationConfig(avoidance={"share": 0.0})
    lively = SimulationConfig(avoidance={"share": 0.0}, honest={"personal_calls_per_day": 1.0, "habit_spread": 0.4})
    outbound = []
    for config in (plain, lively):
        center = simulate(config, n_reps=12, n_days=3, seed=5, workers=1)
        calls = center.tables["calls"]
        outbound.append(pc.sum(pc.equal(calls["direction"], "outbound")).as_py())
        assert {r["role"] for r in center.truth["reps"]} <= {"honest", "confounder"}
    assert outbound[1] > outbound[0], "personal calls are outbound calls the honest reps now make"
