"""The UED training loop: a PPO learner trained on the levels a curriculum proposes.

One curriculum step (Jiang et al. 2021, "Prioritized Level Replay", Alg. 1 and 2; robust PLR,
Jiang et al. 2021b, "Replay-Guided Adversarial Environment Design", Alg. 1; ACCEL,
Parker-Holder et al. 2022, "Evolving Curricula with Regret-Based Environment Design", Alg. 1):

  1. `curriculum.propose` picks `num_levels` levels: NEW from the generator, a REPLAY batch
     from the level buffer, or ACCEL's MUTATE children of the last replay batch;
  2. the env batch is reset onto them (`reset_to_level`) and PPO's policy collects `num_steps`
     steps on each; episodes auto-reset onto the same level;
  3. each level is scored from that trajectory (positive value loss over GAE advantages, or
     MaxMC), only from episodes that finished (`rljax.curricula.scores`);
  4. PPO learns from the trajectory only if the step trains (`ProposeInfo.train`: robust PLR
     and ACCEL never take a gradient step on NEW or MUTATE levels); a traced `lax.cond`, so
     every step kind runs the same compiled program;
  5. `curriculum.observe` records the scores (rescore the replayed slots, or offer the levels
     to the buffer) and counts env steps and gradient updates apart.

An `Algorithm` update (`rljax.training`) is `steps_per_eval` curriculum steps followed by one
evaluation on the held-out levels, so the held-out solve rate is a metric of every update,
computed inside the compiled loop at a cost amortised over `steps_per_eval` steps. (A `cond`
on "every k-th step" would not do: under `vmap` over seeds its predicate is batched, so it
lowers to a `select` that evaluates on every step.)

The learner is the recurrent PPO of `rljax.agents.recurrent_ppo` (a GRU actor-critic: the
maze is partially observed, and the papers' agent is an LSTM), or with `agent="feedforward"`
PPO's MLP over a stack of the last `frame_stack` views. The loop touches the agent only
through PPO's public interface (`init_params`, `start_rollout`, `collect(state, env)`,
`transitions`, `next_values`, `learn`, `act`, `initial_policy_carry`), which both agents
implement, so the two run the same code.

Why here and not in `rljax/agents`: layers import downwards only, and this loop drives an
agent (PPO) from a curriculum, so it belongs beside the curricula it serves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from rljax import config as cfg
from rljax import rollout
from rljax.agents.common import TrainState
from rljax.agents.ppo import PPO, PPOConfig, PPOHParams, PPOMetrics
from rljax.agents.recurrent_ppo import RecurrentPPO, RecurrentPPOConfig
from rljax.config import ConfigError
from rljax.curricula import scores as level_scores
from rljax.curricula.curriculum import (
    METHODS,
    MUTATE,
    NEW,
    REPLAY,
    CState,
    Curriculum,
    CurriculumConfig,
    CurriculumHParams,
)
from rljax.environment import make, max_episode_steps
from rljax.evaluation import EvalResult, evaluate
from rljax.returns import gae
from rljax.wrappers import EpisodeStatistics, EpisodeStatisticsState, VecEnv, Wrapper

SCORE_FUNCTIONS = ("pvl", "max_mc")
AGENTS = ("recurrent", "feedforward")
ADVERSARY_STEPS = 52
"""Steps of PAIRED's adversary per level on `MazeAdversary-13x13`: goal, agent, 50 walls."""


