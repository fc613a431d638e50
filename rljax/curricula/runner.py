"""The UED training loop: any learner trained on the tasks any curriculum proposes, from any
task space.

One curriculum step (Jiang et al. 2021, "Prioritized Level Replay", Alg. 1 and 2; robust PLR,
Jiang et al. 2021b, "Replay-Guided Adversarial Environment Design", Alg. 1; ACCEL,
Parker-Holder et al. 2022, "Evolving Curricula with Regret-Based Environment Design", Alg. 1):

  1. `curriculum.propose` picks one task per env of the learner's batch (`ProposeInfo` says
     whether the learner trains on them);
  2. the env batch is reset onto them (`rljax.task_space.reset_to_tasks`) and the learner
     collects its `num_steps` steps on each; episodes auto-reset onto the same task;
  3. each task is scored from that trajectory by the score function chosen by name
     (`rljax.curricula.scores.SCORES`: positive value loss, MaxMC, ...), only from episodes
     that finished;
  4. the learner learns from the trajectory only where the step trains (robust PLR and ACCEL
     never take a gradient step on NEW or MUTATE levels); a traced `lax.cond` between
     `learner.learn` and `learner.skip`, so every step kind runs the same compiled program.
     Seeds trained together (a vmapped batch) share the step-kind coin
     (`UEDConfig.step_kind_seed`) and branch through `rljax.run_batch`, so a batch whose
     runs all skip the gradient step skips it for real instead of computing and discarding
     it;
  5. `curriculum.observe` records the scores; the loop counts env steps and gradient updates
     apart.

An `Algorithm` update (`rljax.training`) is `steps_per_eval` curriculum steps followed by one
evaluation on the task space's held-out tasks, so the held-out success rate is a metric of
every update, computed inside the compiled loop at a cost amortised over `steps_per_eval`
steps. (A `cond` on "every k-th step" would not do: under `vmap` over seeds its predicate is
batched, so it lowers to a `select` that evaluates on every step.)

The loop talks to the learner only through `rljax.learner`, to the curriculum only through
`rljax.curricula.curriculum`, and to the env family only through `rljax.task_space`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import jax
import jax.numpy as jnp
import tyro
from flax import struct

from rljax import config as cfg
from rljax import run_batch
from rljax.agents.ppo import PPOConfig
from rljax.agents.recurrent_ppo import RecurrentPPOConfig
from rljax.config import ConfigError
from rljax.curricula import scores as level_scores
from rljax.curricula.accel import ACCELConfig
from rljax.curricula.alp_gmm import ALPGMMConfig
from rljax.curricula.curriculum import MUTATE, NEW, REPLAY, make_curriculum
from rljax.curricula.dr import DRConfig
from rljax.curricula.dred import DREDConfig
from rljax.curricula.plr import PLRConfig, RobustPLRConfig
from rljax.curricula.sfl import SFLConfig
from rljax.evaluation import EvalResult, evaluate
from rljax.learner import make_learner
from rljax.task_space import make_task_space, reset_to_tasks, stack_tasks
from rljax.wrappers import FrameStack

MAZE_PPO = {
    "update_epochs": 5,
    "num_minibatches": 1,
    "learning_rate": 1e-4,
    "anneal_lr": False,
    "gamma": 0.995,
    "gae_lambda": 0.98,
    "ent_coef": 1e-3,
}
"""PPO's settings in the PLR/ACCEL/PAIRED papers' maze experiments (lr 1e-4 not annealed,
gamma 0.995, lambda 0.98, 5 epochs of 1 minibatch, entropy 1e-3): the students' and PAIRED's
adversary's."""


def maze_learner(**changes: Any) -> RecurrentPPOConfig:
    """The maze default of the PLR/ACCEL papers' settings (`MAZE_PPO`) with 16 levels x
    256-step rollouts and 4 sampled (not greedy) evaluation episodes per held-out level; a GRU
    of 128 over an MLP embedding of 64, where the papers use an LSTM of 256 over a conv
    embedding and a direction embedding: check the papers' appendices before claiming a
    reproduction."""
    base = RecurrentPPOConfig(
        env="Maze-13x13",
        total_timesteps=10_000_000,
        num_envs=16,
        num_steps=256,
        **MAZE_PPO,
        hidden_sizes=(64,),
        gru_size=128,
        num_eval_episodes=4,
        greedy_eval=False,
    )
    return dataclasses.replace(base, **changes)


