"""Pure-state environment wrappers, and the vectorised env they are stacked on.

Each wrapper keeps its state in a typed pytree next to the inner env's state and keeps the
gymnax 1.0 step signature, so wrappers compose freely. `VecEnv` vmaps an env over a batch of
`num_envs`; `NormalizeObservation` must sit on top of a `VecEnv` because its running
statistics are shared over the batch (per-env statistics, as in several single-file
implementations, drift apart and make the policy see different scales per env).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from rljax.environment import max_episode_steps


class Wrapper:
    """Forwards everything to `self.env`; subclasses override what they change."""

    def __init__(self, env: Any):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def reset(self, key, params):
        return self.env.reset(key, params)

    def step(self, key, state, action, params):
        return self.env.step(key, state, action, params)

    def action_space(self, params):
        return self.env.action_space(params)

    def observation_space(self, params):
        return self.env.observation_space(params)


# --- episode statistics -------------------------------------------------------------------


@struct.dataclass
class EpisodeStatisticsState:
    inner: Any
    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStatistics(Wrapper):
    """Adds `info["episode_return"]`, `info["episode_length"]` and `info["episode_done"]`.

    The return and length are those of the episode that ended at this step; they are only
    meaningful where `episode_done` is True.
    """

    def reset(self, key, params):
        obs, inner = self.env.reset(key, params)
        zero = jnp.zeros((), jnp.float32)
        return obs, EpisodeStatisticsState(inner, zero, jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(
            key, state.inner, action, params
        )
        done = terminated | truncated
        ret = state.episode_return + reward
        length = state.episode_length + 1
        info = {**info, "episode_return": ret, "episode_length": length, "episode_done": done}
        new_state = EpisodeStatisticsState(
            inner,
            jnp.where(done, 0.0, ret).astype(jnp.float32),
            jnp.where(done, 0, length).astype(jnp.int32),
        )
        return obs, new_state, reward, terminated, truncated, info


# --- actions ------------------------------------------------------------------------------


class ClipAction(Wrapper):
    """Clips continuous actions into the action space's bounds before stepping."""

    def step(self, key, state, action, params):
        space = self.env.action_space(params)
        return self.env.step(key, state, jnp.clip(action, space.low, space.high), params)


class RescaleAction(Wrapper):
    """Exposes a [-1, 1] action box and maps it affinely onto the inner env's bounds."""

    def step(self, key, state, action, params):
        space = self.env.action_space(params)
        low, high = jnp.asarray(space.low), jnp.asarray(space.high)
        scaled = low + (jnp.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
        return self.env.step(key, state, scaled, params)

    def action_space(self, params):
        shape = self.env.action_space(params).shape
        ones = jnp.ones(shape, jnp.float32)
        return spaces.Box(low=-ones, high=ones, shape=shape, dtype=jnp.float32)


# --- observations -------------------------------------------------------------------------


class MaskObservation(Wrapper):
    """Keeps only the observation dimensions `keep` (indices into a vector observation).

    Dropping what the policy needs, e.g. CartPole's velocities (registered as
    `CartPole-v1-no-velocity`), turns a fully observed task into a partially observed one:
    the dropped quantities must be inferred from the history, so it takes a recurrent policy
    (the "velocities removed" benchmarks of recurrent RL, e.g. Meng et al. 2021,
    "Memory-based Deep Reinforcement Learning for POMDPs", Sec. V). `info["final_observation"]`
    is masked the same way.
    """

    def __init__(self, env: Any, keep: tuple[int, ...]):
        super().__init__(env)
        self.keep = tuple(keep)

    def _mask(self, obs: jax.Array) -> jax.Array:
        return obs[..., jnp.asarray(self.keep)]

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return self._mask(obs), state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_observation": self._mask(info["final_observation"])}
        return self._mask(obs), state, reward, terminated, truncated, info

    def observation_space(self, params):
        space = self.env.observation_space(params)
        keep = jnp.asarray(self.keep)
        low = jnp.broadcast_to(jnp.asarray(space.low), space.shape)[keep]
        high = jnp.broadcast_to(jnp.asarray(space.high), space.shape)[keep]
        return spaces.Box(low=low, high=high, shape=(len(self.keep),), dtype=space.dtype)


# --- vectorisation ------------------------------------------------------------------------


class VecEnv(Wrapper):
    """Runs `num_envs` copies of `env` in lockstep with one key each.

    Shapes: obs `[num_envs, *obs_shape]`, reward/terminated/truncated `[num_envs]`,
    action `[num_envs, *action_shape]`. `params` is shared by all copies.
    """

    def __init__(self, env: Any, num_envs: int):
        super().__init__(env)
        self.num_envs = num_envs

    def reset(self, key, params):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key, state, action, params):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)


