"""The outer-loop interface (rljax.meta.outer_loop) and tasks as data in the ES trainer.

CI budget: the clip-epsilon recovery on sampled pole lengths runs 5 generations of 8 members
x 2 tasks x 1 seed x 16k CartPole steps (the same env steps as tests/test_meta.py's recovery,
with the seeds traded for tasks); the bitwise check against the fixed-list mode trains one
2k-step run each way.
"""

import jax
import numpy as np
import pytest

from envs.classic import PARAMETERS, ClassicConfig
from rljax.config import ConfigError
from rljax.learner import make_learner
from rljax.meta import ClipEpsilon, ESConfig, MetaTrainer
from rljax.meta.inner import TaskDistribution
from rljax.meta.outer_loop import OuterLoop, run_outer_loop
from tests.test_meta import EPS_ES as META_ES
from tests.test_meta import EPS_TASK

LENGTH = PARAMETERS["CartPole-v1"].index("length")
POLE_LENGTHS = ClassicConfig(spread=0.0, ranges=(("length", 0.4, 0.6),))

# test_meta's clip-epsilon setup (CartPole, 64 updates; ES from eps 0.005), one seed per task.
EPS_ES = META_ES.replace(num_seeds=1)


def test_es_recovers_clip_eps_on_pole_lengths_drawn_each_generation(count_compilations):
    trainer = MetaTrainer(
        TaskDistribution(EPS_TASK, POLE_LENGTHS, tasks_per_generation=2),
        ClipEpsilon(0.005),
        EPS_ES,
    )
    assert trainer.env_steps_per_generation == 8 * 1 * 2 * 16_384
    state, first = trainer.step(trainer.init(), trainer.generation_key(0))
    history = [first]
    with count_compilations() as compiles:
        state = trainer.run(state, progress=False, on_generation=lambda s, m: history.append(m))
    assert compiles.value == 0, f"{compiles.value} compilations after the first generation"
    assert state.generation == 5
    lengths = np.stack([m.tasks[:, LENGTH] for m in history])  # [generations, tasks]
    assert np.all((lengths >= 0.4) & (lengths <= 0.6)), lengths
    assert len(np.unique(lengths)) == lengths.size  # fresh tasks every generation
    others = np.delete(np.stack([m.tasks for m in history]), LENGTH, axis=2)
    np.testing.assert_array_equal(others, np.broadcast_to(others[:1, :1], others.shape))
    assert all(m.task_returns.shape == (2,) for m in history)
    eps = float(np.exp(trainer.mean_solution(state)))
    fitness = [m.fitness_mean for m in history]
    assert eps > 0.02, eps
    assert fitness[-1] > fitness[0] + 8.0, fitness


def test_a_default_task_run_equals_the_fixed_list_run_bitwise():
    task = EPS_TASK.replace(total_timesteps=2048, num_eval_episodes=2)
    es = EPS_ES.replace(population_size=2, pop_batch_size=0, objective="final_return")
    fixed = MetaTrainer([task], ClipEpsilon(0.005), es)
    sampled = MetaTrainer(
        TaskDistribution(task, ClassicConfig(spread=0.0), tasks_per_generation=1),
        ClipEpsilon(0.005),
        es,
    )
    solution = np.log(np.float32(0.1))
    key = jax.random.PRNGKey(3)
    default = sampled.sampled.tasks(key)[0]
    a = jax.jit(fixed.programs[0].member)(solution, key)
    b = jax.jit(sampled.sampled.member)(solution, default, key)
    # The CartPole-v1 env with gymnax's defaults, and the parameter env on the default task
    # vector: the same run, final evaluation included.
    np.testing.assert_array_equal(a, b)
    assert sampled.fingerprint()["tasks"]["tasks_per_generation"] == 1


def test_run_outer_loop_drives_any_loop_with_checkpoints_in_order():
    class Counter:
        """A toy outer loop: the state counts generations and sums the keys' first words."""

        num_generations = 3

        def __init__(self):
            self.events = []

        def init(self):
            return State(0, 0)

        def generation_key(self, generation):
            return generation * 10

        def step(self, state, key):
            return State(state.generation + 1, state.total + key), {"key": key}

        def save(self, checkpointer, state):
            self.events.append(("save", state.generation))

        def run(self, *args, **kwargs):  # the interface's run is the shared driver
            return run_outer_loop(self, *args, **kwargs)

        def fingerprint(self):
            return {}

        def restore(self, checkpointer):
            return None

    class State:
        def __init__(self, generation, total):
            self.generation, self.total = generation, total

    loop: OuterLoop = Counter()
    seen = []
    state = loop.run(
        State(1, 0),
        progress=False,
        on_generation=lambda s, m: seen.append((s.generation, m["key"])),
        checkpointer=object(),
    )
    assert (state.generation, state.total) == (3, 30)
    assert seen == [(2, 10), (3, 20)]
    assert loop.events == [("save", 2), ("save", 3)]


def test_bad_task_distributions_are_refused():
    with pytest.raises(ConfigError, match="tasks_per_generation=0"):
        TaskDistribution(EPS_TASK, POLE_LENGTHS, tasks_per_generation=0)
    pendulum = TaskDistribution(EPS_TASK.replace(env="Pendulum-v1"), POLE_LENGTHS)
    with pytest.raises(ConfigError, match=r"observations \(3,\).*\(4,\)"):
        MetaTrainer(pendulum, ClipEpsilon(0.005), EPS_ES)
    with pytest.raises(ConfigError, match="drift='ppo_clip'"):
        MetaTrainer(
            TaskDistribution(EPS_TASK.replace(drift="lpo"), POLE_LENGTHS),
            ClipEpsilon(0.005),
            EPS_ES,
        )
    with pytest.raises(ConfigError, match="not a learner config"):
        make_learner(ESConfig())


# The population sharded over 8 devices, and its resume after SIGKILL, are tested through
# the command line in tests/test_loop_devices.py.
