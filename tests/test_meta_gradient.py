"""LPG's meta-gradient outer loop (`rljax.meta.meta_gradient`): one meta-step compiles once,
the rule moves, the value critic really trains, agents persist and are replaced at the end of
their lifetimes, and a checkpointed run resumes bitwise."""

import json

import jax
import numpy as np
import pytest

import envs.gridworld  # noqa: F401  (registers the gridworld envs and task space)
from envs.gridworld import GridworldConfig
from rljax.agents.lpg import A2CConfig, LPGAgentConfig
from rljax.checkpoint import Checkpointer
from rljax.config import ConfigError
from rljax.meta import LPGRule, MetaGradient, MetaGradientConfig
from rljax.objectives.lpg import LPGRuleConfig

UNROLL = 2
COMMON = dict(
    env="Gridworld-index", num_envs=2, num_steps=5, total_timesteps=2 * 5 * 4, num_eval_episodes=2
)
"""Lifetimes of 4 updates of 2 envs x 5 steps on GROOVE's random levels (index view)."""
SPACE = GridworldConfig(observation="index")


def _loop(**changes):
    settings = dict(num_agents=2, unroll=UNROLL, num_meta_steps=3)
    config = MetaGradientConfig(**{**settings, **changes})
    agent = LPGAgentConfig(rule=LPGRuleConfig(hidden_size=16), **COMMON)
    return MetaGradient(agent, A2CConfig(**COMMON), SPACE, LPGRule(), config)


@pytest.fixture(scope="module")
def stepped():
    """A loop, its initial state, and the states after one and two meta-steps."""
    loop = _loop(meta_learning_rate=1e-2)
    init = loop.init()
    first, metrics = loop.step(init, loop.generation_key(0))
    second, _ = loop.step(first, loop.generation_key(1))
    return loop, init, first, second, metrics


def test_one_meta_step_moves_the_rule_trains_the_critic_and_continues_the_agents(stepped):
    loop, init, first, _, metrics = stepped
    assert first.generation == 1
    for name, value in metrics._asdict().items():
        assert name == "episode_return" or np.isfinite(value), name  # (NaN: no episode ended)
    assert float(metrics.meta_grad_norm) > 0
    moved = [
        float(np.abs(a - b).max())
        for a, b in zip(
            jax.tree.leaves(init.meta_params), jax.tree.leaves(first.meta_params), strict=True
        )
    ]
    assert max(moved) > 0  # the rule was updated
    # The critic trained: K + 1 value steps on the step's rollouts (the reference's defect was
    # a critic update computed and then dropped).
    np.testing.assert_array_equal(first.critics.update_step, [UNROLL + 1] * 2)
    critic_moved = np.abs(
        np.asarray(first.critics.params["params"]["critic"]["kernel"])
        - np.asarray(init.critics.params["params"]["critic"]["kernel"])
    )
    assert critic_moved.max() > 0
    # The agents made K updates each and keep their tasks (nobody's lifetime ended yet).
    np.testing.assert_array_equal(first.agents.update_step, [UNROLL] * 2)
    np.testing.assert_array_equal(first.tasks.walls, init.tasks.walls)
    # ... and the agents hold the rule they were updated with.
    leaf = lambda s: jax.tree.leaves(s.agents.hparams.rule_params)[0]
    np.testing.assert_array_equal(leaf(first)[0], jax.tree.leaves(init.meta_params)[0])


def test_agents_are_replaced_at_the_end_of_their_staggered_lifetimes(stepped):
    loop, init, first, second, _ = stepped
    # Two agents, lifetime 4: the first lives ceil(4 / 2) = 2 updates (one meta-step), the
    # second 4.
    np.testing.assert_array_equal(init.lifetime, [2, 4])
    np.testing.assert_array_equal(second.agents.update_step, [UNROLL, 2 * UNROLL])
    np.testing.assert_array_equal(second.lifetime, [4, 4])
    np.testing.assert_array_equal(second.critics.update_step, [UNROLL + 1, 2 * (UNROLL + 1)])
    assert not np.array_equal(second.tasks.walls[0], first.tasks.walls[0])  # a new level
    np.testing.assert_array_equal(second.tasks.walls[1], first.tasks.walls[1])


def test_meta_step_compiles_once(stepped, count_compilations):
    loop, _, _, second, _ = stepped
    with count_compilations() as compiles:
        third, _ = loop.step(second, loop.generation_key(2))
        jax.block_until_ready(third.meta_params)
    assert compiles.value == 0


