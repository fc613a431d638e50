"""Neuroevolution over policy weights (`rljax.meta.neuroevolution`): Such et al.'s GA (its
elite re-evaluation against hand-built fitness), OpenAI-ES over the weights, one compiled
program per generation, bitwise resume, and learning on MinAtar Breakout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.config import ConfigError
from rljax.evaluation import EvalResult
from rljax.meta.es import ESConfig
from rljax.meta.neuroevolution import (
    GA,
    GAConfig,
    PolicySearchConfig,
    WeightsES,
    WeightsESConfig,
)

TINY_POLICY = PolicySearchConfig(env="Acrobot-v1", hidden_sizes=(8,), max_steps=100)


class NoisyFitness:
    """One weight w per member, its true return. In the population's episodes (1 each) a
    member below 0.2 looks like 1.2 - w (the worse, the luckier), one above 0.8 like w - 1;
    the re-evaluation's episodes (30) show the truth."""

    num_weights = 1

    def init_weights(self, key):
        return jax.random.uniform(key, (1,))

    def play_population(self, weights, key, episodes):
        true = weights[:, 0]
        lucky = jnp.where(true < 0.2, 1.2 - true, jnp.where(true > 0.8, true - 1.0, true))
        seen = lucky if episodes == 1 else true
        returns = jnp.broadcast_to(seen[:, None], (weights.shape[0], episodes))
        return EvalResult(returns, jnp.ones_like(returns, dtype=jnp.int32))


def noisy_ga(**changes) -> GA:
    config = GAConfig(policy=TINY_POLICY, population_size=64, truncation=5, elite_candidates=4)
    ga = GA(config.replace(**changes))
    ga.fitness = NoisyFitness()  # read when the program is traced, at its first call
    return ga


def test_ga_elite_is_the_best_candidate_on_re_evaluation_not_the_luckiest():
    """Generation 1, 64 uniform members: the 4 fittest by their one noisy episode are the 4
    smallest values (seen as 1.2 - w); re-evaluated, the largest of those (the 4th smallest)
    wins, not the luckiest (the smallest) nor the best member (above 0.8, seen as w - 1).
    The parents are the elite, then the next 4 by noisy fitness (the 1st, 2nd, 3rd and 5th
    smallest); env steps are 64 x 1 + 4 x 30."""
    ga = noisy_ga()
    key = ga.generation_key(0)
    state, metrics = ga.step(ga.init(), key)
    members = np.asarray(
        jax.vmap(ga.fitness.init_weights)(jax.random.split(jax.random.split(key, 3)[0], 64))
    )[:, 0]
    low = np.sort(members)
    assert low[5] < 0.2  # the draw has enough lucky members for the check to mean something
    elite = float(state.arrays.elite[0])
    assert elite == low[3] and metrics.score == pytest.approx(low[3])
    np.testing.assert_allclose(np.asarray(state.arrays.parents)[:, 0], low[[3, 0, 1, 2, 4]])
    assert metrics.env_steps == 64 + 4 * 30
    seen = np.where(members < 0.2, 1.2 - members, np.where(members > 0.8, members - 1, members))
    np.testing.assert_allclose(metrics.fitness, seen, rtol=1e-6)


def test_ga_keeps_the_elite_as_a_candidate_even_when_it_looks_worst():
    """From generation 2 the previous elite is member 0, unmutated, and a candidate whatever
    its noisy fitness: an elite of true value 0.95 (seen as -0.05, last of the population)
    stays elite; the children of parents (0.1, 0.05, ...) with sigma 0 are copies of them
    (seen as 1.1, 1.15, ...)."""
    ga = noisy_ga()
    state = ga.init()
    parents = jnp.asarray([[0.95], [0.1], [0.05], [0.04], [0.03]])
    arrays = state.arrays.replace(parents=parents, elite=jnp.asarray([0.95]), sigma=0.0)
    state = state.replace(arrays=arrays, generation=1)
    state, metrics = ga.step(state, ga.generation_key(1))
    assert float(state.arrays.elite[0]) == pytest.approx(0.95)
    assert (
        metrics.fitness[0] == pytest.approx(-0.05) and metrics.fitness[0] <= metrics.fitness.min()
    )
    seen = np.asarray([-0.05, 1.1, 1.15, 1.16, 1.17])  # the parents' noisy fitness
    assert (np.abs(metrics.fitness[1:, None] - seen).min(axis=1) < 1e-5).all()