def _maze_config() -> Any:
    from envs.maze.task_space import MazeConfig

    return MazeConfig()


def _paired_config_type() -> type:
    from rljax.curricula.paired import PAIREDConfig

    return PAIREDConfig


CurriculumChoice = (
    Annotated[ACCELConfig, tyro.conf.subcommand("accel")]
    | Annotated[RobustPLRConfig, tyro.conf.subcommand("robust_plr")]
    | Annotated[PLRConfig, tyro.conf.subcommand("plr")]
    | Annotated[DRConfig, tyro.conf.subcommand("dr")]
    | Annotated[ALPGMMConfig, tyro.conf.subcommand("alp_gmm")]
    | Annotated[SFLConfig, tyro.conf.subcommand("sfl")]
    | Annotated[DREDConfig, tyro.conf.subcommand("dred")]
)
LearnerChoice = (
    Annotated[RecurrentPPOConfig, tyro.conf.subcommand("recurrent")]
    | Annotated[PPOConfig, tyro.conf.subcommand("feedforward")]
)


@dataclass(frozen=True)
class UEDConfig:
    """A UED run: the learner's, the curriculum's and the task space's configs, nested, and
    what only the loop has. The learner's `num_envs` is the batch of tasks per curriculum
    step, its `num_steps` the steps per task per rollout, its `total_timesteps` the run's env
    steps (every rollout counted), its evaluation settings (`num_eval_episodes` per held-out
    task, `greedy_eval`, `eval_seed`) the held-out evaluation's; its `env` is set from the task
    space."""

    curriculum: Any = dataclasses.field(default_factory=RobustPLRConfig)
    """The curriculum: dr, plr, robust_plr, accel, alp_gmm, sfl, dred (`rljax.curricula`), or PAIRED
    (`rljax.curricula.paired.PAIREDConfig`); any registered curriculum config in Python."""
    learner: LearnerChoice = dataclasses.field(default_factory=maze_learner)
    """The learner: recurrent PPO (default) or feed-forward PPO, with any drift."""
    task_space: Any = dataclasses.field(default_factory=_maze_config)
    """The task space (`rljax.task_space`): the maze (default) or any registered one."""
    steps_per_eval: int = 8
    """Curriculum steps per update; the held-out tasks are evaluated after each update."""
    score_function: Annotated[str, cfg.choices(sorted(level_scores.SCORES))] = "pvl"
    """The level score (`rljax.curricula.scores.SCORES`): pvl (positive value loss), value_l1
    (L1 value loss), max_mc, return, success_rate or learnability (p (1 - p)), computed from
    the episodes that end within the rollout. A curriculum defined by its own score uses that
    one (ALP-GMM: return; SFL: success_rate; DRED: value_l1)."""
    partial_episodes: bool = False
    """Allow a rollout (`--learner.num-steps`) shorter than the task space's episode limit:
    a task whose episodes all run past it gets no score. Off: such a config is refused for a
    curriculum that ranks tasks by score (PLR, robust PLR, ACCEL, PAIRED's regret)."""
    frame_stack: int = 1
    """Observations stacked along channels as the policy's input (1: no stack; 4 suits the
    feed-forward learner on the maze)."""
    step_kind_seed: int | None = 0
    """The seed of the coin that picks each curriculum step's kind (PLR, robust PLR, ACCEL,
    DRED: replay or new). The coin of step t is drawn from this seed and t alone, so every run
    of a vmapped batch takes the same kind and the batch computes only that kind's branch:
    no gradient step on robust PLR's and ACCEL's new and edited levels (`rljax.run_batch`).
    Each run's curriculum is unchanged in distribution; runs with the same seed share their
    sequence of kinds. None: each run draws its coin from its own key (the papers'
    single-run code), and a vmapped batch computes every kind's branch and selects."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        try:
            env = make_task_space(self.task_space).env_name
        except KeyError:
            raise ConfigError(
                f"UEDConfig.task_space is a {type(self.task_space).__name__}, which no task "
                "space is registered for. Fix: pass a registered task-space config (maze, "
                "classic; CLI: task-space:...), register yours with "
                "rljax.task_space.register_task_space, or pass a TaskSpace object as "
                "UED(config, task_space=...)."
            ) from None
        if self.learner.env != env:  # the learner acts on the task space's env
            object.__setattr__(self, "learner", dataclasses.replace(self.learner, env=env))
        cfg.check_choice(self, "score_function", tuple(sorted(level_scores.SCORES)))
        cfg.check_positive(self, "steps_per_eval", "frame_stack")
        per_update = self.steps_per_update
        if self.learner.total_timesteps < per_update:
            cfg.fail(
                self.learner,
                "total_timesteps",
                f"is less than one update of the UED loop, steps_per_eval * env steps per "
                f"curriculum step = {per_update}",
                f"pass total_timesteps >= {per_update} or a smaller steps_per_eval",
            )

    def replace(self, **changes: Any) -> UEDConfig:
        return dataclasses.replace(self, **changes)

    @property
    def env(self) -> str:
        """The learner's env name (the task space's env; it names the run folder)."""
        return self.learner.env

    @property
    def method(self) -> str:
        """The curriculum's registry name (`paired` for PAIRED)."""
        if self.is_paired:
            return self.curriculum.name
        from rljax.curricula.curriculum import curriculum_class

        try:
            return curriculum_class(self.curriculum).name
        except ConfigError:  # a curriculum object passed to `UED` directly
            return type(self.curriculum).__name__

    @property
    def is_paired(self) -> bool:
        return isinstance(self.curriculum, _paired_config_type())

    @property
    def steps_per_update(self) -> int:
        """Env steps of one update, every rollout counted (PAIRED: both students' and the
        adversary's)."""
        per_step = self.learner.num_envs * self.learner.num_steps
        if self.is_paired:
            per_step = self.learner.num_envs * (
                2 * self.learner.num_steps + self.curriculum.adversary.num_steps
            )
        return self.steps_per_eval * per_step

    def hparams(self) -> Any:
        """The traced coefficients of the run (the learner's and the curriculum's)."""
        return make_algorithm(self).hparams()