@dataclass(frozen=True)
class UEDConfig:
    """A UED run: the curriculum, the PPO learner and the held-out evaluation.

    Defaults follow the common 13x13 maze settings of the PLR/ACCEL maze experiments (buffer
    4000, replay 0.8, staleness 0.3, temperature 0.3, 5 ACCEL edits, 256-step rollouts,
    gamma 0.995, lambda 0.98, lr 1e-4, 5 epochs of 1 minibatch, entropy 1e-3). The agent is
    recurrent PPO with a GRU of `gru_size` units over an MLP embedding of the view, where the
    papers use an LSTM of 256 over a conv embedding and a direction embedding: check the
    papers' appendices before claiming a reproduction.
    """

    method: str = "robust_plr"
    """dr, plr, robust_plr, accel or paired (`rljax.curricula.paired`)."""
    env: str = "Maze-13x13"
    """An env with `reset_to_level` whose episodes auto-reset onto the same level."""
    total_timesteps: int = 10_000_000
    """Env steps per run, every rollout counted (trained on or not)."""
    num_levels: int = 16
    """Levels per curriculum step: the env batch of one rollout (static)."""
    num_steps: int = 256
    """Steps per level per rollout; >= the episode limit (250) so every level finishes an
    episode and gets a valid score."""
    steps_per_eval: int = 8
    """Curriculum steps per update; the held-out levels are evaluated after each update."""
    score_function: str = "pvl"
    """`pvl` (positive value loss) or `max_mc` (MaxMC)."""
    capacity: int = 4000
    """Level buffer size (plr, robust_plr, accel)."""
    replay_prob: float = 0.8
    """Probability of a replay step once the buffer is filled to min_fill_ratio."""
    min_fill_ratio: float = 0.5
    """Fraction of the buffer filled before replay starts."""
    temperature: float = 0.3
    """beta of PLR's rank prioritisation."""
    staleness_coef: float = 0.3
    """rho, PLR's staleness mixing weight."""
    prioritization: str = "rank"
    """`rank` or `topk`."""
    top_k: int = 4
    """Levels kept by `topk` prioritisation."""
    duplicate_check: bool = False
    """Update an identical stored level instead of inserting a copy."""
    num_edits: int = 5
    """ACCEL: random edits per child level."""
    num_walls: int = 25
    """Wall budget of the DR generator (new levels of dr, plr, robust_plr)."""
    accel_num_walls: int = 0
    """Wall budget of ACCEL's new levels (0: empty rooms; ACCEL starts simple)."""
    agent: str = "recurrent"
    """`recurrent` (GRU PPO, `rljax.agents.recurrent_ppo`) or `feedforward` (PPO's MLP; give
    it `frame_stack` > 1 so that it sees some history)."""
    gru_size: int = 128
    """Units of the recurrent agent's GRU."""
    frame_stack: int = 1
    """Views stacked along channels as the policy's input (1: no stack; 4 suits the
    feed-forward agent)."""
    learning_rate: float = 1e-4
    """Adam step size (traced)."""
    anneal_lr: bool = False
    """Anneal the learning rate over PPO's nominal updates (gradient steps vary by method)."""
    update_epochs: int = 5
    """PPO epochs per trained rollout."""
    num_minibatches: int = 1
    """PPO minibatches per epoch."""
    gamma: float = 0.995
    """Discount factor."""
    gae_lambda: float = 0.98
    """GAE's lambda (also used by the positive value loss score)."""
    clip_eps: float = 0.2
    """PPO's clip epsilon."""
    ent_coef: float = 1e-3
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Global-norm gradient clipping."""
    hidden_sizes: tuple[int, ...] = (64,)
    """MLP widths: the feed-forward agent's torso; the recurrent agent's embedding before the
    GRU, whose actor and critic heads have one hidden layer of the last width."""
    activation: str = "tanh"
    """`tanh` or `relu`."""
    eval_episodes: int = 4
    """Episodes per held-out level in each evaluation."""
    greedy_eval: bool = False
    """Evaluate with the policy's mode instead of sampling (a memoryless greedy policy can
    loop forever in a partially observed maze)."""
    eval_seed: int = 0
    """Fixes the evaluation episodes, the same for every run and every update."""

    def __post_init__(self) -> None:
        cfg.check_choice(self, "method", METHODS)
        cfg.check_choice(self, "score_function", SCORE_FUNCTIONS)
        cfg.check_choice(self, "agent", AGENTS)
        cfg.check_positive(self, "steps_per_eval", "frame_stack", "eval_episodes", "gru_size")
        cfg.check_non_negative(self, "num_walls", "accel_num_walls")
        self.curriculum_config()  # validates the curriculum's fields
        self.ppo_config()  # validates the learner's fields
        per_update = self.steps_per_update
        if self.total_timesteps < per_update:
            what = "num_levels * num_steps"
            if self.method == "paired":
                what = f"num_levels * (2 * num_steps + {ADVERSARY_STEPS})"
            cfg.fail(
                self,
                "total_timesteps",
                f"is less than one update of steps_per_eval * {what} = {per_update}",
                f"pass total_timesteps >= {per_update} or a smaller steps_per_eval",
            )

    def replace(self, **changes: Any) -> UEDConfig:
        return dataclasses.replace(self, **changes)

    @property
    def steps_per_update(self) -> int:
        """Env steps of one update, every rollout counted: PAIRED's protagonist, antagonist
        and adversary (`ADVERSARY_STEPS` per level) included."""
        per_step = self.num_levels * self.num_steps
        if self.method == "paired":
            per_step = self.num_levels * (2 * self.num_steps + ADVERSARY_STEPS)
        return self.steps_per_eval * per_step

    def curriculum_config(self) -> CurriculumConfig:
        return CurriculumConfig(
            method=self.method,
            num_levels=self.num_levels,
            capacity=self.capacity,
            replay_prob=self.replay_prob,
            min_fill_ratio=self.min_fill_ratio,
            temperature=self.temperature,
            staleness_coef=self.staleness_coef,
            prioritization=self.prioritization,
            top_k=self.top_k,
            duplicate_check=self.duplicate_check,
            num_edits=self.num_edits,
            steps_per_level=self.num_steps,
            updates_per_train_step=self.update_epochs * self.num_minibatches,
        )

    def ppo_config(self) -> PPOConfig:
        """The learner's config: `RecurrentPPOConfig` or `PPOConfig` (by `agent`)."""
        kind = RecurrentPPOConfig if self.agent == "recurrent" else PPOConfig
        names = {f.name for f in dataclasses.fields(kind)}
        shared = {k: v for k, v in dataclasses.asdict(self).items() if k in names}
        return kind(
            **{**shared, "num_envs": self.num_levels, "num_eval_episodes": self.eval_episodes}
        )

    def hparams(self) -> UEDHParams | PAIREDHParams:
        ppo = self.ppo_config().hparams()
        if self.method == "paired":
            # The adversary's PPO takes the same coefficients (`rljax.curricula.paired`).
            return PAIREDHParams(students=ppo, adversary=ppo)
        return UEDHParams(ppo, self.curriculum_config().hparams())


