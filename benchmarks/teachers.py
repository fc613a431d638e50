"""Teachers against uniform sampling: on the ALP-GMM paper's learnability toy, and with PPO
on CartPole constants with a large unlearnable region (`--cartpole`).

Portelas et al. 2019, sec. 5.1: a 10x10-cell unit square whose cells unlock from mastered
lower neighbours (`envs/toy`), 20,000 episodes, one task per proposal; the score is the share
of cells mastered. Prints, per setting (0 or `--useless` ignored extra dimensions) and teacher,
the mastered share after every 5,000 episodes as mean +- std over the seeds, and each seed's
final share.

    cd benchmarks && ../.venv/bin/python teachers.py                  # 5 seeds, 0 and 8 useless
    ../.venv/bin/python teachers.py --seeds 3 --episodes 10000
    ../.venv/bin/python teachers.py --reference /path/to/teachDeepRL  # + the reference code

(`--reference` needs files on disk: from a bare snapshot, `git --git-dir=SNAPSHOT archive HEAD
teachDRL/teachers teachDRL/toy_env | tar -x -C /path/to/teachDeepRL`.)

`--cartpole` trains PPO on CartPole whose cart mass (0.5 to 30 kg) and pole length (0.3 to
1 m) are the task, the other constants at gymnax's defaults. With the default 10 N push a cart
heavier than about 12 kg cannot be balanced (measured: PPO trained on one fixed mass solves
0.41-0.56 of episodes at 5 kg, 0-0.5 at 10 kg, 0 at 20 kg after 204,800 steps), so 60% of the
box is unlearnable. Each teacher gets the same env steps (every rollout counted) and the same
PPO (PureJaxRL's CartPole settings, 8 envs x 500-step rollouts so every proposed task's
episode finishes and is scored); the score is the held-out return on a grid of learnable
tasks (masses 0.5, 1, 2, 4 kg x lengths 0.3, 0.6, 1 m), the mean of the last 3 evaluations.
PLR ranks by positive value loss; ALP-GMM refits every 100 episodes (the paper: 250, at
budgets of tens of thousands of episodes; here a run has 2,000); SFL rolls 32 candidates out
on 4 envs each (16 steps without gradient) per 48 training steps, keeping the 8 most
learnable, so a quarter of its env steps go to selection (the paper spends more).

    ../.venv/bin/python teachers.py --cartpole --seeds 3 --steps 1000000

`--reference` runs the reference implementation (flowersteam/teachDeepRL, a checkout outside
this repository: its `teachers/algos/alp_gmm.py`, full covariances fitted by scikit-learn, and
`toy_env/toy_env.py`'s student) on the same settings, loaded from that directory at run time
(nothing of it is copied here; its `gym.spaces.Box` import is served by a small stand-in when
gym is not installed). It takes about a minute per run. `--reference-covariance diag` runs it
with scikit-learn's diagonal covariances instead (rljax's choice: no LAPACK in vmapped code),
so the covariance's effect is measured apart from the rest of the implementation.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.toy import LearnabilityToy, ToyConfig, run_teacher
from rljax.curricula import ALPGMMConfig, DRConfig, make_curriculum

RECORD = 5000


def run_rljax(config, useless: int, seeds: list[int], episodes: int) -> tuple[np.ndarray, float]:
    """`[seeds, episodes / RECORD]` mastered shares (percent) and the wall time."""
    toy = LearnabilityToy(ToyConfig(useless_dims=useless))
    curriculum = make_curriculum(config, toy, 1)
    run = jax.jit(
        lambda keys: jax.lax.map(
            lambda k: run_teacher(curriculum, toy, k, episodes, RECORD).mastered, keys
        )
    )
    start = time.perf_counter()
    mastered = np.asarray(run(jax.vmap(jax.random.PRNGKey)(np.asarray(seeds))))
    return 100 * mastered, time.perf_counter() - start


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def diagonal_gmm_type() -> type:
    """scikit-learn's GaussianMixture with diagonal covariances, as the reference teacher
    builds and reads it (`GMM(n_components, covariance_type, random_state, warm_start,
    n_init)`; `covariances_[k]` a `[d, d]` matrix after a fit): what rljax's ALP-GMM fits,
    inside the reference's loop, so the covariance's effect is measured alone."""
    from sklearn.mixture import GaussianMixture

    class DiagonalGMM(GaussianMixture):
        def __init__(
            self,
            n_components=1,
            covariance_type="diag",
            random_state=None,
            warm_start=False,
            n_init=1,
        ):
            super().__init__(
                n_components=n_components,
                covariance_type="diag",
                random_state=random_state,
                warm_start=warm_start,
                n_init=n_init,
            )

        def fit(self, X, y=None):
            super().fit(X, y)
            # The reference samples N(mean_k, covariances_[k]); the next (warm-started) fit
            # starts from precisions_cholesky_ and recomputes covariances_ in its M-step.
            self.covariances_ = np.stack([np.diag(c) for c in self.covariances_])
            return self

    return DiagonalGMM


def reference_modules(root: Path, covariance: str = "full") -> tuple[type, type]:
    """(ALPGMM, ToyEnv) from a teachDeepRL checkout; `covariance="diag"` swaps its GMM for
    `diagonal_gmm_type()`."""
    try:
        import gym.spaces
    except ImportError:  # a stand-in for the one class the teacher uses

        class Box:
            def __init__(self, low, high, dtype=np.float32):
                self.low, self.high, self.dtype = np.asarray(low), np.asarray(high), dtype

            def sample(self):
                return np.random.uniform(self.low, self.high).astype(self.dtype)

        gym = types.ModuleType("gym")
        gym.spaces = types.ModuleType("gym.spaces")
        gym.spaces.Box = Box
        sys.modules["gym"], sys.modules["gym.spaces"] = gym, gym.spaces
    base = root / "teachDRL"
    for package in ("teachDRL", "teachDRL.teachers", "teachDRL.teachers.utils"):
        sys.modules.setdefault(package, types.ModuleType(package))
    _load(base / "teachers/utils/dataset.py", "teachDRL.teachers.utils.dataset")
    alp_gmm = _load(base / "teachers/algos/alp_gmm.py", "reference_alp_gmm")
    if covariance == "diag":
        alp_gmm.GMM = diagonal_gmm_type()
    source = (base / "toy_env/toy_env.py").read_text()
    # Only the student class: the file's other imports are plotting and other teachers.
    body = source[source.index("class ToyEnv") : source.index("# Controller functions")]
    namespace: dict = {}
    exec("import numpy as np\nimport scipy.stats as sp\n" + body, namespace)
    return alp_gmm.ALPGMM, namespace["ToyEnv"]


def run_reference(
    root: Path, useless: int, seeds: list[int], episodes: int, covariance: str = "full"
) -> np.ndarray:
    teacher_type, toy_type = reference_modules(root, covariance)
    rows = []
    for seed in seeds:
        np.random.seed(seed)
        toy = toy_type(nb_dims=2, nb_cubes=10)
        teacher = teacher_type([0] * (2 + useless), [1] * (2 + useless), seed=seed + 1)
        np.random.seed(seed)
        row = []
        for i in range(1, episodes + 1):
            task = teacher.sample_task()
            teacher.update(np.array(task), toy.episode(task))
            if i % RECORD == 0:
                row.append(toy.get_score())
        rows.append(row)
    return np.asarray(rows, float)


UNLEARNABLE_MASS = 12.0


def cartpole(seeds: list[int], steps: int, only: list[str] | None = None) -> None:
    import rljax
    from envs.classic.task_space import ClassicConfig
    from rljax.curricula import PLRConfig, SFLConfig
    from rljax.curricula.runner import UEDConfig, make_algorithm
    from rljax.presets import preset

    space = ClassicConfig(
        env="CartPole-v1",
        spread=0.0,
        ranges=(("masscart", 0.5, 30.0), ("length", 0.3, 1.0)),
        heldout_grid=(("masscart", (0.5, 1.0, 2.0, 4.0)), ("length", (0.3, 0.6, 1.0))),
    )
    learner = preset(
        rljax.PPOConfig,
        "cartpole",
        env="CartPole-v1-params",
        num_envs=8,
        num_steps=500,
        total_timesteps=steps,
    )
    teachers = {
        "uniform (DR)": DRConfig(),
        "PLR (pvl)": PLRConfig(capacity=256, replay_prob=0.5),
        "ALP-GMM, fit_rate 100": ALPGMMConfig(fit_rate=100),
        "SFL": SFLConfig(candidates=32, rollouts_per_level=4, kept=8, refresh_every=48),
    }
    print(
        f"PPO on CartPole, cart mass in [0.5, 30] kg x pole length in [0.3, 1] m; {steps:,} "
        f"env steps per seed, {len(seeds)} seeds; held-out: 12 learnable tasks"
    )
    print(
        "| teacher | held-out return | held-out solve rate | per seed (return) | "
        "tasks with mass > 12 kg | time (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name, curriculum in teachers.items():
        if only and not any(name.startswith(o) for o in only):
            continue
        config = UEDConfig(curriculum=curriculum, learner=learner, task_space=space)
        algo = make_algorithm(config)
        keys = rljax.seed_keys(seeds)
        hparams = rljax.stack_hparams([algo.hparams()] * len(seeds))
        start = time.perf_counter()
        result = rljax.run(algo, keys, hparams, progress=False)
        seconds = time.perf_counter() - start
        ret = np.asarray(result.metrics["heldout_return"])[:, -3:].mean(1)
        solve = np.asarray(result.metrics["heldout_solve_rate"])[:, -3:].mean(1)
        share = "0.61 (by construction)" if isinstance(curriculum, DRConfig) else "-"
        if isinstance(curriculum, ALPGMMConfig):
            c = result.state.curriculum
            heavy = []
            for i in range(len(seeds)):
                n = min(int(c.episodes[i]), c.history_tasks.shape[1])
                masses = 0.5 + np.asarray(c.history_tasks[i, :n, 1]) * 29.5  # box coordinates
                heavy.append((masses > UNLEARNABLE_MASS).mean())
            share = f"{np.mean(heavy):.2f} +- {np.std(heavy):.2f}"
        print(
            f"| {name} | {ret.mean():.0f} +- {ret.std():.0f} | {solve.mean():.2f} +- "
            f"{solve.std():.2f} | {', '.join(f'{r:.0f}' for r in ret)} | {share} | "
            f"{seconds:.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--useless", type=int, default=8, help="extra ignored dimensions")
    parser.add_argument("--reference", type=Path, default=None, help="a teachDeepRL checkout")
    parser.add_argument(
        "--reference-covariance",
        choices=("full", "diag", "both"),
        default="full",
        help="the reference's GMM covariances: its own full ones, rljax's diagonal ones, both",
    )
    parser.add_argument("--cartpole", action="store_true", help="PPO on CartPole instead")
    parser.add_argument("--steps", type=int, default=1_000_000, help="--cartpole env steps")
    parser.add_argument("--teachers", nargs="*", default=None, help="--cartpole: these only")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    if args.cartpole:
        cartpole(seeds, args.steps, args.teachers)
        return
    marks = [f"{e // 1000}k" for e in range(RECORD, args.episodes + 1, RECORD)]
    print(f"mastered cells (%), mean +- std over {len(seeds)} seeds; one task per proposal")
    print(f"| useless dims | teacher | {' | '.join(marks)} | final per seed | time (s) |")
    print("|---|---|" + "---|" * len(marks) + "---|---|")
    for useless in (0, args.useless):
        rows = [
            ("uniform", *run_rljax(DRConfig(), useless, seeds, args.episodes)),
            ("ALP-GMM (rljax)", *run_rljax(ALPGMMConfig(), useless, seeds, args.episodes)),
        ]
        covariances = {"both": ("full", "diag")}.get(
            args.reference_covariance, (args.reference_covariance,)
        )
        for covariance in covariances if args.reference is not None else ():
            start = time.perf_counter()
            ref = run_reference(args.reference, useless, seeds, args.episodes, covariance)
            name = "ALP-GMM (reference code" + (
                ", diagonal covariances)" if covariance == "diag" else ")"
            )
            rows.append((name, ref, time.perf_counter() - start))
        for name, mastered, seconds in rows:
            stats = zip(mastered.mean(0), mastered.std(0), strict=True)
            cells = " | ".join(f"{m:.1f} +- {s:.1f}" for m, s in stats)
            final = ", ".join(f"{v:.0f}" for v in mastered[:, -1])
            print(f"| {useless} | {name} | {cells} | {final} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
