"""The loops at scale: a 4-seed UED run (`experiments.ued`) and an 8-member ES generation
(`experiments.lpo meta-train` over tasks drawn each generation) split over 8 forced CPU
devices equal the same runs on one device, and both resume after SIGKILL following their
first checkpoint (compared with the uninterrupted one-device run: ES bitwise, UED to the last
bit of floats). Each run is a subprocess (the device count is fixed at start)."""

import json

import numpy as np
import pytest
from test_checkpoint import _finish, _kill_after_first_checkpoint, _launch

from rljax.results import load_metrics

# tests/test_ued.py's TINY, through the command line: 3 updates of 2 curriculum steps.
UED_ARGS = [
    *("--seeds", "4", "--chunk-size", "1", "--checkpoint-every", "1", "--keep-checkpoints", "2"),
    *("--no-progress", "--steps-per-eval", "2"),
    *("curriculum:robust_plr", "--curriculum.capacity", "4", "--curriculum.min-fill-ratio", "0.5"),
    *("learner:recurrent", "--learner.num-envs", "2", "--learner.num-steps", "256"),
    *("--learner.total-timesteps", str(2 * 256 * 2 * 3), "--learner.hidden-sizes", "8"),
    *("--learner.gru-size", "8", "--learner.update-epochs", "1"),
    *("--learner.num-eval-episodes", "1"),
]


