"""`rljax.experiment.frozen_heap`: the command lines run (trace, lower, compile, train) with
the objects that existed before them frozen out of Python's cyclic collector, and hand them
back afterwards."""

import dataclasses
import gc

from rljax import experiment


def test_frozen_heap_freezes_what_exists_and_hands_it_back():
    before = gc.get_freeze_count()
    with experiment.frozen_heap():
        assert gc.get_freeze_count() > before + 1000
    assert gc.get_freeze_count() == before


def test_experiment_and_subcommand_lines_run_inside_it(monkeypatch):
    before = gc.get_freeze_count()
    frozen = []

    def fake_run_experiment(name, algo, config, args, on_checkpoint=None):
        frozen.append(gc.get_freeze_count())
        return None, None

    monkeypatch.setattr(experiment, "run_experiment", fake_run_experiment)
    from experiments import ppo

    assert ppo.main(["--total-timesteps", "2048", "--num-envs", "4"]) == 0

    @dataclasses.dataclass(frozen=True)
    class Args:
        value: int = 1

        def validate(self) -> None:
            pass

    run = lambda args: frozen.append(gc.get_freeze_count())
    assert experiment.subcommand_main({"go": Args}, ["go"], run) == 0
    assert len(frozen) == 2 and all(count > before + 1000 for count in frozen)
    assert gc.get_freeze_count() == before