@struct.dataclass
class UEDHParams:
    """Traced coefficients of the learner and of the curriculum (scalars, `[runs]` in vmap)."""

    ppo: PPOHParams
    curriculum: CurriculumHParams


@struct.dataclass
class PAIREDHParams:
    """Traced coefficients of PAIRED (`rljax.curricula.paired`): the students' PPO
    (protagonist and antagonist) and the adversary's PPO."""

    students: PPOHParams
    adversary: PPOHParams


@struct.dataclass
class UEDState:
    """One run. The learner's fields are flat (`params`, not a nested `TrainState`) so that
    `rljax.training`'s finite check looks at the network parameters and not at the level
    buffer, whose unknown best returns are legitimately -inf."""

    params: Any
    opt_state: Any
    update_step: jax.Array
    """int32, PPO learn calls so far (drives PPO's learning-rate annealing)."""
    curriculum: CState
    key: jax.Array
    hparams: UEDHParams


class StepRecord(NamedTuple):
    """What one curriculum step reports; stacked `[steps_per_eval]` inside an update."""

    step_type: jax.Array
    trained: jax.Array
    learner: PPOMetrics
    mean_score: jax.Array


class UEDMetrics(NamedTuple):
    """Per-update scalars (over the update's `steps_per_eval` curriculum steps)."""

    episode_return: jax.Array
    """Mean return of the training episodes that ended (NaN if none)."""
    heldout_return: jax.Array
    """Mean return over the held-out levels (first episode of each evaluation copy)."""
    heldout_solve_rate: jax.Array
    """Fraction of held-out episodes that reached the goal."""
    total_env_steps: jax.Array
    """Cumulative env steps, every rollout counted (named apart from the run folder's
    `env_steps` axis, which `rljax.results` writes)."""
    grad_updates: jax.Array
    """Cumulative gradient updates (epochs x minibatches per trained rollout)."""
    new_steps: jax.Array
    replay_steps: jax.Array
    mutate_steps: jax.Array
    """Curriculum steps of each kind in this update."""
    mean_score: jax.Array
    """Mean valid level score (NaN if none was valid)."""
    buffer_fill: jax.Array
    """Filled fraction of the level buffer (0 without one)."""
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    """PPO's losses, averaged over the steps that trained (0 if none did)."""


