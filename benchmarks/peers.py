"""rljax's PPO against a peer library's (rejax) on the same PPO config, in one process.

    python benchmarks/peers.py [--rounds 6] [--configs 4x128,256x128,4x128x16] [--floor]
                                [--rljax-clip {element,global_norm}]
    python benchmarks/peers.py --no-timing --returns --configs 4x128 [--return-seeds 16]

rejax is an optional dependency (`pip install -e '.[bench]'`); without it this prints one
line and exits with status 2. rejax 0.1.3 is written against gymnax's old 5-tuple `step`
(`obs, state, reward, done, info`); it gets gymnax 1.0's CartPole through `_FiveTupleEnv`,
which only merges `terminated | truncated` into `done` (the dynamics are gymnax's own).

Each config `ENVSxSTEPS[xSEEDS]` is timed as one compiled `lax.scan` of `--updates` PPO
updates (collect + GAE + epochs) per call, `vmap`ped over SEEDS runs where given (rljax's
vmap named `rljax.run_batch.RUNS`, as `rljax.training` vmaps a batch of runs). The two
libraries' calls alternate (ABBA order) for `--rounds` rounds; each round prints rejax's
seconds over rljax's (> 1: rljax is faster), and the table gives the median. Compile time is
`jit(...).lower(...).compile()` of the same chunk (best of three, ABBAAB order); the median
of CPU-time ratios (process CPU seconds, less sensitive to other processes' load) is printed
beside the wall-clock one; the random-action ceiling is rljax's
rollout code with uniformly random actions over the same env batch. `--returns` also trains
both for `--total-timesteps` on `--return-seeds` seeds per config and evaluates each final
policy with the same evaluator (`rljax.evaluation.evaluate`, 32 episodes per seed, sampled
and greedy actions). `--floor` prints where one rljax update's time goes (`floor`).

Random bits: importing rljax makes XLA:CPU lower threefry unrolled (`rljax.cpu_random`; the
same bits as JAX's rolled loop). By default rejax's programs are lowered with JAX's own rolled
loop, as rejax's users get them (`--rejax-lowering jax`); `--rejax-lowering rljax` gives both
libraries the unrolled one, which compares the two designs alone.

The config both get: 64-64 tanh MLPs, separate actor and critic; `update_epochs` 4 x
`num_minibatches` 4; learning rate 2.5e-4, not annealed; gamma 0.99; GAE lambda 0.95;
clip 0.2 on the ratio and on the value; entropy 0.01; value 0.5; each gradient element
clipped to +-0.5 (rejax's `optax.clip`; rljax's `--grad-clip element`, which steps Adam per
parameter leaf); advantages standardised per minibatch; no observation or reward
normalisation. `--rljax-clip global_norm` gives rljax its default instead: the global norm of
all gradients clipped at 0.5 and Adam on one flat vector.

What remains different (each library's fixed choice, no flag on the other side):
  * optimiser: rljax has one Adam (eps 1e-5) over actor and critic on the joint loss
    `pg + 0.5 vf - 0.01 ent`; rejax has two Adams (eps 1e-8), the actor stepped on
    `pg - 0.01 ent`, then the critic on `0.5 vf`, on the same minibatch (with separate
    networks and per-element clipping, the same steps but for eps);
  * initialisation: rljax orthogonal (sqrt 2 hidden, 0.01 policy head, 1 value head) with
    zero biases; rejax flax's default (LeCun normal, zero biases);
  * truncation: rljax bootstraps V(final observation) at a time-limit truncation and 0 at
    termination, which costs a critic pass over all `T x N` next observations; rejax treats
    both as termination and needs V of the last observation only;
  * PRNG streams differ, so the two never see the same episodes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

try:
    import rejax
except ImportError:
    print(
        "benchmarks/peers.py needs rejax: pip install -e '.[bench]' (or pip install rejax)",
        file=sys.stderr,
    )
    sys.exit(2)

import jax
from machine import describe, load_average
from ppo_throughput import matmul_gflops

import rljax
from rljax import cpu_random, optim, rollout
from rljax.environment import make
from rljax.evaluation import evaluate
from rljax.run_batch import RUNS
from rljax.wrappers import EpisodeStatistics, VecEnv

CONFIGS = "4x128,256x128,4x128x16"
SHARED = dict(
    learning_rate=2.5e-4,
    max_grad_norm=0.5,
    gamma=0.99,
    gae_lambda=0.95,
    clip_eps=0.2,
    ent_coef=0.01,
    vf_coef=0.5,
)


class _FiveTupleEnv:
    """A gymnax 1.0 env seen through the pre-1.0 `step` that rejax 0.1.3 unpacks:
    `(obs, state, reward, terminated | truncated, info)`."""

    def __init__(self, env: Any):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # during copy.deepcopy, before __init__ has run
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, key, params):
        return self.env.reset(key, params)

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return obs, state, reward, terminated | truncated, info


def rljax_agent(
    env: str, num_envs: int, num_steps: int, total: int, grad_clip: str = "element"
) -> rljax.PPO:
    config = rljax.PPOConfig(
        env=env,
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=total,
        update_epochs=4,
        num_minibatches=4,
        anneal_lr=False,
        clip_value=True,
        value_clip_eps=0.2,
        normalize_advantages=True,
        normalize_observations=False,
        hidden_sizes=(64, 64),
        activation="tanh",
        grad_clip=grad_clip,
        **SHARED,
    )
    return rljax.PPO(config)


def rejax_agent(env: str, num_envs: int, num_steps: int, total: int) -> Any:
    base, params = make(env)
    return rejax.PPO.create(
        env=_FiveTupleEnv(base),
        env_params=params,
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=total,
        eval_freq=total,
        skip_initial_evaluation=True,
        num_epochs=4,
        num_minibatches=4,
        normalize_observations=False,
        normalize_rewards=False,
        agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
        **SHARED,
    )


def chunks(
    env: str, num_envs: int, num_steps: int, seeds: int, updates: int, grad_clip: str = "element"
) -> dict:
    """Per library: (jitted chunk of `updates` updates, its initial state), vmapped over
    `seeds` runs when `seeds` > 0."""
    total = num_envs * num_steps * updates
    ours, theirs = (
        rljax_agent(env, num_envs, num_steps, total, grad_clip),
        rejax_agent(env, num_envs, num_steps, total),
    )

    def ours_chunk(state):
        return jax.lax.scan(lambda s, _: ours.update(s), state, None, length=updates)[0]

    def theirs_chunk(ts):
        step = lambda t, _: (theirs.train_iteration(t), None)
        return jax.lax.scan(step, ts, None, length=updates)[0]

    hparams = ours.config.hparams()
    keys = jax.random.split(jax.random.PRNGKey(0), max(seeds, 1))
    if seeds:
        ours_init = jax.vmap(ours.init, in_axes=(0, None))(keys, hparams)
        theirs_init = jax.vmap(theirs.init_state)(keys)
        ours_chunk, theirs_chunk = jax.vmap(ours_chunk, axis_name=RUNS), jax.vmap(theirs_chunk)
    else:
        ours_init = jax.jit(ours.init)(keys[0], hparams)
        theirs_init = jax.jit(theirs.init_state)(keys[0])
    return {
        "rljax": (ours_chunk, ours_init),
        "rejax": (theirs_chunk, theirs_init),
        "agent": ours,
    }


def compile_seconds(fn, state, jax_lowering: bool = False) -> tuple[Any, float]:
    """Trace, lower and compile `fn` afresh (a new function object: no cache hit); with
    `jax_lowering`, random bits get JAX's own CPU lowering (`rljax.cpu_random`)."""
    start = time.perf_counter()
    with cpu_random.jax_default_lowering(jax_lowering):
        compiled = jax.jit(lambda s: fn(s)).lower(state).compile()
    return compiled, time.perf_counter() - start


