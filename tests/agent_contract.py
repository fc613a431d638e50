"""The behaviour every algorithm shares, as reusable assertions for its test file.

Each algorithm's tests call these with a tiny config: a training chunk compiles exactly once
(a partial last chunk included, called directly and through `rljax.run`), the same seed gives
bitwise the same run, `vmap` over seeds equals separate runs, the vmapped program calls no
LAPACK, and the agent's value (or Q) targets bootstrap on truncation and not on termination.
Learning checks share `final_eval_returns`.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

import rljax
from rljax import run_batch, training
from rljax.environment import register

RECORD: list[Any] = [None]
"""pytest's `record_property` of the running test, set by tests/conftest.py (None outside a
test): `report` hands it measured values, which the run's summary prints."""


def report(name: str, values: Any) -> None:
    """Record `values` (e.g. per-seed returns) under `name` for the run's summary, so a
    passing learning check leaves its numbers in the log, not only its pass."""
    if RECORD[0] is not None:
        RECORD[0](f"measured:{name}", np.round(np.asarray(values, np.float64), 3).tolist())


@functools.cache
def _jitted_train(algo: Any) -> Any:
    """One jitted `train` per algorithm object, so repeated runs reuse one compilation (a
    fresh `jit(partial(...))` per call would compile again every time)."""
    return jax.jit(functools.partial(rljax.train, algo))


def final_eval_returns(algo: Any, config: Any, seeds: list[int], chunk_size: int = 512) -> Any:
    """Train `config` on every seed in one vmapped batch; the last evaluation's mean return
    per seed `[len(seeds)]`."""
    result = rljax.run(
        algo,
        rljax.seed_keys(seeds),
        rljax.stack_hparams([config.hparams()] * len(seeds)),
        chunk_size=chunk_size,
        progress=False,
    )
    returns = result.eval_returns.mean(axis=1)
    report(f"final evaluation return per seed {list(seeds)}", returns)
    return returns


def assert_no_lapack(algo: Any, hparams: Any) -> None:
    """The vmapped training program calls no LAPACK routine: a vmapped LAPACK call (flax's
    orthogonal init, and the GRU's recurrent kernel init, use QR) can deadlock XLA:CPU's
    intra-op pool on 2-core machines; see rljax/networks.py."""
    lowered = jax.jit(jax.vmap(functools.partial(rljax.train, algo))).lower(
        rljax.seed_keys([0, 1]), rljax.stack_hparams([hparams] * 2)
    )
    assert "lapack" not in lowered.as_text().lower()


def network_params(algo: Any, state: Any) -> Any:
    """The state's network parameters: what the algorithm's NaN guard checks
    (`checked_leaves`), or `state.params`."""
    checked = getattr(algo, "checked_leaves", None)
    return checked(state) if checked is not None else state.params


def train_one(algo: Any, hparams: Any, seed: int) -> tuple[Any, Any]:
    return _jitted_train(algo)(jax.random.PRNGKey(seed), hparams)


def assert_run_compiles_one_chunk_program(algo: Any, hparams: Any, count_compilations: Any) -> Any:
    """`rljax.run` over 5 updates in chunks of 2 (2, 2, then a partial 1) of a 2-run batch
    compiles three programs: init, one chunk program (the partial last chunk reuses it, masked
    rather than shorter) and evaluate. Returns the final state (leaves `[2, ...]`)."""
    chunks, make_chunk = [], training.compiled_chunk

    def recording(*args: Any, **kwargs: Any) -> Any:
        chunks.append(make_chunk(*args, **kwargs))
        return chunks[-1]

    sized = copy.copy(algo)
    sized.num_updates = 5
    keys, batch = rljax.seed_keys([0, 1]), rljax.stack_hparams([hparams] * 2)
    jnp.int32(1)  # the first int32 scalar of a process compiles a conversion
    training.compiled_chunk = recording
    try:
        with count_compilations() as compiles:
            result = rljax.run(sized, keys, batch, chunk_size=2, progress=False)
            jax.block_until_ready(result.state)
    finally:
        training.compiled_chunk = make_chunk
    assert len(chunks) == 1, "one chunk program"
    assert result.metrics[next(iter(result.metrics))].shape[:2] == (2, 5)
    assert compiles.value == 3, f"{compiles.value} compilations: init, the chunk and evaluate"
    return result.state


def check_resumes_bitwise(algo: Any, hparams: Any, final_state: Any) -> None:
    """A 2-run batch trained 2 updates, then resumed from that state to 5, ends bitwise equal
    to `final_state` (the uninterrupted 5 updates of `assert_run_compiles_one_chunk_program`).
    Not an `assert_` check of the agent contract: the curricula's tests call it."""
    keys, batch = rljax.seed_keys([0, 1]), rljax.stack_hparams([hparams] * 2)
    sized = copy.copy(algo)
    sized.num_updates = 2
    first = rljax.run(sized, keys, batch, chunk_size=2, progress=False)
    sized.num_updates = 5
    resumed = rljax.run(
        sized, keys, batch, chunk_size=2, progress=False, state=first.state, updates_done=2
    )
    for a, b in zip(jax.tree.leaves(final_state), jax.tree.leaves(resumed.state), strict=True):
        np.testing.assert_array_equal(a, b)