@struct.dataclass
class UEDHParams:
    """Traced coefficients of the learner and of the curriculum (scalars, `[runs]` in vmap)."""

    learner: Any
    curriculum: Any


@struct.dataclass
class UEDCounters:
    """What the run has spent, int32 scalars. `env_steps` counts every rollout step on a
    proposed task, trained on or not; `grad_updates` only those of steps that train."""

    env_steps: jax.Array
    grad_updates: jax.Array


@struct.dataclass
class UEDState:
    """One run: the learner's state (`rljax.learner`), the curriculum's, the counters and the
    loop's PRNG key."""

    learner: Any
    curriculum: Any
    counters: UEDCounters
    key: jax.Array


class StepRecord(NamedTuple):
    """What one curriculum step reports; stacked `[steps_per_eval]` inside an update."""

    step_type: jax.Array
    trained: jax.Array
    learner: Any
    mean_score: jax.Array


class UEDMetrics(NamedTuple):
    """Per-update scalars (over the update's `steps_per_eval` curriculum steps)."""

    episode_return: jax.Array
    """Mean return of the training episodes that ended (NaN if none)."""
    heldout_return: jax.Array
    """Mean return over the held-out tasks (first episode of each evaluation copy)."""
    heldout_solve_rate: jax.Array
    """Fraction of held-out episodes that succeeded (`task_space.success`)."""
    total_env_steps: jax.Array
    """Cumulative env steps, every rollout counted (named apart from the run folder's
    `env_steps` axis, which `rljax.results` writes)."""
    grad_updates: jax.Array
    """Cumulative gradient updates (the learner's `updates_per_learn` per trained rollout)."""
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
    """The learner's losses, averaged over the steps that trained (0 if none did)."""


class LevelResults(NamedTuple):
    """Held-out results per task `[num_heldout]`, from `UED.level_results`."""

    solve_rate: jax.Array
    mean_return: jax.Array