def seconds(fn, state) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(state))
    return time.perf_counter() - start, time.process_time() - cpu


def random_ceiling(agent: rljax.PPO, seeds: int, updates: int, rounds: int) -> float:
    """Best seconds of `updates` random-action rollouts (vmapped over `seeds`)."""
    space = agent.env.action_space(agent.env_params)

    def policy(_, obs, key):
        return jax.vmap(space.sample)(jax.random.split(key, obs.shape[0])), None

    def run(key):
        start = rollout.reset(agent.env, agent.env_params, key)

        def one(carry, k):
            carry, traj = rollout.collect(
                agent.env, agent.env_params, policy, None, carry, k, agent.num_steps
            )
            return carry, traj.reward.sum()

        return jax.lax.scan(one, start, jax.random.split(key, updates))[1]

    fn = jax.jit(jax.vmap(run) if seeds else run)
    keys = jax.random.split(jax.random.PRNGKey(1), max(seeds, 1))
    keys = keys if seeds else keys[0]
    jax.block_until_ready(fn(keys))
    return min(seconds(fn, keys)[0] for _ in range(rounds))


def time_config(
    env: str, spec: str, rounds: int, updates: int, rejax_lowering: str, grad_clip: str
) -> dict:
    num_envs, num_steps, *rest = (int(v) for v in spec.split("x"))
    seeds = rest[0] if rest else 0
    built = chunks(env, num_envs, num_steps, seeds, updates, grad_clip)
    compiled, compile_s = {}, {"rljax": float("inf"), "rejax": float("inf")}
    for name in ("rljax", "rejax", "rejax", "rljax", "rljax", "rejax"):  # best of three
        fn, state = built[name]
        compiled[name], took = compile_seconds(
            fn, state, jax_lowering=name == "rejax" and rejax_lowering == "jax"
        )
        compile_s[name] = min(compile_s[name], took)
    for name, fn in compiled.items():
        jax.block_until_ready(fn(built[name][1]))  # warm-up call
    ratios, cpu_ratios, best = [], [], {"rljax": float("inf"), "rejax": float("inf")}
    for r in range(rounds):
        pair = ("rljax", "rejax") if r % 2 == 0 else ("rejax", "rljax")
        took = {name: seconds(compiled[name], built[name][1]) for name in pair}
        for name in pair:
            best[name] = min(best[name], took[name][0])
        ratios.append(took["rejax"][0] / took["rljax"][0])
        cpu_ratios.append(took["rejax"][1] / took["rljax"][1])
        print(
            f"  {spec} round {r + 1}: rljax {took['rljax'][0] * 1e3:8.1f} ms, "
            f"rejax {took['rejax'][0] * 1e3:8.1f} ms, ratio {ratios[-1]:.3f} "
            f"(CPU time ratio {cpu_ratios[-1]:.3f}; load {load_average()})",
            flush=True,
        )
    steps = num_envs * num_steps * updates * max(seeds, 1)
    ceiling = random_ceiling(built["agent"], seeds, updates, 3)
    return {
        "spec": f"{num_envs} envs x {num_steps} steps" + (f" x {seeds} seeds" if seeds else ""),
        "median": statistics.median(ratios),
        "ratios": ratios,
        "cpu_median": statistics.median(cpu_ratios),
        "rljax_sps": steps / best["rljax"],
        "rejax_sps": steps / best["rejax"],
        "ceiling_sps": steps / ceiling,
        "compile_rljax": compile_s["rljax"],
        "compile_rejax": compile_s["rejax"],
    }