class LevelResults(NamedTuple):
    """Held-out results per level `[num_levels]`, from `UED.level_results`."""

    solve_rate: jax.Array
    mean_return: jax.Array


# --- frame stacking -------------------------------------------------------------------------


@struct.dataclass
class FrameStackState:
    inner: Any
    frames: jax.Array


class FrameStack(Wrapper):
    """The last `num_frames` observations concatenated along the channel axis, oldest first;
    an episode starts with its first observation repeated. A memoryless policy then sees a
    little history (Mnih et al. 2015, Methods, "preprocessing"). Keeps `reset_to_level`."""

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

    def reset_to_level(self, key, level, params):
        obs, inner = self.env.reset_to_level(key, level, params)
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


# --- the loop -------------------------------------------------------------------------------


class UED:
    """A curriculum-driven PPO run as an `rljax.training.Algorithm`.

    `sample_level(key) -> level` generates NEW levels, `mutate_level(key, level, n) ->
    level` is ACCEL's editor, and `eval_levels` maps names to the held-out levels. The env
    (`config.env`, resolved by `rljax.make`) must have `reset_to_level(key, level, params)`.
    """

    def __init__(
        self,
        config: UEDConfig,
        sample_level: Callable[[jax.Array], Any],
        mutate_level: Callable[[jax.Array, Any, int], Any] | None,
        eval_levels: Mapping[str, Any],
    ):
        self.config = config
        self.ppo = (RecurrentPPO if config.agent == "recurrent" else PPO)(config.ppo_config())
        self.curriculum = Curriculum(config.curriculum_config(), sample_level, mutate_level)
        base_env, self.env_params = make(config.env)
        if not hasattr(base_env, "reset_to_level"):
            cfg.fail(config, "env", "has no reset_to_level", "use an env with levels")
        if config.frame_stack > 1:
            base_env = FrameStack(base_env, config.frame_stack)
        self.level_env = base_env
        self.env = VecEnv(EpisodeStatistics(base_env), config.num_levels)
        self.eval_names = tuple(eval_levels)
        if not self.eval_names:
            raise ConfigError("eval_levels is empty. Fix: pass at least one held-out level.")
        self.eval_levels = jax.tree.map(
            lambda *xs: jnp.repeat(jnp.stack(xs), config.eval_episodes, axis=0),
            *eval_levels.values(),
        )
        num_eval = len(self.eval_names) * config.eval_episodes
        self.eval_env = VecEnv(EpisodeStatistics(base_env), num_eval)
        self.max_episode_steps = max_episode_steps(self.level_env, self.env_params)
        self.obs_shape = base_env.observation_space(self.env_params).shape
        # Trace the level resets now: a level of the wrong shape or dtype (held-out or
        # generated) raises the env's ConfigError here, before anything compiles.
        example = jax.eval_shape(sample_level, jax.random.PRNGKey(0))
        jax.eval_shape(self._reset_to_levels, self.eval_levels, jax.random.PRNGKey(0))
        jax.eval_shape(
            self.level_env.reset_to_level, jax.random.PRNGKey(0), example, self.env_params
        )
        self.steps_per_update = config.steps_per_update
        self.num_updates = config.total_timesteps // self.steps_per_update

    # --- the Algorithm protocol -----------------------------------------------------------

    def init(self, key: jax.Array, hparams: UEDHParams) -> UEDState:
        net_key, level_key, curriculum_key, key = jax.random.split(key, 4)
        params = self.ppo.init_params(net_key, self.obs_shape)
        example_level = self.curriculum.sample_level(level_key)
        return UEDState(
            params=params,
            opt_state=self.ppo.optimizer(hparams.ppo).init(params),
            update_step=jnp.zeros((), jnp.int32),
            curriculum=self.curriculum.init(curriculum_key, example_level, hparams.curriculum),
            key=key,
            hparams=hparams,
        )

    def update(self, state: UEDState) -> tuple[UEDState, UEDMetrics]:
        state, record = jax.lax.scan(
            lambda s, _: self.curriculum_step(s), state, None, length=self.config.steps_per_eval
        )
        heldout = self.evaluate(state)
        return state, self._metrics(state, record, heldout)

    def evaluate(self, state: UEDState) -> EvalResult:
        return self.evaluate_params(self.policy_params(state))

    def policy_params(self, state: UEDState) -> Any:
        """The parameters of the policy under test (PAIRED: the protagonist's)."""
        return state.params

    @property
    def eval_policy(self) -> Callable:
        """The policy of the held-out evaluation: `rollout.Policy`, or for the recurrent
        agent a `rollout.RecurrentPolicy` starting from `eval_policy_carry`."""
        return self.ppo.act_greedy if self.config.greedy_eval else self.ppo.act

    @property
    def eval_policy_carry(self) -> Any:
        """The policy's carry at the start of each held-out episode (None if feed-forward)."""
        return self.ppo.initial_policy_carry(len(self.eval_names) * self.config.eval_episodes)

    def evaluate_params(self, params: Any) -> EvalResult:
        """`eval_episodes` episodes of the policy with `params` on each held-out level, on
        keys fixed by `eval_seed`; `returns [num_held_out * eval_episodes]`, level by level
        (see `level_results`)."""
        levels = self.eval_levels
        return evaluate(
            self.eval_env,
            self.env_params,
            self.eval_policy,
            params,
            jax.random.PRNGKey(self.config.eval_seed),
            self.max_episode_steps,
            reset=lambda key, _: self._reset_to_levels(levels, key),
            policy_carry=self.eval_policy_carry,
        )

    def level_results(self, result: EvalResult) -> LevelResults:
        """Per held-out level (in `eval_names` order): the fraction of episodes that reached
        the goal (the only reward is on reaching it) and the mean return. Works on batched
        results too (`[..., num_held_out * eval_episodes]` -> `[..., num_held_out]`)."""
        shape = (*result.returns.shape[:-1], len(self.eval_names), self.config.eval_episodes)
        returns = result.returns.reshape(shape)
        return LevelResults((returns > 0).mean(axis=-1), returns.mean(axis=-1))

    # --- one curriculum step --------------------------------------------------------------

    def curriculum_step(self, state: UEDState) -> tuple[UEDState, StepRecord]:
        """Propose, play, score, learn where the step trains, observe."""
        key, propose_key, reset_key, collect_key = jax.random.split(state.key, 4)
        hp = state.hparams
        cstate, levels, info = self.curriculum.propose(state.curriculum, propose_key)
        agent = TrainState(
            params=state.params,
            opt_state=state.opt_state,
            rollout=None,
            key=collect_key,
            hparams=hp.ppo,
            update_step=state.update_step,
        )
        agent, traj = self.play(agent, levels, reset_key)
        # V(s'_t) once, for both the PVL score and the learner's GAE (for the recurrent
        # agent a GRU re-run over the whole rollout); MaxMC scores need no bootstrap.
        next_value = None
        if self.config.score_function == "pvl":
            next_value = self.ppo.next_values(agent.params, traj)
        steps = self.ppo.transitions(traj)
        done = steps.terminated | steps.truncated
        score = self._score(hp.ppo, steps, done, info.max_returns, next_value)
        max_returns = level_scores.episode_returns(steps.reward, done).max

        def skip(agent, traj, next_value):
            learned = jax.eval_shape(self.ppo.learn, agent, traj, next_value)[1]
            zeros = jax.tree.map(jnp.zeros_like, learned)
            return agent, zeros._replace(episode_return=rollout.mean_episode_return(steps))

        trains = info.train.any()
        agent, learner = jax.lax.cond(trains, self.ppo.learn, skip, agent, traj, next_value)
        cstate = self.curriculum.observe(
            cstate, levels, info, score.score, score.valid, max_returns
        )
        new_state = state.replace(
            params=agent.params,
            opt_state=agent.opt_state,
            update_step=agent.update_step,
            curriculum=cstate,
            key=key,
        )
        return new_state, StepRecord(info.step_type, trains, learner, cstate.mean_score)

    def play(self, agent: TrainState, levels: Any, key: jax.Array) -> tuple[TrainState, Any]:
        """`num_steps` steps of `agent`'s policy on each of `levels` (leaves `[num_levels,
        ...]`), from a reset onto them (`key`) and a fresh policy carry; episodes auto-reset
        onto the same level. `agent.rollout` is replaced. Returns what `self.ppo.collect`
        returns (`self.ppo.transitions` of it is `[num_steps, num_levels]`)."""
        obs, env_state = self._reset_to_levels(levels, key)
        start = self.ppo.start_rollout(rollout.RolloutState(env_state=env_state, obs=obs))
        return self.ppo.collect(agent.replace(rollout=start), self.env)

    def _reset_to_levels(self, levels: Any, key: jax.Array) -> tuple[jax.Array, Any]:
        """`(obs, env_state)` of `self.env`'s batch (or the eval batch: any batch size) reset
        onto `levels` (leaves `[n, ...]`), with fresh episode statistics."""
        n = jax.tree.leaves(levels)[0].shape[0]
        obs, inner = jax.vmap(self.level_env.reset_to_level, in_axes=(0, 0, None))(
            jax.random.split(key, n), levels, self.env_params
        )
        stats = EpisodeStatisticsState(inner, jnp.zeros(n, jnp.float32), jnp.zeros(n, jnp.int32))
        return obs, stats

    def _score(
        self,
        hp: PPOHParams,
        steps: rollout.Transition,
        done: jax.Array,
        max_returns: jax.Array,
        next_value: jax.Array | None,
    ) -> level_scores.LevelScore:
        """Each level's score `[num_levels]` from the collecting policy's transitions `steps`
        (`[num_steps, num_levels]`, `done` their episode ends); `next_value` is
        `ppo.next_values` of the rollout (PVL only)."""
        _, value = steps.extras
        if self.config.score_function == "max_mc":
            return level_scores.max_mc(steps.reward, done, value, max_returns)
        advantage, _ = gae(
            steps.reward * hp.reward_scale,
            value,
            next_value,
            steps.terminated,
            steps.truncated,
            hp.gamma,
            hp.gae_lambda,
        )
        return level_scores.positive_value_loss(advantage, done)

    def _metrics(self, state: UEDState, record: StepRecord, heldout: EvalResult) -> UEDMetrics:
        trained = record.trained.astype(jnp.float32)
        num_trained = jnp.maximum(trained.sum(), 1.0)

        def over_trained(x):
            return (x * trained).sum() / num_trained

        counters, buffer = state.curriculum.counters, state.curriculum.buffer
        fill = jnp.zeros((), jnp.float32)
        if buffer is not None:
            fill = buffer.size / buffer.capacity
        learner = record.learner
        count = lambda kind: (record.step_type == kind).sum(dtype=jnp.int32)
        return UEDMetrics(
            episode_return=level_scores.nanmean(learner.episode_return),
            heldout_return=heldout.returns.mean(),
            heldout_solve_rate=(heldout.returns > 0).mean(),
            total_env_steps=counters.env_steps,
            grad_updates=counters.grad_updates,
            new_steps=count(NEW),
            replay_steps=count(REPLAY),
            mutate_steps=count(MUTATE),
            mean_score=level_scores.nanmean(record.mean_score),
            buffer_fill=jnp.asarray(fill, jnp.float32),
            policy_loss=over_trained(learner.policy_loss),
            value_loss=over_trained(learner.value_loss),
            entropy=over_trained(learner.entropy),
            approx_kl=over_trained(learner.approx_kl),
        )

    # --- host-side helpers ----------------------------------------------------------------

    def top_levels(self, cstate: CState, k: int) -> tuple[list[float], Any]:
        """The `k` highest-scoring filled buffer levels of one run (host side): their scores,
        best first, and the levels (leaves `[<=k, ...]`)."""
        import numpy as np

        buffer = cstate.buffer
        if buffer is None:
            return [], None
        filled = np.asarray(buffer.filled)
        order = [i for i in np.argsort(-np.asarray(buffer.scores), kind="stable") if filled[i]]
        chosen = np.asarray(order[:k], np.int32)
        return (
            [float(np.asarray(buffer.scores)[i]) for i in chosen],
            jax.tree.map(lambda x: np.asarray(x)[chosen], buffer.levels),
        )


__all__ = [
    "UED",
    "FrameStack",
    "LevelResults",
    "PAIREDHParams",
    "UEDConfig",
    "UEDHParams",
    "UEDMetrics",
    "UEDState",
]
