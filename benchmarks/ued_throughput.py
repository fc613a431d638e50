"""The UED loop's env-steps/s against plain PPO on the same mazes and network, and the share
of the curriculum machinery (proposing, resetting onto levels, scoring, buffer updates).

    python benchmarks/ued_throughput.py [--steps 16] [--num-levels 16] [--agent feedforward]

Every row is one run's compiled scan of `--steps` rollouts of `num_levels x 256` steps
(compile excluded, best of 3), with the same network (the loop's default GRU agent, or the
MLP with `--agent feedforward`) over the same single-frame maze view:
- `ppo`: the agent's own `update` on `Maze-13x13` (auto-reset onto the same DR level);
- `plr`: the curriculum loop with PLR, which trains on every rollout like PPO, so its extra
  time over `ppo` is the machinery: share = 1 - ppo_time / plr_time;
- `dr`, `robust_plr`, `accel`: the loop as configured; robust PLR and ACCEL skip the gradient
  step on new and edited levels, so per env step they can be faster than PPO.
- `paired`: one PAIRED step (`PAIRED.step`: the adversary builds the levels, both students
  play them, all three train); its env steps count both students and the adversary.
Held-out evaluation is left out (it is amortised over `steps_per_eval` in training).
"""

from __future__ import annotations

import argparse

import jax

# Run as a script, this folder is on sys.path: reuse the sibling benchmark's timer.
from ppo_throughput import timed

from experiments.ued import make_algorithm
from rljax.curricula.runner import UEDConfig, curriculum_config, feedforward, maze_learner

ADVERSARY_STEPS = 52


def scan_seconds(step, state, steps: int) -> tuple[float, float]:
    fn = jax.jit(lambda s: jax.lax.scan(lambda c, _: step(c), s, None, length=steps))
    first, best = timed(fn, state)
    return first - best, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--num-levels", type=int, default=16)
    parser.add_argument("--agent", default="recurrent", choices=["recurrent", "feedforward"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["plr", "dr", "robust_plr", "accel", "paired"],
        choices=["plr", "dr", "robust_plr", "accel", "paired"],
        help="curriculum loops to time beside plain PPO (default: all)",
    )
    args = parser.parse_args()
    learner = maze_learner(num_envs=args.num_levels)
    if args.agent == "feedforward":
        learner = feedforward(learner)
    base = UEDConfig(learner=learner, frame_stack=1)
    rollout_steps = args.num_levels * learner.num_steps * args.steps
    paired_steps = args.num_levels * (2 * learner.num_steps + ADVERSARY_STEPS) * args.steps
    rows = {}
    ppo_algo = make_algorithm(base).learner
    state = jax.jit(ppo_algo.init)(jax.random.PRNGKey(0), learner.hparams())
    rows["ppo"] = scan_seconds(ppo_algo.update, state, args.steps)
    for method in args.methods:
        algo = make_algorithm(
            base.replace(curriculum=curriculum_config(method, min_fill_ratio=0.01))
        )
        state = jax.jit(algo.init)(jax.random.PRNGKey(0), algo.hparams())
        step = algo.step if method == "paired" else algo.curriculum_step
        rows[method] = scan_seconds(step, state, args.steps)
    print(
        f"{rollout_steps} env steps per scan ({paired_steps} for paired), {args.agent} agent, "
        f"{jax.devices()[0].platform}"
    )
    print(f"{'loop':<12}{'env steps/s':>14}{'compile s':>12}")
    for name, (compile_s, seconds) in rows.items():
        steps = paired_steps if name == "paired" else rollout_steps
        print(f"{name:<12}{steps / seconds:>14,.0f}{compile_s:>12.1f}")
    if "plr" in rows:
        share = 1.0 - rows["ppo"][1] / rows["plr"][1]
        print(f"curriculum machinery share of the PLR loop: {share:.1%}")


if __name__ == "__main__":
    main()