class TaskPlay:
    """A learner playing tasks of a task space: the env batch, resets onto tasks, and the
    held-out evaluation. Shared by the UED loop and PAIRED's students."""

    def __init__(self, config: UEDConfig, task_space: Any, learner: Any):
        self.config = config
        self.task_space = task_space
        self.learner = learner
        self.env_params = task_space.env_params
        base_env = task_space.env
        if config.frame_stack > 1:
            base_env = FrameStack(base_env, config.frame_stack)
        self.level_env = base_env
        num_envs = config.learner.num_envs
        self.env = learner.vectorise(base_env, num_envs)
        heldout = task_space.heldout()
        self.eval_names = tuple(heldout)
        if not self.eval_names:
            raise ConfigError("the task space's held-out set is empty. Fix: give it one task.")
        self.eval_episodes = config.learner.num_eval_episodes
        self.eval_levels = stack_tasks(heldout, self.eval_episodes)
        self.num_eval = len(self.eval_names) * self.eval_episodes
        self.eval_env = learner.vectorise(base_env, self.num_eval)
        self.max_episode_steps = learner.max_episode_steps
        self.obs_shape = base_env.observation_space(self.env_params).shape
        # Trace the task resets now: a task of the wrong shape or dtype (held-out or
        # generated) raises the env's ConfigError here, before anything compiles.
        key = jax.random.PRNGKey(0)
        example = jax.eval_shape(task_space.sample, key)
        jax.eval_shape(self._reset, self.eval_levels, key)
        jax.eval_shape(base_env.reset_to, key, example, self.env_params)

    def check_rollout_covers_episodes(self) -> None:
        """Refuse a rollout shorter than an episode where scores rank the tasks (see
        `UEDConfig.partial_episodes`)."""
        steps, limit = self.config.learner.num_steps, self.max_episode_steps
        if steps < limit and not self.config.partial_episodes:
            raise ConfigError(
                f"{type(self.config.learner).__name__}.num_steps={steps} is shorter than the "
                f"task space's {limit}-step episodes, so tasks whose episodes run longer get "
                f"no score and the {self.config.method} curriculum cannot rank them. Fix: pass "
                f"--learner.num-steps {limit} or more, or --partial-episodes to score only the "
                "episodes that end within the rollout (CLI flag --learner.num-steps)."
            )

    def _reset(self, tasks: Any, key: jax.Array) -> tuple[jax.Array, Any]:
        return reset_to_tasks(self.task_space, tasks, key, env=self.level_env)

    def init_learner(self, key: jax.Array, hparams: Any, tasks_key: jax.Array) -> Any:
        """A fresh learner state with its env batch reset onto `initial` tasks (replaced by
        every `play`; it gives the rollout its structure, and observation statistics a
        start)."""
        state = self.learner.init_learner(key, hparams, self.obs_shape)
        n = self.config.learner.num_envs
        tasks = jax.vmap(self.task_space.initial)(jax.random.split(tasks_key, n))
        return self.play_start(state, tasks, tasks_key)

    def play_start(self, state: Any, tasks: Any, key: jax.Array) -> Any:
        return self.learner.start(
            state, self.env, self.env_params, key, reset=lambda k: self._reset(tasks, k)
        )

    def play(self, state: Any, tasks: Any, key: jax.Array) -> tuple[Any, Any]:
        """`num_steps` steps of the learner's policy on each of `tasks` (leaves `[num_envs,
        ...]`), from a reset onto them (`key`) and a fresh policy carry; episodes auto-reset
        onto the same task. Returns the learner state and its trajectory."""
        state = self.play_start(state, tasks, key)
        return self.learner.collect(state, self.env, self.env_params)

    def evaluate(self, state: Any) -> EvalResult:
        """`num_eval_episodes` episodes of the learner's policy on each held-out task, on keys
        fixed by `eval_seed`; `returns [num_heldout * num_eval_episodes]`, task by task."""
        return self.play_episodes(
            state,
            self.eval_env,
            self.eval_levels,
            jax.random.PRNGKey(self.config.learner.eval_seed),
        )

    def play_episodes(self, state: Any, env: Any, tasks: Any, key: jax.Array) -> EvalResult:
        """The first episode of the evaluation policy in each env of `env` (a batch from
        `learner.vectorise`), reset onto `tasks` (leaves `[batch, ...]`) with frozen
        observation statistics, on `key`."""
        return evaluate(
            env,
            self.env_params,
            self.eval_policy,
            state.params,
            key,
            self.max_episode_steps,
            reset=self.learner.reset_fn(state, env, lambda k: self._reset(tasks, k), frozen=True),
            policy_carry=self.learner.initial_carry(jax.tree.leaves(tasks)[0].shape[0]),
        )

    @property
    def eval_policy(self) -> Any:
        return self.learner.policy(self.config.learner.greedy_eval)

    @property
    def eval_policy_carry(self) -> Any:
        return self.learner.initial_carry(self.num_eval)

    def level_results(self, result: EvalResult) -> LevelResults:
        """Per held-out task (in `eval_names` order): the fraction of episodes that succeeded
        and the mean return. Works on batched results too (`[..., num_heldout *
        num_eval_episodes]` -> `[..., num_heldout]`)."""
        shape = (*result.returns.shape[:-1], len(self.eval_names), self.eval_episodes)
        returns = result.returns.reshape(shape)
        return LevelResults(self.task_space.success(returns).mean(axis=-1), returns.mean(axis=-1))


