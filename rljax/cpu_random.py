"""Random bits on XLA:CPU: JAX's unrolled threefry instead of its rolled loop.

Every `jax.random` call (a key split, a uniform draw, a categorical sample) is the
`threefry2x32` primitive. JAX lowers it in one of two equivalent ways: five rounds of the
Threefry-2x32 block cipher written out (its GPU and default lowering), or the same rounds
as a `while` loop (its CPU lowering). Both compute the same bits. On XLA:CPU (jax 0.10) the
loop is the slow choice on both counts that matter here: a `while` loop is a separate XLA
computation that nothing fuses across, so every random call in a rollout step costs a loop's
dispatch, and each loop adds compile time. Measured on the project's 2-core machine
(`benchmarks/RESULTS.md`, "Random bits on XLA:CPU"): a vmapped scan of key splits and
samples ran 4.7x faster and compiled 3.5x faster unrolled; PPO's `init` compiled in 1.9 s
instead of 3.6 s, and its default chunk in 3.5 s instead of 4.9 s, with the trained state
bitwise the same.

Importing rljax runs `install()`, which registers, for the CPU platform only, a lowering
rule that picks the unrolled form unless the context says otherwise:

- `RLJAX_ROLLED_THREEFRY=1` in the environment keeps JAX's own CPU lowering (nothing is
  registered);
- `with jax_default_lowering(): jax.jit(f).lower(...)` lowers `f` with JAX's rolled loop
  (how `benchmarks/peers.py` gives a peer library JAX's default when it compares the two as
  their users get them).

The rule affects lowering only, so a program compiled under one choice keeps it: jit's
in-memory cache does not key on it. The persistent compilation cache keys on the lowered
program, so the two choices never share an entry. GPU and TPU lowerings are not touched.
Uses JAX's private lowering functions (`jax._src.random.threefry2x32`, stable within the
pinned jax 0.10 series); if they move, `install` does nothing and `enabled()` says so.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

_UNROLL = contextvars.ContextVar("rljax_unrolled_threefry", default=True)
_installed = False


def install() -> bool:
    """Register the CPU rule (once per process); False where it could not be (or is opted
    out of with `RLJAX_ROLLED_THREEFRY=1`)."""
    global _installed
    if _installed:
        return True
    if os.environ.get("RLJAX_ROLLED_THREEFRY", "") not in ("", "0"):
        return False
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry
    except ImportError:
        return False
    unrolled = getattr(threefry, "_threefry2x32_lowering_rule", None)
    rolled = getattr(threefry, "_threefry2x32_cpu_lowering_rule", None)
    primitive = getattr(threefry, "threefry2x32_p", None)
    if unrolled is None or rolled is None or primitive is None:
        return False

    def rule(ctx, *args, **params):
        return (unrolled if _UNROLL.get() else rolled)(ctx, *args, **params)

    # `inline=False`: the unrolled rounds become one private function per call signature in
    # the lowered module (as on GPU), not a copy per call site.
    mlir.register_lowering(primitive, rule, platform="cpu", inline=False)
    _installed = True
    return True


def enabled() -> bool:
    """Whether programs lowered here and now get the unrolled threefry."""
    return _installed and _UNROLL.get()


@contextlib.contextmanager
def jax_default_lowering() -> Iterator[None]:
    """Lower (and so compile) inside this block with JAX's own rolled CPU loop."""
    token = _UNROLL.set(False)
    try:
        yield
    finally:
        _UNROLL.reset(token)


install()  # on import (rljax's `__init__` imports this module first)

__all__ = ["enabled", "install", "jax_default_lowering"]