def best_cpu(fn, *args, repeats: int = 5) -> float:
    """Best process-CPU seconds of `repeats` calls of compiled `fn` (after a warm-up)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        jax.block_until_ready(fn(*args))
        best = min(best, time.process_time() - start)
    return best


def floor(env: str, spec: str, grad_clip: str = "element") -> dict:
    """Where one rljax PPO update's time goes, against the same arithmetic alone.

    `collect` (rollout + V of next observations) against a random-action rollout of the same
    env batch; `learn` (GAE + shuffles + epochs) against the bare arithmetic of its gradient
    steps: the same two 64-64 tanh MLPs' forward and backward passes and a plain SGD step, on
    a minibatch of the same shape, `epochs x minibatches` times in one `lax.scan` (with the
    same row-major weight gradients). Matmul rates count 6 FLOPs per multiply-add per sample.
    """
    num_envs, num_steps = (int(v) for v in spec.split("x")[:2])
    agent = rljax_agent(env, num_envs, num_steps, num_envs * num_steps * 8, grad_clip)
    config = agent.config
    state = jax.jit(agent.init)(jax.random.PRNGKey(0), config.hparams())
    collect_fn = jax.jit(lambda s: agent.collect(s, agent.env, agent.env_params))
    _, traj = collect_fn(state)
    learn_fn = jax.jit(lambda s: agent.learn(s, traj)[0].params)
    space = agent.env.action_space(agent.env_params)

    def random_policy(_, obs, key):
        return jax.vmap(space.sample)(jax.random.split(key, obs.shape[0])), None

    random_fn = jax.jit(
        lambda s: (
            rollout.collect(
                agent.env, agent.env_params, random_policy, None, s.rollout, s.key, num_steps
            )[1].reward
        )
    )
    batch = num_envs * num_steps // config.num_minibatches
    steps = config.update_epochs * config.num_minibatches
    obs = jax.random.normal(jax.random.PRNGKey(1), (batch, *agent.obs_shape))

    def bare(params):
        def loss(p):
            pi, value = agent.network.apply(p, obs)
            return (pi.logits**2).mean() + (value**2).mean()

        def step(p, _):
            grads = optim.row_major_weight_gradients(jax.grad(loss))(p)
            return jax.tree.map(lambda w, g: w - 1e-4 * g, p, grads), None

        return jax.lax.scan(step, params, None, length=steps)[0]

    bare_fn = jax.jit(bare)
    macs = sum(
        leaf.size
        for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)
        if "kernel" in jax.tree_util.keystr(path)
    )
    flops = 6 * macs * batch * steps
    out = {
        "collect": best_cpu(collect_fn, state),
        "random": best_cpu(random_fn, state),
        "learn": best_cpu(learn_fn, state),
        "bare": best_cpu(bare_fn, state.params),
    }
    out["learn_gflops"] = flops / out["learn"] / 1e9
    out["bare_gflops"] = flops / out["bare"] / 1e9
    out["chain_gflops"] = matmul_gflops(batch, max(config.hidden_sizes), 200)
    return out


def final_returns(env: str, spec: str, seeds: int, total: int, grad_clip: str) -> dict:
    """Train both for `total` env steps on `seeds` seeds; mean evaluation return of each final
    policy (32 episodes per seed, sampled and greedy actions, the same evaluator)."""
    num_envs, num_steps = (int(v) for v in spec.split("x")[:2])
    ours, theirs = (
        rljax_agent(env, num_envs, num_steps, total, grad_clip),
        rejax_agent(env, num_envs, num_steps, total),
    )
    updates = total // (num_envs * num_steps)
    keys = jax.random.split(jax.random.PRNGKey(42), seeds)

    def ours_run(key):
        state = ours.init(key, ours.config.hparams())
        return jax.lax.scan(lambda s, _: ours.update(s), state, None, length=updates)[0].params

    def theirs_run(key):
        ts = theirs.init_state(key)
        step = lambda t, _: (theirs.train_iteration(t), None)
        return jax.lax.scan(step, ts, None, length=updates)[0].actor_ts.params

    base, env_params = make(env)
    eval_env = VecEnv(EpisodeStatistics(base), 32)
    steps = ours.max_episode_steps

    def ours_policy(greedy):
        def act(params, obs, key):
            pi, _ = ours.network.apply(params, obs)
            return (pi.mode() if greedy else pi.sample(seed=key)), None

        return act

    def theirs_policy(greedy):
        def act(params, obs, key):
            def dist(module, o):
                d = module._action_dist(o)
                return d.mode() if greedy else d.sample(seed=key)

            return theirs.actor.apply(params, obs, method=dist), None

        return act

    out = {}
    for name, run, policy in (
        ("rljax", ours_run, ours_policy),
        ("rejax", theirs_run, theirs_policy),
    ):
        start = time.perf_counter()
        runs = jax.vmap(run, axis_name=RUNS) if name == "rljax" else jax.vmap(run)
        params = jax.block_until_ready(jax.jit(runs)(keys))
        wall = time.perf_counter() - start
        for greedy in (False, True):
            ev = jax.jit(
                jax.vmap(
                    lambda p, k, g=greedy, pol=policy: evaluate(
                        eval_env, env_params, pol(g), p, k, steps
                    ).returns.mean()
                )
            )(params, jax.random.split(jax.random.PRNGKey(7), seeds))
            out[(name, greedy)] = ev
        out[(name, "wall")] = wall
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--configs", default=CONFIGS, help="ENVSxSTEPS[xSEEDS], comma-separated")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--updates", type=int, default=0, help="updates per timed call (0: ~65k env steps)"
    )
    parser.add_argument("--returns", action="store_true", help="also train both to the end")
    parser.add_argument("--no-timing", action="store_true", help="only the final returns")
    parser.add_argument(
        "--floor", action="store_true", help="also rljax's update vs its arithmetic"
    )
    parser.add_argument(
        "--rejax-lowering",
        choices=("jax", "rljax"),
        default="jax",
        help="random bits in rejax's programs: JAX's own CPU lowering (a rolled loop, what "
        "rejax's users get) or rljax's unrolled one (the same lowering on both sides); "
        "rljax's side follows RLJAX_ROLLED_THREEFRY",
    )
    parser.add_argument(
        "--rljax-clip",
        choices=("element", "global_norm"),
        default="element",
        help="rljax's --grad-clip: element (rejax's clipping, the matched config) or "
        "global_norm (rljax's default: one global-norm clip and one flat Adam)",
    )
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    parser.add_argument("--return-seeds", type=int, default=16)
    args = parser.parse_args()
    print(
        f"{describe()}; env {args.env}, rljax {rljax.__name__} vs rejax "
        f"{getattr(rejax, '__version__', '0.1.3')}; threefry: rljax "
        f"{'unrolled' if cpu_random.enabled() else 'rolled'}, rejax "
        f"{'rolled' if args.rejax_lowering == 'jax' or not cpu_random.enabled() else 'unrolled'}"
        f"; rljax --grad-clip {args.rljax_clip}"
    )
    jax.jit(lambda x: x + 1).lower(1.0).compile()  # XLA's one-time start-up, timed by neither
    rows = []
    for spec in [] if args.no_timing else args.configs.split(","):
        num_envs, num_steps = (int(v) for v in spec.split("x")[:2])
        runs = int(spec.split("x")[2]) if spec.count("x") == 2 else 1
        updates = args.updates or max(2, 65_536 // (num_envs * num_steps * runs))
        rows.append(
            time_config(args.env, spec, args.rounds, updates, args.rejax_lowering, args.rljax_clip)
        )
    header = (
        "| config | rljax steps/s | rejax steps/s | rejax s / rljax s per round | median "
        "| median of CPU-time ratios | compile s rljax / rejax | random steps/s "
        "| rljax / ceiling | rejax / ceiling |"
    )
    print(header)
    print("|" + "---|" * 10)
    for r in rows:
        print(
            f"| {r['spec']} | {r['rljax_sps']:,.0f} | {r['rejax_sps']:,.0f} | "
            f"{' '.join(f'{x:.2f}' for x in r['ratios'])} | **{r['median']:.2f}x** | "
            f"{r['cpu_median']:.2f}x | "
            f"{r['compile_rljax']:.2f} / {r['compile_rejax']:.2f} | {r['ceiling_sps']:,.0f} | "
            f"{r['rljax_sps'] / r['ceiling_sps']:.0%} | {r['rejax_sps'] / r['ceiling_sps']:.0%} |",
            flush=True,
        )
    print(f"load after timing: {load_average()}")
    if args.floor:
        print(
            "\nrljax's update against its arithmetic (process CPU ms, best of 5; load "
            f"{load_average()})\n| config | collect | random rollout | learn | bare grad steps "
            "| learn GFLOP/s | bare GFLOP/s | matmul chain GFLOP/s |\n" + "|---" * 8 + "|"
        )
        for spec in dict.fromkeys(
            s.rsplit("x", 1)[0] if s.count("x") == 2 else s for s in args.configs.split(",")
        ):
            f = floor(args.env, spec, args.rljax_clip)
            print(
                f"| {spec} | {f['collect'] * 1e3:.2f} | {f['random'] * 1e3:.2f} | "
                f"{f['learn'] * 1e3:.2f} | {f['bare'] * 1e3:.2f} | {f['learn_gflops']:.0f} | "
                f"{f['bare_gflops']:.0f} | {f['chain_gflops']:.0f} |",
                flush=True,
            )
    if not args.returns:
        return
    print(
        f"\nfinal returns after {args.total_timesteps:,} steps, {args.return_seeds} seeds, "
        "mean over seeds of 32 evaluation episodes each (min-max over seeds)"
    )
    print("| config | rljax sampled | rejax sampled | rljax greedy | rejax greedy | train s |")
    print("|---|---|---|---|---|---|")
    specs = (s.rsplit("x", 1)[0] if s.count("x") == 2 else s for s in args.configs.split(","))
    for spec in dict.fromkeys(specs):
        r = final_returns(args.env, spec, args.return_seeds, args.total_timesteps, args.rljax_clip)
        cell = lambda x: f"{float(x.mean()):.1f} ({float(x.min()):.0f}-{float(x.max()):.0f})"
        print(
            f"| {spec} | {cell(r[('rljax', False)])} | {cell(r[('rejax', False)])} | "
            f"{cell(r[('rljax', True)])} | {cell(r[('rejax', True)])} | "
            f"{r[('rljax', 'wall')]:.0f} / {r[('rejax', 'wall')]:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