def test_ga_and_es_generations_compile_once_and_resume_bitwise(tmp_path):
    """Three generations of each on Acrobot (16 members): one compiled generation program,
    and a search checkpointed after generation 2 and resumed in a new object ends bitwise
    equal to the uninterrupted one. The GA improves its elite or keeps it."""
    from rljax.checkpoint import Checkpointer
    from rljax.experiment import enable_compilation_cache

    previous = jax.config.jax_compilation_cache_dir
    enable_compilation_cache(str(tmp_path / "cache"))  # the later objects load the program
    try:
        check_compiles_once_and_resumes(tmp_path, Checkpointer)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def check_compiles_once_and_resumes(tmp_path, Checkpointer):
    loops = {
        "ga": lambda: GA(
            GAConfig(
                TINY_POLICY,
                population_size=16,
                truncation=4,
                elite_candidates=3,
                elite_episodes=2,
                num_generations=3,
            )
        ),
        "es": lambda: WeightsES(
            WeightsESConfig(
                TINY_POLICY,
                ESConfig(population_size=16, num_generations=3, num_seeds=1, sigma_init=0.05),
                eval_episodes=2,
            )
        ),
    }
    for name, make in loops.items():
        whole = make()
        state = whole.run(whole.init(), progress=False)
        assert whole._program._cache_size() == 1, name
        lowered = whole._program.lower(whole._arrays(whole.init()), whole.generation_key(0), True)
        assert "lapack" not in lowered.as_text().lower(), name  # see rljax/networks.py
        part = make()
        with Checkpointer(tmp_path / name, part.fingerprint()) as ckpt:
            part.run(part.init(), num_generations=2, progress=False, checkpointer=ckpt)
        resumed_loop = make()
        with Checkpointer(tmp_path / name, resumed_loop.fingerprint()) as ckpt:
            resumed = resumed_loop.restore(ckpt)
            assert resumed.generation == 2
            resumed = resumed_loop.run(resumed, progress=False)
        assert resumed.generation == state.generation == 3
        for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(state), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)


def test_bad_search_configs_name_the_field():
    with pytest.raises(ConfigError, match="truncation"):
        GAConfig(population_size=8, truncation=9)
    with pytest.raises(ConfigError, match="elite_candidates"):
        GAConfig(population_size=8, truncation=2, elite_candidates=9)
    with pytest.raises(ConfigError, match="Acrobat"):
        PolicySearchConfig(env="Acrobat-v1")
    with pytest.raises(ConfigError, match="num_seeds"):
        WeightsESConfig(es=ESConfig(num_seeds=4))


def test_cli_writes_a_run_folder_and_resumes_to_the_same_records(tmp_path, capsys):
    """`experiments.neuroevolution ga` at a tiny size: the run folder, one record per
    generation with cumulative env steps, and a run whose last checkpoint is deleted resumes
    from generation 2 and rewrites the same records (timings aside)."""
    import json
    import shutil

    from experiments import neuroevolution

    argv = ["ga", "--out-dir", str(tmp_path), "--no-progress", "--compilation-cache", ""]
    argv += ["--search.policy.hidden-sizes", "8", "--search.policy.max-steps", "100"]
    argv += ["--search.population-size", "16", "--search.truncation", "4"]
    argv += ["--search.elite-candidates", "3", "--search.elite-episodes", "2"]
    argv += ["--search.num-generations", "3"]
    assert neuroevolution.main(argv) == 0
    (run_dir,) = tmp_path.iterdir()
    for name in ("config.json", "curve.png", "policy.npz", "generations.jsonl"):
        assert (run_dir / name).exists(), name

    def records():
        lines = (run_dir / "generations.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines]

    first = records()
    assert [r["generation"] for r in first] == [0, 1, 2]
    assert np.cumsum([r["env_steps"] for r in first]).tolist() == [
        r["total_env_steps"] for r in first
    ]
    weights = np.load(run_dir / "policy.npz")["weights"]
    shutil.rmtree(run_dir / "checkpoints" / "3")
    capsys.readouterr()
    assert neuroevolution.main(["ga", "--resume", str(run_dir), *argv[1:]]) == 0
    assert "resumed at generation 2" in capsys.readouterr().out
    assert records() == first
    np.testing.assert_array_equal(np.load(run_dir / "policy.npz")["weights"], weights)
    assert (
        neuroevolution.main(["ga", "--search.truncation", "999", "--out-dir", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--search.truncation" in err and len(err.splitlines()) == 1
