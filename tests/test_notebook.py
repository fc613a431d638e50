"""The quickstart notebook runs top to bottom at a small budget, and the values it computes
(not only what it prints) are those of a run that learned: a probe cell appended to the
executed notebook reports the kernel's variables as JSON."""

import json
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"
TIMESTEPS = 40_960
"""80 updates of 512 steps: 8 seeds evaluated at 342-437 (mean 399) when measured; random
play scores ~22."""

PROBE = """
import json
print("PROBE" + json.dumps({
    "returns_shape": list(returns.shape),
    "per_seed": per_seed.tolist(),
    "curve": [mean.tolist(), low.tolist(), high.tolist()],
    "plotted": np.asarray(ax.lines[0].get_ydata()).tolist(),
    "labels": [ax.get_xlabel(), ax.get_ylabel()],
    "steps": steps.tolist(),
}))
"""


def run_notebook(path: Path, probe_code: str) -> tuple[list, str, dict]:
    """Execute the notebook at `path` with `probe_code` appended as a last cell that prints
    `PROBE{json}`: its code cells' outputs, their text, and the probe's values."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(probe_code))
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    text = "".join(out.get("text", "") for out in outputs)
    (line,) = [line for line in text.splitlines() if line.startswith("PROBE")]
    return outputs, text, json.loads(line.removeprefix("PROBE"))


def test_quickstart_notebook_learns_and_plots_what_it_computed(monkeypatch):
    monkeypatch.setenv("RLJAX_QUICKSTART_TIMESTEPS", str(TIMESTEPS))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    outputs, text, probe = run_notebook(NOTEBOOK, PROBE)
    assert "refused: PPOConfig.learning_rate=-1.0" in text  # validation before compiling
    assert any("image/png" in out.get("data", {}) for out in outputs)

    assert probe["returns_shape"] == [8, 80]  # [seeds, updates]
    per_seed = np.asarray(probe["per_seed"])
    assert per_seed.mean() > 250 and per_seed.min() > 100, per_seed  # random play: ~22
    mean, low, high = map(np.asarray, probe["curve"])
    assert np.all(low <= mean) and np.all(mean <= high) and mean[-10:].mean() > mean[:10].mean()
    np.testing.assert_array_equal(probe["plotted"], mean)
    assert probe["steps"][-1] == TIMESTEPS
    assert probe["labels"] == ["environment steps per seed", "episode return"]


SWEEPS = Path(__file__).parent.parent / "notebooks" / "sweeps.ipynb"
SWEEP_PROBE = """
import json
print("PROBE" + json.dumps({
    "groups": {k: list(v) for k, v in spec.groups().items()},
    "final_iqm": final_iqm,
    "curves": {k: v.tolist() for k, v in curves.items()},
    "plotted": [np.asarray(line.get_ydata()).tolist() for line in ax.lines],
    "best": best,
}))
"""


def test_sweeps_notebook_ranks_learning_rates_by_iqm(monkeypatch):
    """`notebooks/sweeps.ipynb` at 40,960 steps: 12 runs in one program, static fields refused,
    the IQM curves plotted are the ones computed, and the ranking is what PPO on CartPole
    gives. Measured: final IQM 96.8 (lr 1e-5), 387.4 (2.5e-4), 496.4 (2.5e-3); random
    play ~22."""
    monkeypatch.setenv("RLJAX_NOTEBOOK_TIMESTEPS", str(TIMESTEPS))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    outputs, text, probe = run_notebook(SWEEPS, SWEEP_PROBE)
    assert "12 runs:" in text and "refused: num_envs" in text.replace(
        "refused: PPOConfig.", "refused: "
    )
    assert any("image/png" in out.get("data", {}) for out in outputs)
    labels = list(probe["groups"])
    assert probe["groups"][labels[0]] == [0, 1, 2, 3]
    np.testing.assert_allclose(probe["plotted"], list(probe["curves"].values()))
    slow, default, fast = (probe["final_iqm"][label] for label in labels)
    assert default > 250 and fast > 250 and slow < default / 2, probe["final_iqm"]
    assert probe["best"] != labels[0]


TEACHERS = Path(__file__).parent.parent / "notebooks" / "teachers.ipynb"
TEACHER_PROBE = """
import json
print("PROBE" + json.dumps({
    "final": {name: share[:, -1].tolist() for name, share in mastered.items()},
    "plotted": [np.asarray(line.get_ydata()).tolist() for line in curve_ax.lines],
    "distance": distance,
    "tasks": int(tasks.shape[0]),
}))
"""


def test_teachers_notebook_shows_alp_gmm_finding_the_frontier(monkeypatch):
    """`notebooks/teachers.ipynb` at 8,000 episodes: ALP-GMM masters more than 3x the cells
    uniform sampling does (measured 10% and 11% against 1%), its proposals move away from the
    corner as the student learns (mean distance 0.30 in the first quarter, 0.42 in the
    last), and the curves plotted are the shares computed."""
    monkeypatch.setenv("RLJAX_NOTEBOOK_EPISODES", "8000")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    outputs, text, probe = run_notebook(TEACHERS, TEACHER_PROBE)
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 2
    uniform, alp_gmm = np.mean(probe["final"]["uniform"]), np.mean(probe["final"]["ALP-GMM"])
    assert alp_gmm > 3 * uniform and alp_gmm > 4, probe["final"]
    assert probe["tasks"] == 8000
    assert probe["distance"][-1] > probe["distance"][0] + 0.05, probe["distance"]
    # The curves: mean of uniform, its 2 seeds, mean of ALP-GMM, its 2 seeds.
    assert np.isclose(probe["plotted"][3][-1], alp_gmm)


META = Path(__file__).parent.parent / "notebooks" / "meta_learning.ipynb"
META_PROBE = """
import json
print("PROBE" + json.dumps({
    "epsilons": epsilons,
    "fitness": [m.fitness_mean for m in history],
    "initial": initial.tolist(),
    "evolved": evolved.tolist(),
    "panels": [label for label, _ in panels],
}))
"""


def test_meta_learning_notebook_evolves_a_clip_that_trains_better(monkeypatch):
    """`notebooks/meta_learning.ipynb` at 5 generations: ES raises PPO's clip epsilon from
    0.005 (measured 0.007, 0.011, 0.017, 0.025, 0.037), the population's fitness rises, and
    PPO with the evolved epsilon beats the initial one on seeds evolution never used
    (measured mean 279 against 173 over 4 seeds; 327 after 6 generations)."""
    monkeypatch.setenv("RLJAX_NOTEBOOK_GENERATIONS", "5")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    outputs, text, probe = run_notebook(META, META_PROBE)
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 2
    epsilons = np.asarray(probe["epsilons"])
    assert len(epsilons) == 5 and epsilons[-1] > 0.03 and (np.diff(epsilons) > 0).sum() >= 3
    assert probe["fitness"][-1] > probe["fitness"][0], probe["fitness"]
    assert np.mean(probe["evolved"]) > np.mean(probe["initial"]) + 50, probe
    assert probe["panels"][0] == "eps = 0.005"


ENVIRONMENTS = Path(__file__).parent.parent / "notebooks" / "environments.ipynb"
ENV_PROBE = """
import json
print("PROBE" + json.dumps({
    "ends": ends,
    "final": final.tolist(),
    "plotted": plotted.tolist(),
    "curve": curve.mean(axis=0).tolist(),
}))
"""


def test_environments_notebook_runs_gymnax_and_xminigrid_through_one_interface(monkeypatch):
    """`notebooks/environments.ipynb` at 16,384 steps per seed: random play ends CartPole by
    termination only and the grid by both kinds of end, the final observation kept apart at
    every end; PPO learns the grid (measured 0.955 on all 4 seeds at 32k steps; random
    actions 0.28)."""
    monkeypatch.setenv("RLJAX_NOTEBOOK_TIMESTEPS", "16384")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    outputs, text, probe = run_notebook(ENVIRONMENTS, ENV_PROBE)
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 2
    assert "torso grid_cnn" in text and "CartPole-v1 torso: mlp" in text
    cartpole, grid = probe["ends"]["CartPole-v1"], probe["ends"]["xminigrid/MiniGrid-Empty-5x5"]
    assert cartpole["terminated"] > 0 and cartpole["truncated"] == 0, cartpole
    assert grid["terminated"] > 0 and grid["truncated"] > 0, grid
    # (A grid episode may end where the next starts, corner and heading alike: rarely.)
    assert cartpole["final_obs_differs_at_ends"] == 1.0 and grid["final_obs_differs_at_ends"] > 0.9
    np.testing.assert_array_equal(probe["plotted"], probe["curve"])
    final = np.asarray(probe["final"])
    assert final.min() > 0.8 and final.min() > 2 * grid["random_return"], final


CURRICULA = Path(__file__).parent.parent / "notebooks" / "curricula.ipynb"
CURRICULA_PROBE = """
import json
print("PROBE" + json.dumps({
    "before": before.tolist(),
    "curve": curve.tolist(),
    "lengths": lengths.tolist(),
    "filled": filled.tolist(),
    "replay": replay.tolist(),
    "new": new.tolist(),
    "kinds": kinds,
    "top_scores": [float(s) for s in top_scores],
    "num_top": int(jax.tree.leaves(top)[0].shape[0]),
    "maze_solve": solve.tolist(),
    "maze_names": list(accel.eval_names),
}))
"""


def test_curricula_notebook_plr_learns_held_out_pole_lengths_and_shows_accels_buffer(
    monkeypatch,
):
    """`notebooks/curricula.ipynb` as it is (48 updates, 98,304 env steps per seed): PLR over
    CartPole's pole length takes 3 seeds from solving none of the 14 held-out tasks to more
    than half (measured over the last 8 evaluations, per seed: 1.0, 0.58, 0.75; asserted as
    tests/test_ued.py's slow twin: mean > 0.4, each > 0.25); its buffer holds lengths across
    the box; ACCEL's maze buffer shows its 8 best levels, best first, after new, replay and
    edit steps all ran."""
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    outputs, _, probe = run_notebook(CURRICULA, CURRICULA_PROBE)
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 4
    assert np.asarray(probe["before"]).max() == 0.0
    trained = np.asarray(probe["curve"])[:, -8:].mean(axis=1)
    assert trained.mean() > 0.4 and trained.min() > 0.25, trained
    lengths, filled = np.asarray(probe["lengths"]), np.asarray(probe["filled"], bool)
    assert (filled.sum(axis=1) >= 8).all()
    assert all(np.ptp(row[mask]) > 0.2 for row, mask in zip(lengths, filled, strict=True))
    assert ((lengths[filled] >= 0.3) & (lengths[filled] <= 0.9)).all()
    assert min(probe["replay"]) > 0 and min(probe["new"]) > 0
    assert min(probe["kinds"].values()) > 0, probe["kinds"]
    scores = probe["top_scores"]
    assert len(scores) == probe["num_top"] == 8 and scores == sorted(scores, reverse=True)
    assert len(probe["maze_solve"]) == len(probe["maze_names"]) == 8
    assert all(0.0 <= s <= 1.0 for s in probe["maze_solve"])
