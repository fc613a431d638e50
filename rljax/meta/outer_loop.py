"""The outer-loop interface: what optimises meta-parameters over inner training runs.

An outer loop is a small static object (its config, the meta-parameterisation, the learner,
the tasks) with a pure step over a typed state:

    init() -> state                       the meta-parameters' start and the optimiser state;
                                          `state.generation` counts the steps taken (a static
                                          int, so it never enters a traced program)
    generation_key(generation) -> key     the key of step `generation`, a function of the
                                          config's seed and the step alone, so a resumed run
                                          continues exactly as an uninterrupted one
    step(state, key) -> (state, metrics)  one outer step: draw tasks (as data, from `key`,
                                          inside the compiled program), run the inner
                                          learners, update the meta-parameters

and the host side it shares with every other loop:

    run(state, num_generations, progress, on_generation, checkpointer) -> state
    fingerprint() -> dict, save(checkpointer, state), restore(checkpointer) -> state | None

`run_outer_loop` is that host driver, written once: it calls `step` with `generation_key`
until `num_generations`, checkpoints after every step and shows a progress bar.

Two implementations are meant to fit, sharing the inner-run pieces (`rljax.meta.inner`: the
learner interface of `rljax.learner`, a task space, `MetaParameterisation.apply` placing the
meta-parameters into the learner's traced hyperparameters):

* Evolution strategies (`rljax.meta.es.MetaTrainer`): the state is evosax's state; `step`
  asks a population, trains every member from scratch on the generation's tasks with common
  random numbers (`vmap` over members of `vmap` over tasks and seeds), and tells the fitness.
  Nothing is differentiated, so whole lifetimes are scored.

* Meta-gradients (LPG, Oh et al. 2020; a K-step truncated meta-gradient): the state holds the
  meta-parameters, their optax state and a batch of live learner states (one per agent of the
  population, each with its task and its lifetime counter). `step(state, key)` would
  (1) reset the agents whose lifetime ended onto new tasks drawn from `key`
  (`vmap(task_space.sample)`, `learner.init_learner`, `learner.start(..., reset=lambda k:
  rljax.task_space.reset_to_tasks(space, tasks, k))`);
  (2) define `inner(meta_params, learner_state) = scan of K updates`
  `learn(*collect(s, env_batch, env_params))` with `hparams = meta.apply(base, meta_params)`
  placed in the state first, then a meta-objective of the updated learner (e.g. the policy-
  gradient loss of a fresh rollout with a trained critic's advantages, plus regularisers);
  (3) take `jax.grad` of its mean over agents with respect to `meta_params` (through the K
  unrolled inner updates; `jax.checkpoint` around each update to bound memory), apply the
  optax update to the meta-parameters, and keep the agents' states after their K updates (a
  stop-gradient: the next step continues their lifetimes).
  It uses the same `MetaParameterisation`, task space and learner interface as ES; only the
  optimiser of the meta-parameters differs, so it is a new class next to `es.py` and
  `es.py` is untouched. Its state has a `generation` counter like ES's, so `run_outer_loop`
  drives it as it drives ES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class OuterLoop(Protocol):
    """See the module docstring. `num_generations` is the config's default length of `run`."""

    num_generations: int

    def init(self) -> Any: ...

    def generation_key(self, generation: int) -> Any: ...

    def step(self, state: Any, key: Any) -> tuple[Any, Any]: ...

    def run(
        self,
        state: Any,
        num_generations: int | None = None,
        progress: bool = True,
        on_generation: Callable[[Any, Any], None] | None = None,
        checkpointer: Any = None,
    ) -> Any: ...

    def fingerprint(self) -> dict: ...

    def save(self, checkpointer: Any, state: Any) -> None: ...

    def restore(self, checkpointer: Any) -> Any: ...


def run_outer_loop(
    loop: OuterLoop,
    state: Any,
    num_generations: int | None = None,
    progress: bool = True,
    on_generation: Callable[[Any, Any], None] | None = None,
    checkpointer: Any = None,
    describe: Callable[[Any], str] | None = None,
    desc: str = "meta-train",
) -> Any:
    """Steps of `loop` from `state.generation` up to `num_generations` (the loop's by
    default), each with `loop.generation_key(generation)`; after every step
    `on_generation(state, metrics)` is called, then `state` is checkpointed if a checkpointer
    is given. With
    `progress`, a bar shows `describe(metrics)` after each step."""
    total = loop.num_generations if num_generations is None else num_generations
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=state.generation, desc=desc, unit="gen", dynamic_ncols=True)
    while state.generation < total:
        state, metrics = loop.step(state, loop.generation_key(state.generation))
        # The host's records first, then the checkpoint: a run killed between the two
        # repeats this generation on resume (its records are rewritten), and one killed after
        # both has lost nothing.
        if on_generation is not None:
            on_generation(state, metrics)
        if checkpointer is not None:
            loop.save(checkpointer, state)
        if bar is not None:
            bar.update(1)
            if describe is not None:
                bar.set_postfix_str(describe(metrics))
    if bar is not None:
        bar.close()
    return state


__all__ = ["OuterLoop", "run_outer_loop"]