class UED(TaskPlay):
    """A curriculum-driven run as an `rljax.training.Algorithm`; see the module docstring.

    `curriculum` overrides the curriculum built from `config.curriculum` (any object with
    the `rljax.curricula.curriculum` interface), `task_space` the one built from
    `config.task_space`.
    """

    def __init__(self, config: UEDConfig, task_space: Any = None, curriculum: Any = None):
        task_space = make_task_space(config.task_space) if task_space is None else task_space
        learner = make_learner(dataclasses.replace(config.learner, env=task_space.env_name))
        super().__init__(config, task_space, learner)
        self.curriculum = curriculum or make_curriculum(
            config.curriculum, task_space, config.learner.num_envs
        )
        if getattr(self.curriculum, "ranks_by_score", True):
            self.check_rollout_covers_episodes()
        own_score = getattr(self.curriculum, "score_function", None)
        self.score = level_scores.SCORES[own_score or config.score_function]
        self.steps_per_update = config.steps_per_update
        self.num_updates = config.learner.total_timesteps // self.steps_per_update
        if hasattr(self.curriculum, "horizon"):
            self.curriculum.horizon = self.num_updates * config.steps_per_eval

    def hparams(self) -> UEDHParams:
        return UEDHParams(self.config.learner.hparams(), self.curriculum.hparams())

    # --- the Algorithm protocol -----------------------------------------------------------

    def init(self, key: jax.Array, hparams: UEDHParams) -> UEDState:
        net_key, level_key, curriculum_key, key = jax.random.split(key, 4)
        example_level = self.task_space.sample(level_key)
        learner = self.init_learner(net_key, hparams.learner, jax.random.fold_in(level_key, 1))
        zero = jnp.zeros((), jnp.int32)
        return UEDState(
            learner=learner,
            curriculum=self.curriculum.init(curriculum_key, example_level, hparams.curriculum),
            counters=UEDCounters(zero, zero),
            key=key,
        )

    def update(self, state: UEDState) -> tuple[UEDState, UEDMetrics]:
        state, record = jax.lax.scan(
            lambda s, _: self.curriculum_step(s), state, None, length=self.config.steps_per_eval
        )
        heldout = self.evaluate(state)
        return state, self._metrics(state, record, heldout)

    def evaluate(self, state: UEDState) -> EvalResult:
        return super().evaluate(state.learner)

    def checked_leaves(self, state: UEDState) -> Any:
        """The NaN guard's leaves: the learner's parameters (a level buffer's unknown best
        returns are legitimately -inf)."""
        return state.learner.params

    # --- one curriculum step --------------------------------------------------------------

    def curriculum_step(self, state: UEDState) -> tuple[UEDState, StepRecord]:
        """Propose, play, score, learn where the step trains, observe."""
        key, propose_key, reset_key, collect_key = jax.random.split(state.key, 4)
        coin = {}
        if getattr(self.curriculum, "step_coin", False) and self.config.step_kind_seed is not None:
            step = state.counters.env_steps // (
                self.config.learner.num_envs * self.config.learner.num_steps
            )
            coin["coin_key"] = jax.random.fold_in(
                jax.random.PRNGKey(self.config.step_kind_seed), step
            )
        cstate, tasks, info = self.curriculum.propose(state.curriculum, propose_key, **coin)
        learner, traj = self.play(state.learner.replace(key=collect_key), tasks, reset_key)
        inputs = self.learner.score_inputs(learner, traj)
        successes = level_scores.episode_successes(
            inputs.reward, inputs.done, self.task_space.success
        )
        inputs = inputs._replace(success=successes)
        score = self.score(inputs, info.max_returns)
        max_returns = level_scores.episode_returns(inputs.reward, inputs.done).max
        learner, metrics = run_batch.cond_if_any(
            info.train, self.learner.learn, self.learner.skip, learner, traj, cheap_gets_shapes=True
        )
        cstate = self.curriculum.observe(cstate, tasks, info, score, max_returns)
        c = state.counters
        counters = UEDCounters(
            env_steps=c.env_steps + self.config.learner.num_envs * self.config.learner.num_steps,
            grad_updates=c.grad_updates + jnp.where(info.train, self.learner.updates_per_learn, 0),
        )
        new_state = UEDState(learner=learner, curriculum=cstate, counters=counters, key=key)
        stats = self.curriculum.stats(cstate)
        return new_state, StepRecord(info.step_type, info.train, metrics, stats.mean_score)

    def _metrics(self, state: UEDState, record: StepRecord, heldout: EvalResult) -> UEDMetrics:
        trained = record.trained.astype(jnp.float32)
        num_trained = jnp.maximum(trained.sum(), 1.0)

        def over_trained(x):
            return (x * trained).sum() / num_trained

        learner = record.learner
        count = lambda kind: (record.step_type == kind).sum(dtype=jnp.int32)
        return UEDMetrics(
            episode_return=level_scores.nanmean(learner.episode_return),
            heldout_return=heldout.returns.mean(),
            heldout_solve_rate=self.task_space.success(heldout.returns).mean(),
            total_env_steps=state.counters.env_steps,
            grad_updates=state.counters.grad_updates,
            new_steps=count(NEW),
            replay_steps=count(REPLAY),
            mutate_steps=count(MUTATE),
            mean_score=level_scores.nanmean(record.mean_score),
            buffer_fill=jnp.asarray(self.curriculum.stats(state.curriculum).buffer_fill),
            policy_loss=over_trained(learner.policy_loss),
            value_loss=over_trained(learner.value_loss),
            entropy=over_trained(learner.entropy),
            approx_kl=over_trained(learner.approx_kl),
        )

    # --- host-side helpers ----------------------------------------------------------------

    def policy_params(self, state: UEDState) -> Any:
        """The learner state of the policy under test (PAIRED: the protagonist's)."""
        return state.learner

    def top_levels(self, state: UEDState, k: int) -> tuple[list[float], Any]:
        """The `k` highest-scoring tasks in one run's level buffer (host side)."""
        return self.curriculum.top_tasks(state.curriculum, k)


