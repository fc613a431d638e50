"""MBTL (Cho et al. 2024) and its baselines on transfer matrices (`rljax.transfer`), the
source-task curriculum, and `experiments.mbtl` end to end."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import transfer


def test_gp_matches_scikit_learn_and_ignores_padding():
    """On fixed 1-D data the C * RBF GP (marginal likelihood fit, noise std 0.1) predicts
    what scikit-learn's `GaussianProcessRegressor` with the reference's kernel predicts, and
    padding the data to more points changes nothing."""
    gp_module = pytest.importorskip("sklearn.gaussian_process")
    kernels = pytest.importorskip("sklearn.gaussian_process.kernels")
    x = np.asarray([0.1, 0.5, 0.9, 1.4, 2.0])
    y = np.asarray([0.2, 0.7, 0.9, 0.6, 0.1])
    query = np.linspace(0.1, 2.0, 8)
    ours = transfer.fit_gp(x, y, query)
    kernel = kernels.ConstantKernel(1.0, (1e-3, 1e3)) * kernels.RBF(1.0, (1e-2, 1e2))
    ref = gp_module.GaussianProcessRegressor(kernel, alpha=0.01, n_restarts_optimizer=9)
    mean, std = ref.fit(x[:, None], y).predict(query[:, None], return_std=True)
    np.testing.assert_allclose(ours.mean, mean, atol=2e-3)
    np.testing.assert_allclose(ours.std, std, atol=5e-3)  # float32, L-BFGS-B tolerances
    padded = transfer.fit_gp(x, y, np.linspace(0.1, 2.0, 20))
    np.testing.assert_allclose(padded.mean[::19], ours.mean[[0, -1]], atol=1e-4)


def test_acquisition_slopes_and_performance_by_hand():
    """Contexts 0, 1, 2. A candidate with predicted 0.9 at x=0 and slope 0.2, best so far
    (0.5, 0.6, 0.3): gains max(0.9 - 0 - 0.5, 0), max(0.9 - 0.2 - 0.6, 0), max(0.9 - 0.4 -
    0.3, 0) = 0.4, 0.1, 0.2: mean 0.7 / 3. A source row 1.0, 0.8, 0.6 has gap slope 0.2."""
    contexts = np.asarray([0.0, 1.0, 2.0])
    score = transfer.acquisition(
        np.asarray([0.9, 0.0, 0.0]),
        np.zeros(3),
        1.0,
        np.full(3, 0.2),
        contexts,
        np.asarray([0.5, 0.6, 0.3]),
    )
    assert score[0] == pytest.approx(0.7 / 3)
    matrix = np.asarray([[1.0, 0.8, 0.6], [0.5, 0.9, 0.5], [0.2, 0.4, 0.9]])
    np.testing.assert_allclose(transfer.estimated_slopes(matrix, contexts, [0]), [0.2] * 3)
    np.testing.assert_allclose(transfer.generalised_performance(matrix, [0, 1]), [0.8, 2.5 / 3])
    assert transfer.oracle_greedy(matrix, 2) == [0, 2]  # 0.8, then (1 + 0.8 + 0.9) / 3
    assert transfer.greedy_worst_target(matrix, contexts, 2) == [1, 0]  # middle, then worst
    assert transfer.equidistant(np.linspace(0, 1, 9), 2) == [6, 2]  # 0.75 and 0.25


def test_strategies_on_a_structured_matrix():
    """20 contexts with J(s -> t) = J(s -> s) - 0.8 |x_s - x_t| and a peaked diagonal: the
    oracle greedy's first source is the best single one (greedy is not optimal beyond), the
    nested strategies' curves never decrease, none exceeds the oracle bound, MBTL starts
    at the middle context and never repeats one. (Here MBTL ends below random: from 3
    points the GP fits a flat J(x -> x) at its length-scale bound, so it overrates the
    edges, where the true diagonal falls: a limit of the model, kept visible.)"""
    contexts = np.linspace(0.1, 2.0, 20)
    diagonal = 1.0 - 0.3 * (contexts - 1.0) ** 2
    matrix = np.maximum(diagonal[:, None] - 0.8 * np.abs(contexts[:, None] - contexts[None]), 0)
    curves = transfer.compare(matrix, contexts, 6, random_orders=20)
    oracle = curves.curves["oracle greedy"]
    for name, curve in curves.curves.items():
        if name != "equidistant":  # its k-source sets are not nested
            assert (np.diff(curve) >= -1e-9).all(), name
        assert curve[0] <= oracle[0] + 1e-9 and (curve <= curves.oracle_bound + 1e-9).all(), name
    sources = curves.sources["MBTL"]
    assert sources[0] == transfer.middle(contexts) and len(set(sources)) == 6


def test_source_task_is_a_traced_leaf_per_run():
    """Under vmap over hyperparameters each run proposes its own task on every env."""
    from envs.classic.task_space import ClassicConfig, ClassicTaskSpace
    from rljax.curricula import make_curriculum
    from rljax.curricula.source import SourceHParams, SourceTaskConfig

    space = ClassicTaskSpace(ClassicConfig(spread=0.0, ranges=(("length", 0.1, 2.0),)))
    curriculum = make_curriculum(SourceTaskConfig(), space, 3)
    tasks = jnp.stack([space.default.at[3].set(v) for v in (0.2, 1.0)])

    def propose(task):
        state = curriculum.init(jax.random.PRNGKey(0), task, SourceHParams(task))
        return curriculum.propose(state, jax.random.PRNGKey(1))[1]

    proposed = np.asarray(jax.vmap(propose)(tasks))
    assert proposed.shape == (2, 3, 5)
    np.testing.assert_allclose(proposed[:, :, 3], [[0.2] * 3, [1.0] * 3])
    with pytest.raises(Exception, match="task"):
        make_curriculum(SourceTaskConfig(task=(1.0,)), space, 3)


def test_mbtl_cli_writes_the_transfer_matrix_and_curves(tmp_path, capsys):
    """`experiments.mbtl` at a tiny budget: 4 contexts trained in one vmapped program (each
    on its own pole length) and evaluated on all 4; the run folder has the matrix, every
    strategy's curve and the pictures; bad input is one line."""
    from experiments import mbtl

    argv = ["--num-contexts", "4", "--budget", "2", "--learner.total-timesteps", "4096"]
    argv += ["--eval-episodes", "1", "--updates", "1", "--random-orders", "3"]
    argv += ["--out-dir", str(tmp_path), "--no-progress"]
    assert mbtl.main(argv) == 0
    (run_dir,) = tmp_path.iterdir()
    data = np.load(run_dir / "transfer.npz")
    assert (
        data["transfer"].shape == (4, 4)
        and ((data["transfer"] >= 0) & (data["transfer"] <= 1)).all()
    )
    np.testing.assert_allclose(data["contexts"], np.linspace(0.1, 2.0, 4), rtol=1e-6)
    summary = json.loads((run_dir / "mbtl.json").read_text())
    assert set(summary["curves"]) == {"MBTL", "greedy", "oracle greedy", "random", "equidistant"}
    assert summary["oracle_bound"] == pytest.approx(data["transfer"].max(axis=0).mean())
    for name in ("mbtl_curve.png", "transfer_matrix.png", "metrics.npz", "config.json"):
        assert (run_dir / name).exists(), name
    capsys.readouterr()
    assert mbtl.main(["--parameter", "lenght"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "parameter" in err[0] and "length" in err[0]