def test_ued_seeds_split_over_8_devices_equal_one_device_and_resume_bitwise(tmp_path):
    """The run killed on the mesh and resumed there, against the uninterrupted run on one
    device. (A third, uninterrupted mesh run would make the resume check bitwise; it cost a
    fourth process, ~40 s: the bitwise resume of the same CLI on one device is
    tests/test_ued.py's CLI test, and a wrong restore on the mesh moves the metrics far more
    than the last-bit tolerance below.)"""
    cache = tmp_path / "cache"
    killed = _launch("ued", ["--out-dir", str(tmp_path / "killed"), *UED_ARGS], cache, 8)
    killed_dir = _kill_after_first_checkpoint(killed, tmp_path / "killed")
    done = sorted(int(p.name) for p in (killed_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert done and done[-1] < 3 and not (killed_dir / "eval.json").exists(), done

    resumed = _launch("ued", ["--resume", str(killed_dir)], cache, 8)
    single = _launch("ued", ["--out-dir", str(tmp_path / "single"), *UED_ARGS], cache, 1)
    out = _finish(resumed)
    assert "resuming" in out and "over 4 seeds on 4 devices" in out  # 4 of the 8 devices
    assert "over 4 seeds (" in _finish(single)
    (single_dir,) = (tmp_path / "single").iterdir()

    reference = load_metrics(single_dir)
    assert reference["heldout_solve_rate"].shape == (4, 3)
    resumed_metrics = load_metrics(killed_dir)
    for name, a in reference.items():
        # One device computes the 4 seeds as one batch, the mesh one seed per device: XLA:CPU
        # vectorises some reductions by batch size, so the last bit may differ (as in the
        # vmap-equals-separate-runs contract); everything discrete is equal.
        np.testing.assert_allclose(
            resumed_metrics[name], a, rtol=1e-5, atol=1e-6, err_msg=f"resumed: {name}"
        )
    for name in ("heldout_solve_rate", "grad_updates", "new_steps", "replay_steps"):
        np.testing.assert_array_equal(resumed_metrics[name], reference[name], err_msg=name)
    assert (
        json.loads((killed_dir / "eval.json").read_text())["mean_solve_rate"]
        == (json.loads((single_dir / "eval.json").read_text())["mean_solve_rate"])
    )


# tests/test_outer_loop.py's setup through the command line: ES from eps 0.005, 8 members,
# 2 pole lengths in [0.4, 0.6] drawn per generation, 3 generations.
ES_ARGS = [
    "meta-train",
    *("--drift", "ppo_clip", "--no-progress"),
    *("--tasks-per-generation", "2", "--task-space.env", "CartPole-v1"),
    *("--task-space.spread", "0", "--task-space.ranges", "length", "0.4", "0.6"),
    *("--es.population-size", "8", "--es.pop-batch-size", "0", "--es.num-seeds", "1"),
    *("--es.num-generations", "3", "--es.sigma-init", "0.5", "--es.learning-rate", "0.4"),
    *("--ppo.total-timesteps", str(4 * 16 * 8), "--ppo.num-envs", "4", "--ppo.num-steps", "16"),
    *("--ppo.num-minibatches", "2", "--ppo.update-epochs", "2", "--ppo.hidden-sizes", "16", "16"),
    *("--ppo.num-eval-episodes", "2", "--ppo.learning-rate", "0.01"),
]


def _generations(run_dir):
    """generations.jsonl without its timings."""
    lines = [json.loads(x) for x in (run_dir / "generations.jsonl").read_text().splitlines()]
    timings = ("seconds", "env_steps_per_second")
    return [{k: v for k, v in x.items() if k not in timings} for x in lines]


def test_es_population_split_over_8_devices_equals_one_device_and_resumes_bitwise(tmp_path):
    """The run killed on the mesh and resumed there, against the uninterrupted run on one
    device: the same generation records and mean meta-parameters, bitwise. (An uninterrupted
    mesh run, a fourth process, would only repeat both checks: ES fitness is compared after
    ranking, so the mesh and one device agree bitwise.)"""
    cache = tmp_path / "cache"
    killed = _launch("lpo", [*ES_ARGS, "--out-dir", str(tmp_path / "killed")], cache, 8)
    killed_dir = _kill_after_first_checkpoint(killed, tmp_path / "killed")
    done = sorted(int(p.name) for p in (killed_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert done and done[-1] < 3, done

    resumed = _launch("lpo", [*ES_ARGS, "--resume", str(killed_dir)], cache, 8)
    single = _launch("lpo", [*ES_ARGS, "--out-dir", str(tmp_path / "single")], cache, 1)
    out = _finish(resumed)
    assert "resumed at generation" in out and "population 8 x 1 seeds on 8 devices" in out
    assert "population 8 x 1 seeds, " in _finish(single)
    (single_dir,) = (tmp_path / "single").iterdir()

    reference = _generations(single_dir)
    assert [g["generation"] for g in reference] == [0, 1, 2]
    lengths = np.array([g["tasks"] for g in reference])[..., 3]  # [generations, tasks]
    assert np.all((lengths >= 0.4) & (lengths <= 0.6)) and len(np.unique(lengths)) == 6
    assert all(g["fitness_max"] > g["fitness_min"] for g in reference)  # the members differ
    assert _generations(killed_dir) == reference
    a = np.load(killed_dir / "meta_params_mean.npz")
    b = np.load(single_dir / "meta_params_mean.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in b.files:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# tests/test_neuroevolution.py's CLI search: a GA of 16 members, 3 generations.
GA_ARGS = [
    *("ga", "--no-progress", "--search.policy.hidden-sizes", "8"),
    *("--search.policy.max-steps", "100", "--search.population-size", "16"),
    *("--search.truncation", "4", "--search.elite-candidates", "3"),
    *("--search.elite-episodes", "2", "--search.num-generations", "3"),
]


def test_ga_population_split_over_8_devices_equals_one_device(tmp_path):
    """The GA's members split over 8 devices (2 each) choose the same parents and elite as on
    one device: the same records and the same deployed weights."""
    cache = tmp_path / "cache"
    split = _launch("neuroevolution", [*GA_ARGS, "--out-dir", str(tmp_path / "split")], cache, 8)
    single = _launch("neuroevolution", [*GA_ARGS, "--out-dir", str(tmp_path / "one")], cache, 1)
    assert "population 16 on 8 devices" in _finish(split)
    assert "devices" not in _finish(single)
    (split_dir,) = (tmp_path / "split").iterdir()
    (single_dir,) = (tmp_path / "one").iterdir()
    assert _generations(split_dir) == _generations(single_dir)
    # The same parents and elite; its weights (|w| ~ 0.01) computed on another device differ
    # in the last bits: up to 7.5e-8 measured (at the suite's optimisation level, conftest).
    np.testing.assert_allclose(
        np.load(split_dir / "policy.npz")["weights"],
        np.load(single_dir / "policy.npz")["weights"],
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.slow
def test_lpg_meta_gradient_agents_split_over_2_devices_equal_one_device(tmp_path):
    """`experiments.lpg meta-train` with its 2 agents on 2 forced CPU devices (one agent each)
    against one device: the same meta-losses and rule, to the last bits of floats. Slow: two
    cold subprocesses compiling the meta-step and the evaluators (8 min on a loaded 2-core
    machine); the in-process tests of the loop are tests/test_meta_gradient.py."""
    from test_meta_gradient import TINY_CLI

    cache = tmp_path / "cache"
    args = ["meta-train", *TINY_CLI, "--agent.rule.hidden-size", "8"]
    args += ["--meta.num-meta-steps", "2", "--eval-every", "0"]
    runs = {
        devices: _launch("lpg", [*args, "--out-dir", str(tmp_path / str(devices))], cache, devices)
        for devices in (2, 1)
    }
    outputs = {devices: _finish(proc) for devices, proc in runs.items()}
    assert "2 agents on 2 devices" in outputs[2] and "2 agents," in outputs[1]
    lines, rules = {}, {}
    for devices in (1, 2):
        (run_dir,) = (tmp_path / str(devices)).glob("lpg-meta-train-*")
        lines[devices] = [
            json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()
        ]
        with np.load(run_dir / "rule_params.npz") as data:
            rules[devices] = {k: data[k] for k in data.files}
    assert [line["generation"] for line in lines[2]] == [1, 2]
    for a, b in zip(lines[1], lines[2], strict=True):
        np.testing.assert_allclose(a["meta_loss"], b["meta_loss"], rtol=1e-5, atol=1e-6)
    for name, leaf in rules[1].items():
        np.testing.assert_allclose(rules[2][name], leaf, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_talpg_population_split_over_2_devices_equals_one_device(tmp_path):
    """`experiments.lpg meta-train --method talpg`: 4 ES members (2 antithetic pairs, one
    level and lifetime each) on 2 forced CPU devices against one device: the same fitness
    and evolved rule, bitwise (each member's run is computed whole on one device)."""
    cache = tmp_path / "cache"
    args = [
        "meta-train", "--method", "talpg", "--es.population-size", "4", "--lifetimes", "1", "4",
        "--agent.num-envs", "2", "--agent.num-steps", "5", "--agent.total-timesteps", "20",
        "--agent.rule.hidden-size", "16", "--es.num-generations", "2", "--eval-every", "0",
        "--eval-seeds", "1", "--task-space.num-heldout-sampled", "2", "--no-progress",
    ]  # fmt: skip
    runs = {
        devices: _launch("lpg", [*args, "--out-dir", str(tmp_path / str(devices))], cache, devices)
        for devices in (2, 1)
    }
    outputs = {devices: _finish(proc) for devices, proc in runs.items()}
    assert "population 4 on 2 devices" in outputs[2] and "population 4 in" in outputs[1]
    lines, rules = {}, {}
    for devices in (1, 2):
        (run_dir,) = (tmp_path / str(devices)).glob("lpg-meta-train-*")
        lines[devices] = [
            json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()
        ]
        with np.load(run_dir / "rule_params.npz") as data:
            rules[devices] = {k: data[k] for k in data.files}
    assert [line["fitness_mean"] for line in lines[2]] == [
        line["fitness_mean"] for line in lines[1]
    ]
    for name, leaf in rules[1].items():
        np.testing.assert_array_equal(rules[2][name], leaf, err_msg=name)
