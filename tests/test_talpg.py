"""TA-LPG by evolution (Jackson et al. 2024, section 4) on the ES outer loop: the pairwise 0/1
fitness, antithetic pairs sharing a level, lifetimes drawn per level as traced hparams, one
compiled program per generation, the `--method talpg` command line and its bad input.

CI budget: a population of 4 tabular agents of 2 envs x 5 steps on 13x13-or-smaller levels,
lifetimes of at most 4 updates. The learning check (50 generations of the CLI) is `slow`.
"""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs.gridworld  # noqa: F401
from envs.gridworld import GridworldConfig
from experiments import lpg as lpg_cli
from rljax.agents.lpg import LPGAgentConfig
from rljax.agents.ppo import PPOConfig
from rljax.config import ConfigError
from rljax.meta.es import ESConfig, MetaTrainer, make_strategy, pairwise_fitness_shaping_fn
from rljax.meta.inner import TaskDistribution, sample_lifetimes
from rljax.meta.parameterisation import ClipEpsilon, LPGRule
from rljax.objectives.lpg import LPGRuleConfig
from tests.agent_contract import report

RULE = LPGRuleConfig(prediction_size=4, embedding_size=8, hidden_size=16, temporally_aware=True)
AGENT = LPGAgentConfig(
    env="Gridworld-index",
    num_envs=2,
    num_steps=5,
    total_timesteps=2 * 5 * 4,
    num_eval_episodes=2,
    rule=RULE,
)
"""Four updates of 2 envs x 5 steps; TA-LPG's rule inputs."""
SPACE = GridworldConfig(observation="index", heldout="none", num_heldout_sampled=2)
ES = lpg_cli._es_default().replace(population_size=4, num_generations=3)
"""The CLI's TA-LPG ES (sigma 0.1, Adam 1e-2, pairwise fitness), 2 pairs."""
PPO_TASK = PPOConfig(env="Gridworld-index", drift="ppo_clip")
"""A learner without a traced lifetime."""


def _trainer(**changes) -> MetaTrainer:
    distribution = TaskDistribution(AGENT, SPACE, 2, lifetimes=(1, 4), pairs=True)
    return MetaTrainer(dataclasses.replace(distribution, **changes), LPGRule(), ES)


def test_pairwise_fitness_ranks_each_member_against_its_mirror_only():
    # evosax minimises: within pair (i, i + 4) the lower value is better and gets -0.5.
    fitness = jnp.array([1.0, 5.0, 3.0, jnp.nan, 2.0, 5.0, 1.0, 0.0])
    shaped = pairwise_fitness_shaping_fn(None, fitness, None, None)
    np.testing.assert_array_equal(shaped, [-0.5, 0.0, 0.5, 0.5, 0.5, 0.0, -0.5, -0.5])


def test_open_es_with_pairwise_fitness_moves_towards_the_better_mirror():
    target = jnp.array([3.0, -2.0])
    config = ESConfig(population_size=16, fitness_shaping="pairwise", optimizer="sgd")
    strategy, params = make_strategy(config, jnp.zeros(2))
    state = strategy.init(jax.random.PRNGKey(0), jnp.zeros(2), params)
    for g in range(30):
        key = jax.random.PRNGKey(g + 1)
        population, state = strategy.ask(key, state, params)
        loss = jnp.sum((population - target) ** 2, axis=1)  # minimised
        state, _ = strategy.tell(key, population, loss, state, params)
    assert float(jnp.linalg.norm(state.mean - target)) < 0.7 * float(jnp.linalg.norm(target))


def test_sampled_lifetimes_are_log_uniform_integers_in_range():
    lifetimes = np.asarray(sample_lifetimes(jax.random.PRNGKey(0), (10, 250), 20_000))
    assert lifetimes.min() >= 10 and lifetimes.max() <= 250
    np.testing.assert_array_equal(lifetimes, np.round(lifetimes))
    # log-uniform: the median is near sqrt(10 * 250) = 50, not the uniform 130.
    assert 45 <= np.median(lifetimes) <= 55, np.median(lifetimes)