def test_resume_from_checkpoint_equals_uninterrupted(stepped, tmp_path):
    loop, _, first, second, _ = stepped
    with Checkpointer(tmp_path, loop.fingerprint()) as checkpointer:
        loop.save(checkpointer, first)
    with Checkpointer(tmp_path, loop.fingerprint()) as checkpointer:
        resumed = loop.restore(checkpointer)
    assert resumed.generation == 1
    resumed = loop.run(resumed, num_generations=2, progress=False)
    for a, b in zip(jax.tree.leaves(second), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="another run"):
        Checkpointer(tmp_path, _loop(seed=1).fingerprint())
    # A longer run of the same loop continues the folder: the length is not its identity.
    longer = _loop(meta_learning_rate=1e-2, num_meta_steps=10)
    assert longer.fingerprint() == loop.fingerprint()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MetaGradientConfig(unroll=0), r"MetaGradientConfig.unroll=0 must be > 0"),
        (
            lambda: _loop(unroll=5),
            r"4 updates per lifetime, fewer than MetaGradientConfig.unroll=5",
        ),
        (
            lambda: MetaGradient(
                LPGAgentConfig(**COMMON),
                A2CConfig(**{**COMMON, "num_steps": 4, "total_timesteps": 32}),
                SPACE,
                LPGRule(),
            ),
            r"critic_config has num_envs x num_steps = 2 x 4",
        ),
        (
            lambda: MetaGradient(
                LPGAgentConfig(**{**COMMON, "env": "Gridworld-tabular"}),
                A2CConfig(**COMMON),
                SPACE,
                LPGRule(),
            ),
            r"learner_config.env='Gridworld-tabular' has observations \(21632,\)",
        ),
    ],
)
def test_bad_settings_are_refused_before_compiling(build, message, count_compilations):
    with count_compilations() as compiles, pytest.raises(ConfigError, match=message):
        build()
    assert compiles.value == 0


# --- experiments.lpg -----------------------------------------------------------------------------

TINY_CLI = [
    "--meta.num-agents", "2", "--meta.unroll", "2", "--agent.num-envs", "2",
    "--agent.num-steps", "5", "--agent.total-timesteps", "40", "--agent.num-eval-episodes", "2",
    "--task-space.num-heldout-sampled", "2", "--no-progress",
]  # fmt: skip


def test_lpg_cli_meta_trains_and_evaluates(tmp_path, capsys, monkeypatch):
    from experiments import lpg

    calls = []
    evaluator_call = lpg.LevelEvaluator.__call__
    monkeypatch.setattr(
        lpg.LevelEvaluator, "__call__", lambda self, *a: calls.append(1) or evaluator_call(self, *a)
    )
    train = ["meta-train", "--out-dir", str(tmp_path), *TINY_CLI, "--agent.rule.hidden-size", "16"]
    assert lpg.main([*train, "--meta.num-meta-steps", "1", "--eval-every", "1"]) == 0
    # A2C's and the random rule's baselines, then meta-step 1: meta-step 0's rule is the
    # random rule, whose held-out evaluation is not run a second time.
    assert len(calls) == 3
    (run_dir,) = tmp_path.glob("lpg-meta-train-*")
    for name in ("config.json", "generations.jsonl", "evaluations.jsonl", "meta_training.png"):
        assert (run_dir / name).exists(), name
    evaluations = (run_dir / "evaluations.jsonl").read_text().splitlines()
    assert [json.loads(line)["meta_step"] for line in evaluations] == [0, 1]
    assert "meta-step 1: held-out return / optimal" in capsys.readouterr().out

    rule = run_dir / "rule_params.npz"
    evaluate = ["meta-eval", "--rule-params", str(rule), "--out-dir", str(tmp_path)]
    evaluate += ["--seeds", "1", *[a for a in TINY_CLI if not a.startswith("--meta")][4:]]
    assert lpg.main(evaluate) == 0
    (eval_dir,) = tmp_path.glob("lpg-meta-eval-*")
    table = (eval_dir / "results.md").read_text()
    assert "| sampled_1 |" in table and "learned rule | random rule | a2c" in table

    # A rule file with a leaf of the wrong shape is one line naming the leaf.
    with np.load(rule) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["rule_params.w_pi"] = np.zeros(3, np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    (tmp_path / "bad.json").write_text(rule.with_suffix(".json").read_text())
    assert lpg.main([*evaluate[:2], str(tmp_path / "bad.npz"), *evaluate[3:]]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    assert "leaf rule_params.w_pi has shape (3,), but the rule its .json names" in error
