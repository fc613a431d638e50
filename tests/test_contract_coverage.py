"""Every agent runs the whole shared contract: an agent module `rljax/agents/<name>.py` has a
test file `tests/test_<name>.py` that calls each `assert_*` check of `tests/agent_contract.py`,
and the agent class implements `value_targets`, which the truncation check drives. An agent
added later without them fails here, by name."""

import inspect
from pathlib import Path

import numpy as np
import pytest

import rljax.agents
from tests import agent_contract

ROOT = Path(__file__).parent.parent
NOT_AGENTS = {"__init__", "common", "settings"}
AGENTS = sorted(p.stem for p in (ROOT / "rljax/agents").glob("*.py") if p.stem not in NOT_AGENTS)
CHECKS = sorted(
    name
    for name, fn in inspect.getmembers(agent_contract, inspect.isfunction)
    if name.startswith("assert_") and fn.__module__ == agent_contract.__name__
)


def test_the_contract_has_the_checks_the_issue_names():
    assert {
        "assert_run_compiles_one_chunk_program",
        "assert_same_seed_same_run",
        "assert_vmap_equals_separate_runs",
        "assert_no_lapack",
        "assert_bootstraps_on_truncation_only",
    } <= set(CHECKS)
    assert len(AGENTS) >= 5, AGENTS


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_runs_every_contract_check(agent):
    path = ROOT / "tests" / f"test_{agent}.py"
    assert path.exists(), f"rljax/agents/{agent}.py has no tests/test_{agent}.py"
    source = path.read_text()
    missing = [check for check in CHECKS if f"{check}(" not in source]
    assert not missing, f"tests/test_{agent}.py does not call agent_contract.{missing}"


def test_every_exported_agent_implements_value_targets():
    agents = {
        name: obj
        for name in rljax.agents.__all__
        if inspect.isclass(obj := getattr(rljax.agents, name))
        and all(hasattr(obj, m) for m in ("init", "update", "evaluate"))
    }
    assert {"PPO", "RecurrentPPO", "DQN", "PQN", "SAC"} <= set(agents), sorted(agents)
    missing = [name for name, cls in agents.items() if not hasattr(cls, "value_targets")]
    assert not missing, f"no value_targets: {missing}"


def test_learning_checks_leave_their_returns_in_the_run_summary(request):
    """`final_eval_returns` reports each learning check's per-seed returns as a user property
    (tests/conftest.py prints them under "measured values", after the results)."""
    agent_contract.report("return per seed", [1.23456, 2.0])
    agent_contract.report("other", np.float32(3.5))
    assert request.node.user_properties == [
        ("measured:return per seed", [1.235, 2.0]),
        ("measured:other", 3.5),
    ]
    request.node.user_properties.clear()  # not real measurements: kept out of the summary