def test_antithetic_pairs_share_a_level_and_lifetime_and_pairs_differ(count_compilations):
    trainer = _trainer()
    assert trainer.env_steps_per_generation == 4 * 1 * 40
    copies = jax.tree.map(lambda x: np.stack([np.asarray(x)] * 4), trainer.initial_solution)
    key = trainer.generation_key(0)
    scores = trainer.evaluate(copies, key)[0, :, 0]  # [P]: one run per member
    # Identical rules: a pair (i, i + 2) runs the same level, lifetime and keys.
    np.testing.assert_array_equal(scores[:2], scores[2:])
    lifetimes = np.asarray(trainer.sampled.lifetimes(key))
    tasks = trainer.sampled.sample_tasks(key)
    assert lifetimes.shape == (2,) and np.all((lifetimes >= 1) & (lifetimes <= 4))
    assert not np.array_equal(np.asarray(tasks.walls[0]), np.asarray(tasks.walls[1]))
    # Member 0's score is the run of its level with its lifetime, as `member` computes it.
    task0 = jax.tree.map(lambda x: x[0], tasks)
    keys = jax.random.split(jax.random.fold_in(key, 0), 1)
    alone = jax.jit(trainer.sampled.member)(
        trainer.initial_solution, task0, keys[0], jnp.float32(lifetimes[0])
    )
    np.testing.assert_array_equal(alone, scores[0])
    # ...and a lifetime of L updates is an agent that made L updates.
    short = MetaTrainer(
        TaskDistribution(
            AGENT.replace(total_timesteps=int(lifetimes[0]) * 10), SPACE, 2, pairs=True
        ),
        LPGRule(),
        ES,
    )
    np.testing.assert_array_equal(
        jax.jit(short.sampled.member)(trainer.initial_solution, task0, keys[0]), scores[0]
    )
    # One program per generation: the next generations compile nothing.
    state, _ = trainer.step(trainer.init(), key)
    with count_compilations() as compiles:
        for g in (1, 2):
            state, metrics = trainer.step(state, trainer.generation_key(g))
    assert compiles.value == 0, compiles.value
    assert metrics.lifetimes.shape == (2,) and np.isfinite(metrics.fitness).all()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: _trainer(lifetimes=(1, 5)), r"reaches 5 updates.*makes 4"),
        (
            lambda: _trainer(tasks_per_generation=3),
            r"tasks_per_generation=3 .*population_size / 2 = 2",
        ),
        (
            lambda: MetaTrainer(
                TaskDistribution(AGENT, SPACE, 2, pairs=True),
                LPGRule(),
                ES.replace(fitness_shaping="centered_rank", normalize="initial"),
            ),
            "normalize='initial'",
        ),
        (
            lambda: MetaTrainer(
                TaskDistribution(PPO_TASK, SPACE, 1, lifetimes=(1, 2)),
                ClipEpsilon(),
                ES.replace(fitness_shaping="centered_rank"),
            ),
            "traced lifetime",
        ),
        (lambda: TaskDistribution(AGENT, SPACE, 2, lifetimes=(5, 2)), r"lifetimes=\(5, 2\)"),
        (lambda: ES.replace(antithetic=False), "antithetic is off"),
        (lambda: ES.replace(strategy="SV_Open_ES"), "SV_Open_ES does not draw as mirrors"),
    ],
)
def test_bad_ta_lpg_settings_are_refused_before_compiling(build, message, count_compilations):
    with count_compilations() as compiles, pytest.raises(ConfigError, match=message):
        build()
    assert compiles.value == 0


def test_talpg_cli_meta_trains_and_refuses_a_curriculum(tmp_path, capsys):
    from experiments import lpg

    flags = [
        "meta-train", "--method", "talpg", "--es.population-size", "4", "--lifetimes", "1", "4",
        "--agent.num-envs", "2", "--agent.num-steps", "5", "--agent.total-timesteps", "20",
        "--agent.rule.hidden-size", "16", "--eval-every", "1", "--eval-seeds", "1",
        "--task-space.num-heldout-sampled", "2", "--out-dir", str(tmp_path), "--no-progress",
    ]  # fmt: skip
    assert lpg.main([*flags, "--es.num-generations", "1"]) == 0
    (run,) = tmp_path.iterdir()
    out = capsys.readouterr().out
    assert "TA-LPG rule by Open_ES: population 4" in out and "meta-step 1: held-out" in out
    (line,) = [json.loads(x) for x in (run / "generations.jsonl").read_text().splitlines()]
    assert line["generation"] == 1 and line["method"] == "talpg"
    assert 1 <= line["mean_lifetime"] <= 4
    saved = json.loads((run / "rule_params.json").read_text())
    assert saved["rule"]["temporally_aware"] is True
    # meta-eval at other lifetimes: the rule and A2C, with the rule's profile over tenths.
    small = ["--agent.num-envs", "2", "--agent.num-steps", "5", "--agent.total-timesteps", "20"]
    assert lpg.main([
        "meta-eval", "--rule-params", str(run / "rule_params.npz"), "--seeds", "1",
        "--task-space.num-heldout-sampled", "2", "--lifetimes", "10", "--out-dir",
        str(tmp_path / "eval"), "--no-progress", *small,
    ]) == 0  # fmt: skip
    (folder,) = (tmp_path / "eval").iterdir()
    row = next(
        x for x in (folder / "results.md").read_text().splitlines() if x.startswith("| 10 |")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 5 and all(len(c.split(" / ")) == 3 for c in cells[3:]), row
    # The rule's entropy starts at log 5 (5 actions, a near-uniform first policy).
    assert abs(float(cells[3].split(" / ")[0]) - np.log(5)) < 0.05, row
    capsys.readouterr()
    assert lpg.main(["meta-eval", "--rule-params", "x.npz", "--lifetimes", "5"]) == 2
    assert "--lifetimes" in capsys.readouterr().err
    # A finished run can be extended with --resume: its length is not in the fingerprint.
    assert "num_generations" not in lpg.MetaTrainArgs(method="talpg").loop().fingerprint()["es"]
    assert lpg.main([*flags, "--curriculum", "groove"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--curriculum" in err[0] and "--method lpg" in err[0], err


@pytest.mark.slow
def test_talpg_by_es_learns_an_algorithm(tmp_path):
    """50 generations of the CLI's TA-LPG (32 members, lifetimes 20-100 updates; ~10 min on
    2 cores): fresh agents trained by the evolved rule on the held-out levels reach at least
    1.5x the random rule's return / optimal (measured: 0.135 -> 0.338, RESULTS.md)."""
    from experiments import lpg

    flags = [
        "meta-train", "--method", "talpg", "--lifetimes", "20", "100",
        "--es.num-generations", "50", "--eval-every", "50", "--out-dir", str(tmp_path),
        "--no-progress",
    ]  # fmt: skip
    assert lpg.main(flags) == 0
    (run,) = tmp_path.iterdir()
    records = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    start, end = records[0]["mean_fraction"], records[-1]["mean_fraction"]
    assert records[-1]["meta_step"] == 50
    report("held-out return / optimal, generation 0 then 50", [start, end])
    assert end >= 1.5 * start and end >= start + 0.05, (start, end)
