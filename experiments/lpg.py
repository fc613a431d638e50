"""Meta-train a Learned Policy Gradient rule (Oh et al. 2020) by meta-gradient on LPG's
gridworlds, then train fresh agents with it.

    python -m experiments.lpg meta-train                      # 16 agents on GROOVE's levels
    python -m experiments.lpg meta-train --meta.num-meta-steps 600 --meta.num-agents 32
    python -m experiments.lpg meta-train --curriculum groove  # GROOVE's levels by regret
    python -m experiments.lpg meta-train --method talpg       # TA-LPG by evolution
    python -m experiments.lpg meta-train --resume runs/lpg-meta-train-...      # continue
    python -m experiments.lpg meta-eval --rule-params runs/.../rule_params.npz \\
        --envs CartPole-v1                                     # held-out levels + transfer
    python -m experiments.lpg meta-train --help               # every flag

`meta-train` runs `rljax.meta.meta_gradient.MetaGradient`: a population of tabular LPG agents
(`--agent.*`, `Gridworld-index`: the one-hot state as a table row) on levels drawn from
GROOVE's random level space (`--task-space.*`), each meta-step unrolling `--meta.unroll`
agent updates and differentiating the meta-objective through them. Every `--eval-every`
meta-steps the current rule trains fresh agents for a whole lifetime on the task space's
held-out levels (sampled from the same space with a fixed seed), and the run reports their
return / optimal (value iteration) beside A2C with the same agent settings and the initial,
random rule. `--curriculum plr|groove` replays levels from a PLR buffer (`--level-source.*`),
scored by positive value loss or by GROOVE's algorithmic regret (Jackson et al. 2023;
`rljax.meta.level_sources`); its numbers join each line of generations.jsonl.

`--method talpg` meta-trains TA-LPG instead (Jackson et al. 2024, "Discovering
Temporally-Aware Reinforcement Learning Algorithms", section 4): the rule also reads n/N and
the normalised log lifetime, and `rljax.meta.es.MetaTrainer` evolves it by OpenAI-ES
(`--es.*`): each antithetic pair trains two agents on one level drawn per pair, each for a
whole lifetime drawn log-uniform in `--lifetimes` updates, scored by the pair's 0/1 rank. Only
`--curriculum uniform` is built for it. The held-out evaluation uses `--agent`'s lifetime.

`meta-train` writes a run folder: config.json, generations.jsonl (one line per meta-step),
evaluations.jsonl (per held-out level return / optimal at each evaluation), rule_params.npz
(+ .json; rewritten at each evaluation), meta_training.png (the curve) and checkpoints/.

`meta-eval` trains fresh agents with a saved rule, with A2C and with the random rule on the
held-out levels (and with `--envs`, on other envs, beside A2C and PPO at the same budget),
and writes results.md and results.csv. `--lifetimes 5 500` adds the rule and A2C at other
lifetimes (updates) on the same levels, with the rule agents' policy entropy and mean pi_hat^2
over the lifetime's tenths (what a TA-LPG rule does with n/N).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np

import envs.gridworld  # noqa: F401  (registers the gridworld envs and task space)
from envs.gridworld import GridworldConfig
from rljax import config as cfg
from rljax.agents.lpg import A2CConfig, GridAgentSettings, LPGAgentConfig
from rljax.experiment import (
    OuterLoopArgs,
    default_compilation_cache,
    enable_compilation_cache,
    on_devices,
    subcommand_main,
)
from rljax.learner import make_learner
from rljax.meta.es import ESConfig, MetaTrainer
from rljax.meta.inner import TaskDistribution, TrainThenEvaluate
from rljax.meta.level_sources import CURRICULA, Curriculum, LevelSourceConfig
from rljax.meta.meta_gradient import MetaGradient, MetaGradientConfig
from rljax.meta.parameterisation import LPGRule
from rljax.meta.params_io import load_rule_params, save_rule_params
from rljax.objectives.lpg import LPGRuleConfig
from rljax.results import new_run_dir, read_generations, write_json
from rljax.sweep import even_mesh
from rljax.task_space import make_task_space, stack_tasks

MIN_OPTIMAL = 0.1
"""Held-out levels whose optimal return is below this are left out of the mean return /
optimal (a ratio to a near-zero optimum is noise); they are still listed per level."""


def _agent_default() -> LPGAgentConfig:
    """Tabular agents on the index view: 8 envs x 20 steps per update, 100 updates per
    lifetime (16,000 env steps), the reference's SGD rates (40 / 4), a rule GRU of 64 units
    (the paper's 256 is the same code, 4x slower on CPU)."""
    return LPGAgentConfig(
        env="Gridworld-index",
        num_envs=8,
        num_steps=20,
        total_timesteps=8 * 20 * 100,
        num_eval_episodes=8,
        rule=LPGRuleConfig(hidden_size=64),
    )


def _space_default() -> GridworldConfig:
    """GROOVE's level space, index view; 16 held-out levels sampled with a fixed seed."""
    return GridworldConfig(observation="index", heldout="none", num_heldout_sampled=16)


def _meta_default() -> MetaGradientConfig:
    """16 agents, K = 5; Adam 1e-3 on the rule (the reference's 1e-4 moved the small
    population's rule too slowly on CPU budgets)."""
    return MetaGradientConfig(num_agents=16, meta_learning_rate=1e-3, num_meta_steps=300)


def _es_default() -> ESConfig:
    """TA-LPG's reference ES (OpenAI-ES, sigma 0.1, Adam 1e-2, 0/1 rank inside antithetic
    pairs) at a CPU-sized population of 32 (16 levels per generation), one run per member."""
    return ESConfig(
        population_size=32,
        num_generations=200,
        num_seeds=1,
        sigma_init=0.1,
        learning_rate=0.01,
        fitness_shaping="pairwise",
        normalize="none",
    )


METHODS = ("lpg", "talpg")


def _critic(agent: LPGAgentConfig) -> A2CConfig:
    """A2C with the agent's shared settings: the meta-gradient's critic and the baseline."""
    shared = {f: getattr(agent, f) for f in GridAgentSettings.__dataclass_fields__}
    return A2CConfig(**shared)


@dataclass(frozen=True)
class MetaTrainArgs(OuterLoopArgs):
    """Meta-train an LPG rule over gridworld agents: by meta-gradient (LPG) or by ES (TA-LPG)."""

    method: Annotated[str, cfg.choices(METHODS)] = "lpg"
    """lpg (meta-gradient, --meta.*) or talpg (a temporally-aware rule by ES, --es.*)."""
    meta: MetaGradientConfig = field(default_factory=_meta_default)
    """The meta-gradient outer loop (--method lpg)."""
    es: ESConfig = field(default_factory=_es_default)
    """The evolution strategy (--method talpg)."""
    lifetimes: tuple[int, int] = (10, 250)
    """--method talpg: each level's agents live a lifetime log-uniform in [lo, hi] updates."""
    agent: LPGAgentConfig = field(default_factory=_agent_default)
    """The agents (their total_timesteps is the lifetime; env is set by --task-space)."""
    task_space: GridworldConfig = field(default_factory=_space_default)
    """The levels agents train on, and the held-out ones."""
    eval_every: int = 100
    """Evaluate the rule on the held-out levels every this many meta-steps (0: only at the
    end)."""
    eval_seeds: int = 2
    """Agents per held-out level at each evaluation."""
    curriculum: Curriculum = "uniform"
    """Where reset agents get their levels: `uniform` (fresh draws from --task-space, LPG's
    meta-training), `plr` (PLR scored by positive value loss under the critic) or `groove`
    (PLR scored by algorithmic regret against a cached A2C antagonist; Jackson et al. 2023)."""
    level_source: LevelSourceConfig = field(default_factory=LevelSourceConfig)
    """The plr / groove level buffer (unused by uniform)."""

    def validate(self) -> None:
        super().validate()
        cfg.check_non_negative(self, "eval_every")
        cfg.check_positive(self, "eval_seeds")
        cfg.check_choice(self, "curriculum", CURRICULA)
        cfg.check_choice(self, "method", METHODS)
        lo, hi = self.lifetimes
        if not 1 <= lo <= hi:
            cfg.fail(
                self, "lifetimes", "must be LO HI updates with 1 <= LO <= HI", "pass e.g. 10 250"
            )
        if self.method == "talpg" and hi > self.agent.rule.max_lifetime:
            cfg.fail(
                self,
                "lifetimes",
                f"reaches {hi} updates, more than the rule's max_lifetime "
                f"{self.agent.rule.max_lifetime} (log N is normalised by it)",
                "pass a shorter HI, or raise --agent.rule.max-lifetime",
            )
        if self.method == "talpg" and self.curriculum != "uniform":
            cfg.fail(
                self,
                "curriculum",
                "is built for the meta-gradient only (TA-LPG by ES draws its levels uniformly)",
                "pass --curriculum uniform with --method talpg, or --method lpg",
            )
        if self.curriculum != "uniform" and self.level_source.capacity < self.meta.num_agents:
            raise cfg.ConfigError(
                f"LevelSourceConfig.capacity={self.level_source.capacity} is smaller than the "
                f"population --meta.num-agents={self.meta.num_agents}. Fix: pass "
                f"--level-source.capacity >= {self.meta.num_agents} (CLI flag "
                "--level-source.capacity)."
            )

    def agent_config(self) -> LPGAgentConfig:
        """The agents of the held-out evaluation (TA-LPG's: its rule temporally aware)."""
        agent = self.agent.replace(env=f"Gridworld-{self.task_space.observation}")
        if self.method == "talpg":
            agent = agent.replace(rule=dataclasses.replace(agent.rule, temporally_aware=True))
        return agent

    def loop(self) -> MetaGradient | MetaTrainer:
        """The outer loop of --method."""
        agent = self.agent_config()
        if self.method == "talpg":
            hi = self.lifetimes[1]
            trained = agent.replace(total_timesteps=hi * agent.num_envs * agent.num_steps)
            distribution = TaskDistribution(
                trained, self.task_space, self.es.population_size // 2, self.lifetimes, pairs=True
            )
            mesh = even_mesh(self.es.chunk_size)
            return MetaTrainer(
                distribution, LPGRule(), self.es, mesh=mesh if mesh.size > 1 else None
            )
        mesh = even_mesh(self.meta.num_agents)
        return MetaGradient(
            agent,
            _critic(agent),
            self.task_space,
            LPGRule(),
            self.meta,
            mesh=mesh if mesh.size > 1 else None,
            curriculum=self.curriculum,
            level_source=self.level_source,
        )


@dataclass(frozen=True)
class MetaEvalArgs:
    """Train fresh agents with a saved rule, A2C and the random rule, and compare them."""

    rule_params: str
    """A rule_params.npz written by meta-train (its .json beside it)."""
    agent: LPGAgentConfig = field(default_factory=_agent_default)
    """The gridworld agents (the rule's structure comes from the file)."""
    task_space: GridworldConfig = field(default_factory=_space_default)
    """Whose held-out levels to train on."""
    envs: tuple[str, ...] = ()
    """Other envs (e.g. CartPole-v1) to train an MLP agent on with the rule, beside A2C and
    PPO at the same budget (--transfer-timesteps)."""
    transfer_timesteps: int = 100_000
    """Env steps per run on --envs."""
    lifetimes: tuple[int, ...] = ()
    """Also train the rule and A2C for each of these lifetimes (updates) on the held-out
    levels, with the rule agents' policy entropy and mean pi_hat^2 over the lifetime's
    tenths (a TA-LPG rule reads n/N and log N: what it does with them)."""
    seeds: int = 4
    """Agents per level and method (per env on --envs)."""
    out_dir: str = "runs"
    """Parent folder of the run folder."""
    progress: bool = True
    """Show progress."""
    compilation_cache: str = default_compilation_cache()
    """Folder of JAX's persistent compilation cache ('' to disable)."""

    def validate(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "seeds", "transfer_timesteps")
        bad = [n for n in self.lifetimes if n < 10]
        if bad:
            cfg.fail(
                self,
                "lifetimes",
                f"has {bad[0]} updates: the profile over tenths needs at least 10",
                "pass lifetimes of 10 updates or more",
            )


# --- evaluation on levels ---------------------------------------------------------------------


class LevelEvaluator:
    """Fresh agents of `config` trained for a whole lifetime on each of `levels` (leaves
    `[L, ...]`), `seeds` each, then evaluated on their level: returns `[L, seeds]`, one
    compiled program per learner config (hyperparameters are traced)."""

    def __init__(self, config: Any, space: Any, seeds: int, seed: int = 4242):
        run = TrainThenEvaluate(config, space)
        self.keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
        eval_key = jax.random.PRNGKey(config.eval_seed)
        one = lambda hparams, level, key: run(hparams, level, key, eval_key)
        per_seed = jax.vmap(one, in_axes=(None, None, 0))
        self._run = jax.jit(jax.vmap(per_seed, in_axes=(None, 0, None)))

    def __call__(self, hparams: Any, levels: Any) -> np.ndarray:
        return np.asarray(self._run(hparams, levels, self.keys))


def lifetime_profile(config: LPGAgentConfig, space: Any, hparams: Any, levels: Any, seeds: int):
    """Fresh agents of `config` trained by the rule in `hparams` on each of `levels`, `seeds`
    each: their policy entropy and mean pi_hat^2 averaged over each tenth of the lifetime,
    over levels and seeds (`[10]` each)."""
    from rljax.meta.inner import task_env, train_on_task

    learner = make_learner(config)
    env = learner.vectorise(task_env(space), config.num_envs)
    keys = jax.random.split(jax.random.PRNGKey(4242), seeds)

    def one(level, key):
        _, metrics = train_on_task(
            learner, space, env, config.num_envs, hparams, level, key, learner.num_updates
        )
        return metrics.entropy, metrics.pi_hat_square

    run = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    entropy, pi_hat_square = (np.asarray(x) for x in run(levels, keys))  # [L, S, updates]

    def tenths(x: np.ndarray) -> np.ndarray:
        n = x.shape[-1] // 10 * 10
        return x[..., :n].reshape(*x.shape[:-1], 10, -1).mean(axis=(0, 1, 3))

    return tenths(entropy), tenths(pi_hat_square)


def fractions(returns: np.ndarray, optimal: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-level mean return / optimal `[L]`, and their mean over levels whose optimal
    return is at least `MIN_OPTIMAL`."""
    per_level = returns.mean(axis=1) / np.maximum(optimal, 1e-9)
    kept = optimal >= MIN_OPTIMAL
    return per_level, float(per_level[kept].mean()) if kept.any() else float("nan")


def heldout_levels(space: Any) -> tuple[list[str], Any, np.ndarray]:
    """Names, stacked levels `[L, ...]` and optimal returns `[L]` of the held-out set."""
    named = space.heldout()
    levels = stack_tasks(named)
    optimal = np.asarray(jax.jit(jax.vmap(space.optimal_return))(levels))
    return list(named), levels, optimal


# --- meta-train -------------------------------------------------------------------------------


def _rule(loop: MetaGradient | MetaTrainer, state: Any) -> Any:
    """The rule a state holds: the meta-gradient's parameters, or the ES mean."""
    if isinstance(loop, MetaTrainer):
        return loop.mean_solution(state)
    return state.meta_params


def _describe(args: MetaTrainArgs, loop: MetaGradient | MetaTrainer, mesh_note: str) -> str:
    if isinstance(loop, MetaTrainer):
        lo, hi = args.lifetimes
        return (
            f"meta-training a TA-LPG rule by {args.es.strategy_name}: population "
            f"{args.es.population_size}{mesh_note} in antithetic pairs, one level per pair, "
            f"lifetimes {lo}-{hi} updates, {loop.env_steps_per_generation:,} env steps per "
            "generation"
        )
    return (
        f"meta-training an LPG rule: {args.meta.num_agents} agents{mesh_note}, "
        f"{args.curriculum} levels, K = {args.meta.unroll}, lifetime {loop.lifetime} updates, "
        f"{loop.env_steps_per_step:,} env steps per meta-step"
    )


def _record(loop: MetaGradient | MetaTrainer, state: Any, metrics: Any) -> dict:
    """One line of generations.jsonl (numbers only)."""
    if isinstance(loop, MetaTrainer):
        line = {
            k: float(getattr(metrics, k))
            for k in ("fitness_mean", "fitness_max", "fitness_min", "seconds", "env_steps")
        }
        line["mean_return"] = float(np.nanmean(metrics.task_returns))
        line["mean_lifetime"] = float(np.mean(metrics.lifetimes))
        return line
    return {
        **{k: float(v) for k, v in metrics._asdict().items()},
        **loop.source.stats(state.curriculum),
    }


def meta_train(args: MetaTrainArgs) -> Path:
    from rljax.checkpoint import Checkpointer

    enable_compilation_cache(args.compilation_cache)
    agent = args.agent_config()
    critic = _critic(agent)
    loop = args.loop()
    es = isinstance(loop, MetaTrainer)
    mesh_note = on_devices(loop.mesh) if loop.mesh is not None else ""
    space = loop.sampled.space if es else loop.space
    initial = loop.initial_solution if es else loop.initial_meta_params
    run_dir = Path(args.resume) if args.resume else new_run_dir(args.out_dir, "lpg-meta-train")
    write_json(run_dir / "config.json", {"command": "meta-train", "args": args})
    checkpointer = Checkpointer(run_dir / "checkpoints", loop.fingerprint(), keep=2)
    state = loop.restore(checkpointer) or loop.init()
    # (a line's "generation" is the count after its step: keep those up to the checkpoint's)
    history = read_generations(run_dir, state.generation + 1)
    names, levels, optimal = heldout_levels(space)
    lpg_eval = LevelEvaluator(agent, space, args.eval_seeds)
    a2c_eval = LevelEvaluator(critic, space, args.eval_seeds)
    baselines = {
        "a2c": fractions(a2c_eval(critic.hparams(), levels), optimal),
        "random rule": fractions(lpg_eval(agent.hparams(initial), levels), optimal),
    }
    print(
        _describe(args, loop, mesh_note)
        + "; held-out return / optimal: "
        + ", ".join(f"{k} {v[1]:.3f}" for k, v in baselines.items())
        + (f"; resumed at meta-step {state.generation}" if state.generation else "")
    )
    evaluations = [
        record
        for record in map(json.loads, _lines(run_dir / "evaluations.jsonl"))
        if record["meta_step"] <= state.generation
    ]
    # (a resumed run computes the later ones again)
    (run_dir / "evaluations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evaluations))

    def evaluate(state: Any) -> None:
        rule = _rule(loop, state)
        if _same_leaves(rule, initial):  # meta-step 0: the random rule's baseline, not again
            per_level, mean = baselines["random rule"]
        else:
            per_level, mean = fractions(lpg_eval(agent.hparams(rule), levels), optimal)
        record = {
            "meta_step": state.generation,
            "mean_fraction": mean,
            "per_level": dict(zip(names, per_level.tolist(), strict=True)),
        }
        evaluations.append(record)
        with open(run_dir / "evaluations.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        save_rule_params(
            run_dir / "rule_params.npz",
            agent.rule,
            rule,
            {"meta_step": state.generation, "mean_fraction": mean, "args": args},
        )
        _plot_curve(evaluations, baselines, run_dir / "meta_training.png", args)
        from tqdm.auto import tqdm

        stats = {} if es else loop.source.stats(state.curriculum)
        tqdm.write(
            f"meta-step {state.generation}: held-out return / optimal {mean:.3f} "
            f"(A2C {baselines['a2c'][1]:.3f}, random rule {baselines['random rule'][1]:.3f})"
            + (
                f"; {args.curriculum}: buffer {stats['buffer_fill']:.0%}, replayed "
                f"{stats['replay_share']:.0%}, {stats['antagonists_trained']} antagonists"
                if stats
                else ""
            ),
            file=sys.stdout,
        )

    def on_step(state: Any, metrics: Any) -> None:
        line = {
            "generation": state.generation,
            **({"method": args.method} if es else {}),
            **({"curriculum": args.curriculum} if args.curriculum != "uniform" else {}),
            **_record(loop, state, metrics),
        }
        history.append(line)
        with open(run_dir / "generations.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        if args.eval_every and state.generation % args.eval_every == 0:
            evaluate(state)

    if not evaluations:
        evaluate(state)
    with checkpointer:
        state = loop.run(
            state, progress=args.progress, on_generation=on_step, checkpointer=checkpointer
        )
    if evaluations[-1]["meta_step"] != state.generation:
        evaluate(state)
    print(f"rule: {run_dir / 'rule_params.npz'}")
    print(f"run folder: {run_dir}")
    return run_dir


def _same_leaves(a: Any, b: Any) -> bool:
    """Whether two pytrees have the same structure and bitwise equal leaves."""
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)  # each leaf fetched to the host once
        if x.dtype != y.dtype or not np.array_equal(x, y):
            return False
    return True


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _plot_curve(evaluations: list[dict], baselines: dict, path: Path, args: MetaTrainArgs) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    steps = [e["meta_step"] for e in evaluations]
    ax.plot(steps, [e["mean_fraction"] for e in evaluations], marker="o", label="LPG rule")
    for (name, (_, value)), style in zip(baselines.items(), ("--", ":"), strict=True):
        ax.axhline(value, linestyle=style, color="gray", label=name)
    ax.set_xlabel("meta-step")
    ax.set_ylabel("held-out return / optimal")
    ax.set_title(
        f"TA-LPG by ES: population {args.es.population_size}, held-out lifetime "
        f"{args.agent.num_updates} updates"
        if args.method == "talpg"
        else f"LPG meta-gradient: {args.meta.num_agents} agents, lifetime "
        f"{args.agent.num_updates} updates"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --- meta-eval --------------------------------------------------------------------------------


def meta_eval(args: MetaEvalArgs) -> Path:
    enable_compilation_cache(args.compilation_cache)
    rule, rule_params = load_rule_params(args.rule_params)
    too_long = [n for n in args.lifetimes if rule.temporally_aware and n > rule.max_lifetime]
    if too_long:
        raise cfg.ConfigError(
            f"MetaEvalArgs.lifetimes has {too_long[0]} updates, more than the rule's "
            f"max_lifetime {rule.max_lifetime}. Fix: pass lifetimes up to {rule.max_lifetime} "
            "(CLI flag --lifetimes)."
        )
    agent = args.agent.replace(env=f"Gridworld-{args.task_space.observation}", rule=rule)
    critic = _critic(agent)
    space = make_task_space(args.task_space)
    run_dir = new_run_dir(args.out_dir, "lpg-meta-eval")
    write_json(run_dir / "config.json", {"command": "meta-eval", "args": args})
    names, levels, optimal = heldout_levels(space)
    lpg_eval = LevelEvaluator(agent, space, args.seeds)
    results = {
        "learned rule": fractions(lpg_eval(agent.hparams(rule_params), levels), optimal),
        "random rule": fractions(lpg_eval(agent.hparams(), levels), optimal),
        "a2c": fractions(
            LevelEvaluator(critic, space, args.seeds)(critic.hparams(), levels), optimal
        ),
    }
    rows = [["level", "optimal", *results]]
    for i, name in enumerate(names):
        rows.append([name, f"{optimal[i]:.3f}", *(f"{r[0][i]:.3f}" for r in results.values())])
    rows.append(
        [f"mean (optimal >= {MIN_OPTIMAL})", "", *(f"{r[1]:.3f}" for r in results.values())]
    )
    transfer = [_transfer(args, env, rule, rule_params) for env in args.envs]
    per_lifetime = [
        _at_lifetime(args, agent, space, rule_params, levels, optimal, n) for n in args.lifetimes
    ]
    with open(run_dir / "results.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    lines = [
        f"# LPG rule {args.rule_params}",
        "",
        f"Held-out levels, return / optimal after a lifetime of {agent.num_updates} updates "
        f"({args.seeds} agents per level):",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(r) + " |" for r in rows[1:]),
    ]
    if per_lifetime:
        lines += [
            "",
            f"Other lifetimes (updates; the table above: {agent.num_updates}): return / optimal, "
            "and the rule agents' policy entropy and mean pi_hat^2 in the first, middle and "
            "last tenth of the lifetime:",
            "",
            "| lifetime | learned rule | a2c | entropy 1st / 5th / 10th | pi_hat^2 1st / 5th / "
            "10th |",
            "|---|---|---|---|---|",
            *per_lifetime,
        ]
    if transfer:
        lines += ["", f"Other envs, final evaluation return ({args.seeds} seeds, mean +- std):", ""]
        lines += ["| env | learned rule | a2c | ppo |", "|---|---|---|---|", *transfer]
    (run_dir / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"run folder: {run_dir}")
    return run_dir


def _at_lifetime(
    args: MetaEvalArgs,
    agent: LPGAgentConfig,
    space: Any,
    rule_params: Any,
    levels: Any,
    optimal: np.ndarray,
    lifetime: int,
) -> str:
    """The rule and A2C trained for `lifetime` updates on the held-out levels: one markdown
    row (mean return / optimal, and the rule's entropy and pi_hat^2 profile)."""
    steps = lifetime * agent.num_envs * agent.num_steps
    config = agent.replace(total_timesteps=steps)
    critic = _critic(config)
    hparams = config.hparams(rule_params)
    rule = fractions(LevelEvaluator(config, space, args.seeds)(hparams, levels), optimal)[1]
    a2c = fractions(LevelEvaluator(critic, space, args.seeds)(critic.hparams(), levels), optimal)[1]
    entropy, pi_hat = lifetime_profile(config, space, hparams, levels, args.seeds)
    cell = lambda x: " / ".join(f"{x[i]:.3g}" for i in (0, 4, 9))
    return f"| {lifetime} | {rule:.3f} | {a2c:.3f} | {cell(entropy)} | {cell(pi_hat)} |"


def _transfer(args: MetaEvalArgs, env: str, rule: LPGRuleConfig, rule_params: Any) -> str:
    """The rule training an MLP agent (Adam) on `env`, beside A2C and PPO at the same
    budget: one markdown row of final evaluation returns."""
    from rljax.agents.ppo import PPOConfig
    from rljax.training import run, seed_keys, stack_hparams

    shared = dict(
        env=env,
        total_timesteps=args.transfer_timesteps,
        num_envs=8,
        num_steps=20,
        torso="mlp",
        optimizer="adam",
        learning_rate=1e-3,
        critic_learning_rate=1e-3,
    )
    configs = {
        "learned rule": (LPGAgentConfig(rule=rule, **shared), rule_params),
        "a2c": (A2CConfig(**shared), None),
        "ppo": (PPOConfig(env=env, total_timesteps=args.transfer_timesteps), None),
    }
    cells = []
    keys = seed_keys(list(range(args.seeds)))
    for config, params in configs.values():
        hparams = config.hparams(params) if params is not None else config.hparams()
        result = run(
            make_learner(config),
            keys,
            stack_hparams([hparams] * args.seeds),
            progress=args.progress,
        )
        final = np.asarray(result.eval_returns).mean(axis=1)
        cells.append(f"{final.mean():.1f} +- {final.std():.1f}")
    return f"| {env} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    """`meta-train` or `meta-eval`; bad input exits with status 2 and one line, no traceback."""

    def run(args: MetaTrainArgs | MetaEvalArgs) -> None:
        if isinstance(args, MetaTrainArgs):
            meta_train(args)
        else:
            meta_eval(args)

    commands = {"meta-train": MetaTrainArgs, "meta-eval": MetaEvalArgs}
    return subcommand_main(commands, argv, run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