def assert_same_seed_same_run(algo: Any, hparams: Any) -> None:
    """Bitwise-equal state and metrics for the same seed; different params for another."""
    (state_a, metrics_a), (state_b, metrics_b) = (
        train_one(algo, hparams, 3),
        train_one(algo, hparams, 3),
    )
    for a, b in zip(
        jax.tree.leaves((state_a, metrics_a)), jax.tree.leaves((state_b, metrics_b)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    state_c, _ = train_one(algo, hparams, 4)
    assert any(
        not np.array_equal(a, c)
        for a, c in zip(
            jax.tree.leaves(network_params(algo, state_a)),
            jax.tree.leaves(network_params(algo, state_c)),
            strict=True,
        )
    )


def assert_vmap_equals_separate_runs(
    algo: Any,
    hparams: Any,
    seeds: tuple[int, ...] = (0, 1, 2),
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """`vmap(train)` over seeds gives each seed's separate run (to float tolerance: batched
    matmuls may sum in another order). The batch is vmapped under `run_batch.RUNS`, as
    `rljax.run` vmaps it, so branches that agree across runs stay real branches."""
    batched_train = jax.vmap(functools.partial(rljax.train, algo), axis_name=run_batch.RUNS)
    batched_state, batched_metrics = jax.jit(batched_train)(
        rljax.seed_keys(seeds), rljax.stack_hparams([hparams] * len(seeds))
    )
    for i, seed in enumerate(seeds):
        state, metrics = train_one(algo, hparams, seed)
        for a, b in zip(
            jax.tree.leaves((network_params(algo, batched_state), batched_metrics)),
            jax.tree.leaves((network_params(algo, state), metrics)),
            strict=True,
        ):
            np.testing.assert_allclose(a[i], b, rtol=rtol, atol=atol, equal_nan=True)


# --- truncation against termination -----------------------------------------------------------


@struct.dataclass
class _EndsParams:
    max_steps_in_episode: int = 3


class EndsAfterThree:
    """A deterministic env (gymnax 1.0 interface) whose every episode lasts 3 steps and ends by
    its time limit (`ends_by="truncated"`) or by reaching its end (`"terminated"`). Reward 1
    at every step; the observation `[4]` is the same at every step, so a feed-forward agent's
    bootstrap value B = V(s') (or max_a Q(s', a), ...) is one number for every step of a run."""

    OBS = np.asarray([1.0, -2.0, 0.5, 3.0], np.float32)

    def __init__(self, ends_by: str):
        self.ends_by = ends_by

    @property
    def default_params(self) -> _EndsParams:
        return _EndsParams()

    def reset(self, key: jax.Array, params: _EndsParams) -> tuple[jax.Array, jax.Array]:
        return jnp.asarray(self.OBS), jnp.zeros((), jnp.int32)

    def step(self, key, state, action, params):
        time = state + 1
        done = time >= params.max_steps_in_episode
        terminated = done & (self.ends_by == "terminated")
        truncated = done & (self.ends_by == "truncated")
        obs = jnp.asarray(self.OBS)
        info = {"final_observation": obs, "terminated": terminated, "truncated": truncated}
        new_state = jnp.where(done, 0, time).astype(jnp.int32)
        return obs, new_state, jnp.float32(1.0), terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(-3.0, 3.0, (4,), jnp.float32)


ENDS_BY = ("truncated", "terminated")
for _ends_by in ENDS_BY:
    register(
        f"contract/EndsAfter3-{_ends_by}",
        functools.partial(lambda ends_by: (EndsAfterThree(ends_by), _EndsParams()), _ends_by),
    )


def _collect(algo: Any, state: Any) -> tuple[Any, Any]:
    """One rollout by the agent's own `collect`; a learner (`rljax.learner`) is handed the
    env batch to collect on."""
    if len(inspect.signature(algo.collect).parameters) == 3:
        return algo.collect(state, algo.env, algo.env_params)
    return algo.collect(state)


def _transitions(algo: Any, traj: Any) -> Any:
    return algo.transitions(traj) if hasattr(algo, "transitions") else traj


def assert_bootstraps_on_truncation_only(
    make_algo: Callable[[str], Any], one_bootstrap_value: bool = True
) -> None:
    """Drive the agent on `EndsAfterThree` (`make_algo(env_name)` builds it with one-step
    targets: lambda 0 or n-step 1, gamma < 1) and check `algo.value_targets(state, traj)`,
    the targets its `learn` regresses its value or Q-value onto, against the hand computation:

    - ended by termination, a last step's target is its reward, 1: nothing is bootstrapped;
    - ended by truncation, a last step's target is 1 + gamma * B with B != 0, bootstrapped
      from its final observation; with `one_bootstrap_value` (a feed-forward agent, whose B
      is the same at every step of this env) exactly the target of every other step;
    - every other step's target is the same in both runs (the flag kind changes nothing else).
    """
    targets, ends = {}, {}
    for ends_by in ENDS_BY:
        algo = make_algo(f"contract/EndsAfter3-{ends_by}")
        state = jax.jit(algo.init)(jax.random.PRNGKey(0), algo.config.hparams())
        state, traj = jax.jit(functools.partial(_collect, algo))(state)
        steps = _transitions(algo, traj)
        ends[ends_by] = np.asarray(getattr(steps, ends_by))
        assert ends[ends_by].any(), "the rollout must see an episode end"
        np.testing.assert_array_equal(np.asarray(steps.terminated | steps.truncated), ends[ends_by])
        targets[ends_by] = np.asarray(jax.jit(algo.value_targets)(state, traj))
        gamma = float(algo.config.gamma)
    end = ends["truncated"]
    np.testing.assert_array_equal(end, ends["terminated"])
    terminated, truncated = targets["terminated"], targets["truncated"]
    np.testing.assert_allclose(terminated[end], 1.0, rtol=1e-6, err_msg="termination bootstraps")
    bootstrap = (truncated[end] - 1.0) / gamma
    assert np.all(np.abs(bootstrap) > 1e-3), f"truncation is not bootstrapped: B = {bootstrap}"
    np.testing.assert_allclose(truncated[~end], terminated[~end], rtol=1e-6)
    if one_bootstrap_value:
        np.testing.assert_allclose(truncated, truncated.flat[0], rtol=1e-5)