@struct.dataclass
class RunningMeanStd:
    """Batched running mean/variance (Chan et al. parallel update). Shapes `obs_shape`."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def update(self, batch: jax.Array) -> RunningMeanStd:
        batch_mean = batch.mean(axis=0)
        batch_var = batch.var(axis=0)
        batch_count = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float = 10.0) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -clip, clip)


@struct.dataclass
class NormalizeObservationState:
    inner: Any
    stats: RunningMeanStd
    # False during evaluation: statistics are frozen at their training values.
    update_stats: jax.Array


class NormalizeObservation(Wrapper):
    """Normalises observations with running statistics shared over the `VecEnv` batch.

    `info["final_observation"]` is normalised with the same statistics, so a value bootstrap
    on truncation sees the scale the network was trained on. `reset_frozen` starts evaluation
    episodes with statistics taken from training, frozen.
    """

    def reset(self, key, params):
        return self.reset_onto(*self.env.reset(key, params))

    def reset_onto(
        self, obs: jax.Array, inner: Any, stats: RunningMeanStd | None = None, frozen=False
    ):
        """The normalised start of the batch `(obs, inner)` reset below this wrapper (e.g.
        onto a loop's own tasks): statistics `stats` carry on (fresh ones if None), updated
        with `obs` unless `frozen`, in which case they are never updated (evaluation)."""
        if stats is None:
            stats = RunningMeanStd.create(obs.shape[1:])
        if not frozen:
            stats = stats.update(obs)
        return stats.normalize(obs), NormalizeObservationState(
            inner, stats, jnp.asarray(not frozen)
        )

    def step(self, key, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(
            key, state.inner, action, params
        )
        updated = state.stats.update(obs)
        stats = jax.tree.map(
            lambda new, old: jnp.where(state.update_stats, new, old), updated, state.stats
        )
        info = {**info, "final_observation": stats.normalize(info["final_observation"])}
        new_state = NormalizeObservationState(inner, stats, state.update_stats)
        return stats.normalize(obs), new_state, reward, terminated, truncated, info

    def reset_frozen(self, key, params, stats: RunningMeanStd):
        """Reset for evaluation: normalise with `stats` (from training) and never update them."""
        return self.reset_onto(*self.env.reset(key, params), stats=stats, frozen=True)


# --- frame stacking -------------------------------------------------------------------------


@struct.dataclass
class FrameStackState:
    inner: Any
    frames: jax.Array


class FrameStack(Wrapper):
    """The last `num_frames` observations concatenated along the channel axis, oldest first;
    an episode starts with its first observation repeated. A memoryless policy then sees a
    little history (Mnih et al. 2015, Methods, "preprocessing"). Keeps `reset_to` (a task
    space's reset onto a task)."""

    def __init__(self, env: Any, num_frames: int):
        super().__init__(env)
        self.num_frames = num_frames

    def _fresh(self, obs: jax.Array) -> jax.Array:
        return jnp.concatenate([obs] * self.num_frames, axis=-1)

    def _push(self, frames: jax.Array, obs: jax.Array) -> jax.Array:
        return jnp.concatenate([frames[..., obs.shape[-1] :], obs], axis=-1)

    def reset(self, key, params):
        obs, inner = self.env.reset(key, params)
        return self._fresh(obs), FrameStackState(inner, self._fresh(obs))

    def reset_to(self, key, task, params):
        obs, inner = self.env.reset_to(key, task, params)
        return self._fresh(obs), FrameStackState(inner, self._fresh(obs))

    def step(self, key, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(
            key, state.inner, action, params
        )
        final = self._push(state.frames, info["final_observation"])
        frames = jnp.where(terminated | truncated, self._fresh(obs), self._push(state.frames, obs))
        info = {**info, "final_observation": final}
        return frames, FrameStackState(inner, frames), reward, terminated, truncated, info

    def observation_space(self, params):
        space = self.env.observation_space(params)
        shape = (*space.shape[:-1], space.shape[-1] * self.num_frames)
        return spaces.Box(0.0, 1.0, shape, space.dtype)


# --- meta-RL trials -------------------------------------------------------------------------


@struct.dataclass
class TrialState:
    inner: Any
    episodes_done: jax.Array  # int32: episodes of this trial that have ended


class Trials(Wrapper):
    """`episodes` episodes of the same task as one trial, which the learner sees as one
    episode: RL^2's setting (Duan et al. 2016, Sec. 2.2) and the XLand-MiniGrid paper's
    meta-RL one, where a recurrent agent keeps its memory from one episode of a task to the
    next and can exploit what it found out.

    The inner env auto-resets onto the same task (a task space's env). The end of every
    episode but the trial's last is hidden (no `terminated`, no `truncated`, so a recurrent
    policy keeps its hidden state and returns flow across episodes), and the observation
    after it, the next episode's first, is the trial's next observation (also as
    `info["final_observation"]`). The trial ends with its last episode's own flags: terminated
    if that episode terminated, truncated at its time limit. `max_episode_steps` is the
    trial's bound, `episodes` times the episode's. Keeps `reset_to`."""

    def __init__(self, env: Any, episodes: int):
        super().__init__(env)
        self.episodes = episodes

    @property
    def max_episode_steps(self) -> int:
        return self.episodes * max_episode_steps(self.env, self.env.default_params)

    def reset(self, key, params):
        obs, inner = self.env.reset(key, params)
        return obs, TrialState(inner, jnp.zeros((), jnp.int32))

    def reset_to(self, key, task, params):
        obs, inner = self.env.reset_to(key, task, params)
        return obs, TrialState(inner, jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(
            key, state.inner, action, params
        )
        episode_end = terminated | truncated
        done = state.episodes_done + episode_end.astype(jnp.int32)
        trial_end = done >= self.episodes
        info = {
            **info,
            "final_observation": jnp.where(trial_end, info["final_observation"], obs),
        }
        state = TrialState(inner, jnp.where(trial_end, 0, done).astype(jnp.int32))
        return obs, state, reward, terminated & trial_end, truncated & trial_end, info