def curriculum_config(method: str, **buffer: Any) -> Any:
    """The built-in curriculum config named `method` (`paired` too); `buffer` sets level
    buffer fields of the buffered ones (capacity, replay_prob, ...)."""
    from rljax.curricula.curriculum import CURRICULA
    from rljax.curricula.paired_adversary import PAIREDConfig

    if method == "paired":
        return PAIREDConfig()
    config_type = CURRICULA[method].Config
    names = {f.name for f in dataclasses.fields(config_type)}
    return config_type(**{k: v for k, v in buffer.items() if k in names})


def feedforward(learner: RecurrentPPOConfig, **changes: Any) -> PPOConfig:
    """`learner`'s settings for feed-forward PPO (without the GRU)."""
    names = {f.name for f in dataclasses.fields(PPOConfig)}
    shared = {k: getattr(learner, k) for k in names}
    return PPOConfig(**{**shared, **changes})


def make_algorithm(config: UEDConfig) -> Any:
    """The loop for `config`: `UED`, or `PAIRED` for a `PAIREDConfig` curriculum."""
    if config.is_paired:
        from rljax.curricula.paired import PAIRED

        return PAIRED(config)
    return UED(config)


__all__ = [
    "MAZE_PPO",
    "UED",
    "LevelResults",
    "TaskPlay",
    "UEDConfig",
    "UEDCounters",
    "UEDHParams",
    "UEDMetrics",
    "UEDState",
    "curriculum_config",
    "feedforward",
    "make_algorithm",
    "maze_learner",
]
