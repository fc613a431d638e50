"""Will a batch of runs fit in memory? Checked by `rljax.run` before anything big is allocated
or run, so a run too large for its device stops with one line naming the sizes and what to
shrink, instead of XLA's RESOURCE_EXHAUSTED minutes later.

Two checks, both exact sizes rather than guesses:

- before `init` runs: the training state's bytes, from `jax.eval_shape` (a trace, no
  compilation, nothing allocated);
- after the chunk program compiles and before it runs: the working memory XLA's buffer
  assignment gives it (`Compiled.memory_analysis()`: its outputs and temporaries: rollouts,
  activations, minibatches, gradients), beside the state that already exists. For a batch
  sharded over several devices XLA reports one device's share, counted once per device
  (`rljax.training.run` places `init`'s and every chunk's outputs like the runs, so that
  ahead-of-time program takes every chunk). If XLA still runs out of memory, the message is
  the one line of `rljax.experiment.out_of_memory`.

Free memory is `memory_stats()` on an accelerator, and on the CPU the host's available
memory (`MemAvailable`, bounded by the cgroup limit where one is set); the CPU "devices" of a
multi-device CPU run all draw on it. Where free memory cannot be read, nothing is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax

from rljax.config import ConfigError

GIB = 2**30

SHRINK = (
    "Fix: make one update smaller (--num-envs, --num-steps, more --num-minibatches), the "
    "network or replay buffer smaller (--hidden-sizes, --buffer-size), or train fewer seeds "
    "at once (--seeds)."
)


SHRINK_ES = (
    "Fix: train fewer members at once (--es.pop-batch-size), fewer seeds or tasks per "
    "generation (--es.num-seeds, --tasks-per-generation), or make each inner run smaller "
    "(its config's num_envs, num_steps, more num_minibatches, hidden_sizes)."
)

SHRINK_WEIGHTS = (
    "Fix: a smaller population (--search.population-size; with es, "
    "--search.es.population-size) or fewer episodes per member (--search.policy.episodes)."
)

SHRINK_META_GRADIENT = (
    "Fix: fewer agents (--meta.num-agents), a shorter unroll (--meta.unroll), or smaller "
    "agent updates (--agent.num-envs, --agent.num-steps)."
)


WORKING_MEMORY = "rollouts, activations, minibatches"
"""What a training program's working memory goes to, as the refusal names it."""


class InsufficientMemory(ConfigError):
    """A batch of runs needs more memory than its devices have free."""


def tree_bytes(tree: Any) -> int:
    """Bytes of every array leaf of `tree` (arrays or `jax.ShapeDtypeStruct`s)."""
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def sharding_of(tree: Any) -> Any:
    """The sharding of `tree`'s first leaf; None if it has no placement yet."""
    return getattr(next(iter(jax.tree.leaves(tree)), None), "sharding", None)


def devices_of(tree: Any) -> list[jax.Device]:
    """The devices the first leaf of `tree` is placed on (the default device if it has no
    placement yet)."""
    sharding = sharding_of(tree)
    return sorted(sharding.device_set, key=lambda d: d.id) if sharding else jax.devices()[:1]


def _host_available_bytes() -> int | None:
    """`MemAvailable` of /proc/meminfo, capped by the cgroup's memory limit; None if neither
    can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def free_bytes(devices: list[jax.Device]) -> int | None:
    """Memory the program can still take on `devices`, all together: the host's available
    memory for CPU devices (they share it), the sum of each accelerator's free memory
    otherwise; None where it cannot be read."""
    if all(d.platform == "cpu" for d in devices):
        return _host_available_bytes()
    total = 0
    for device in devices:
        stats = device.memory_stats() or {}
        if "bytes_limit" not in stats:
            return None
        total += int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return total


def _refuse(
    what: str, need: int, free: int, devices: list[jax.Device], fix: str = SHRINK
) -> InsufficientMemory:
    where = f"{len(devices)} {devices[0].platform} device{'s' if len(devices) > 1 else ''}"
    return InsufficientMemory(
        f"this run needs {need / GIB:.1f} GiB ({what}), more than the "
        f"{free / GIB:.1f} GiB free on {where}. {fix}"
    )


def check_state_fits(abstract_state: Any, devices: list[jax.Device]) -> None:
    """Refuse a training state (shapes from `jax.eval_shape`) larger than the free memory."""
    need, free = tree_bytes(abstract_state), free_bytes(devices)
    if free is not None and need > free:
        raise _refuse("the training state alone", need, free, devices)


def check_program_fits(
    compiled: Any,
    given_bytes: int,
    devices: list[jax.Device],
    what: str = "one chunk of updates",
    fix: str = SHRINK,
    holds: str = WORKING_MEMORY,
) -> None:
    """Refuse a compiled program whose outputs and temporaries (per device, times the devices
    it runs on) exceed the free memory left beside its inputs (`given_bytes`, allocated:
    the training state, a population).
    `what` names the program, `holds` what its memory goes to, `fix` what to shrink."""
    stats = compiled.memory_analysis()
    if stats is None:
        return
    per_device = stats.output_size_in_bytes - stats.alias_size_in_bytes + stats.temp_size_in_bytes
    need, free = per_device * len(devices), free_bytes(devices)
    if free is not None and need > free:
        detail = (
            f"{need / GIB:.1f} GiB of working memory for {what}: {holds}; beside the "
            f"{given_bytes / GIB:.1f} GiB it is given"
        )
        raise _refuse(detail, need, free, devices, fix)


class CheckedProgram:
    """A `jax.jit` function whose first call is compiled ahead of running it, refused by
    `check_program_fits` if its working memory does not fit, then run. Its later calls are
    the jitted function's (whose cache holds that compiled program: nothing compiles twice);
    every other attribute (`lower`, `_cache_size`) is the jitted function's. The outer loops
    (ES, neuroevolution, LPG's meta-gradient) wrap their generation programs in it, as
    `rljax.run` checks its chunk program."""

    def __init__(self, jitted: Any, what: str, fix: str, holds: str = WORKING_MEMORY):
        self.jitted, self.what, self.fix, self.holds = jitted, what, fix, holds
        self.checked = False

    def __call__(self, *args: Any) -> Any:
        if not self.checked:
            arrays = [x for x in jax.tree.leaves(args) if hasattr(x, "dtype")]
            devices = devices_of(arrays)
            compiled = self.jitted.lower(*args).compile()
            check_program_fits(
                compiled, tree_bytes(arrays), devices, self.what, self.fix, self.holds
            )
            self.checked = True
        return self.jitted(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jitted, name)
