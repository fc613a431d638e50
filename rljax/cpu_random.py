"""Random bits on XLA:CPU: JAX's unrolled threefry instead of its rolled loop.

Every `jax.random` call (a key split, a uniform draw, a categorical sample) is the
`threefry2x32` primitive. JAX lowers it in one of two equivalent ways: five rounds of the
Threefry-2x32 block cipher written out (its GPU and default lowering), or the same rounds
as a `while` loop (its CPU lowering). Both compute the same bits. On XLA:CPU (jax 0.10) the
loop is the slow choice to compile: a `while` loop is a separate XLA computation with its
own fusions, and a program holds one per random call site. Measured on the project's 2-core
machine (`benchmarks/cpu_random.py`, `benchmarks/RESULTS.md` "Random bits on XLA:CPU"): the
default agents' `init` programs compile in 0.8-1.7 s less CPU time (PPO 3.7 -> 2.0 s) and
their training chunks in 0.8-1.5 s less (PPO 4.6 -> 3.1 s); a vmapped scan of nothing but
key splits and draws runs 3.7x faster, while the agents' chunks (4 runs) run at the same
speed within noise (0.99-1.08x). At one run of 4 envs, PPO's chunk takes 5-7% more wall time
and ~50% more CPU time unrolled (XLA:CPU runs small independent kernels on both threads).
The random bits are identical (tests/test_cpu_random.py); programs that do float arithmetic
on them may fuse differently and round differently in the last bits (PPO's trained state
came out bitwise equal, SAC's and DQN's did not), so a run is bitwise
reproducible under either lowering, not across the two.

Importing rljax runs `install()`, which registers, for the CPU platform only, a lowering
rule that picks the unrolled form unless the context says otherwise, writing the rounds
as HLO ops itself (`_threefry_rounds`; JAX's unrolled rule traces them from Python at every
lowering) (and, with it, an
optimization barrier on the key arrays that `split`, `fold_in` and the bit draws take, so
XLA does not recompute one split's rounds inside the next draw's loop: `_barrier_keys`; and
the counters each draw enciphers built in 32 bits, not from a 64-bit iota:
`_counters_in_32_bits`):

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

import numpy as np

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
        if not _UNROLL.get():
            return rolled(ctx, *args, **params)
        direct = _threefry_rounds(mlir, ctx, *args)
        return unrolled(ctx, *args, **params) if direct is None else direct

    # `inline=False`: the unrolled rounds become one private function per call signature in
    # the lowered module (as on GPU), not a copy per call site.
    mlir.register_lowering(primitive, rule, platform="cpu", inline=False)
    _barrier_keys(mlir)
    _counters_in_32_bits(mlir)
    _installed = True
    return True


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
"""Threefry-2x32's rotation distances, for even and odd groups of four rounds."""
_KEY_PARITY = 0x1BD11BDA
"""Threefry's key-schedule constant: the third key word is `k0 ^ k1 ^ _KEY_PARITY`."""


def _threefry_rounds(mlir, ctx, k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers: as easy as
    1, 2, 3", Sec. 3.3) written out as HLO ops, or None where a shape is not static.

    The same cipher as JAX's unrolled lowering (so the same bits: every op is exact uint32
    arithmetic), emitted straight into the module instead of by tracing a Python function
    into a jaxpr and lowering that op by op: 7 cipher signatures in PPO's 4-env update took
    ~30 ms of its ~150 ms lowering that way (benchmarks/RESULTS.md, "Session 33").
    Operands broadcast to the output shape as the primitive's abstract evaluation says.
    """
    from jax._src import core
    from jax._src.lib.mlir.dialects import hlo

    aval = ctx.avals_out[0]
    if not all(core.is_constant_dim(d) for a in ctx.avals_in for d in a.shape):
        return None

    splats: dict[int, object] = {}

    def splat(value: int):
        if value not in splats:
            splats[value] = _splat_uint32(mlir, ctx, aval, value)
        return splats[value]

    k0, k1, x0, x1 = mlir.multi_broadcast_in_dim(
        ctx, (k0, k1, x0, x1), ctx.avals_in, aval.shape, aval.sharding
    )
    keys = (k0, k1, hlo.xor(hlo.xor(k0, k1), splat(_KEY_PARITY)))
    x0, x1 = hlo.add(x0, keys[0]), hlo.add(x1, keys[1])
    for group in range(5):
        for distance in _ROTATIONS[group % 2]:
            x0 = hlo.add(x0, x1)
            rotated = hlo.or_(
                hlo.shift_left(x1, splat(distance)),
                hlo.shift_right_logical(x1, splat(32 - distance)),
            )
            x1 = hlo.xor(x0, rotated)
        x0 = hlo.add(x0, keys[(group + 1) % 3])
        x1 = hlo.add(hlo.add(x1, keys[(group + 2) % 3]), splat(group + 1))
    return [x0, x1]


def _splat_uint32(mlir, ctx, aval, value: int):
    """A `uint32` constant `value` broadcast to `aval`'s shape, as an HLO value."""
    constant = mlir.ir_constant(np.array(value, np.uint32))
    return mlir.broadcast_in_dim(ctx, constant, aval, broadcast_dimensions=[])


def _barrier_keys(mlir) -> None:
    """Key arrays enter `split`, `fold_in` and the bit draws through an optimization barrier
    (where the unrolled rounds are on). Without it XLA's simplifier reads a key made by an
    earlier split straight out of that split's rounds, and the fusion pass then recomputes
    those rounds for every element of the later draw: one loop body with both ciphers, which
    LLVM takes long to compile (`split(split(k)[1], 128)`: 0.43 s against 0.09 s; PPO's
    rollout splits its key into one per step this way). The barrier goes before fusion, so
    nothing else changes; the bits are the same."""
    try:
        from jax._src.lib.mlir.dialects import hlo
        from jax._src.random import prng
    except ImportError:
        return
    for name in ("random_split", "random_bits", "random_fold_in"):
        primitive = getattr(prng, f"{name}_p", None)
        base = getattr(prng, f"{name}_lowering", None)
        if primitive is None or base is None:
            continue

        def rule(ctx, keys, *rest, _base=base, **params):
            if _UNROLL.get():
                keys = hlo.OptimizationBarrierOp([keys]).results[0]
            return _base(ctx, keys, *rest, **params)

        mlir.register_lowering(primitive, rule, platform="cpu")


def _counters_in_32_bits(mlir) -> None:
    """The counters a draw enciphers (`prng.iota_2x32_shape`: a `uint64` iota over the
    draw's shape, split into high and low 32-bit words) built in 32 bits where the draw has
    fewer than 2**32 elements (every draw here): the low word is a `uint32` iota, the high
    word zeros. Same counters, so the same bits. JAX builds them from a 64-bit iota, a shift
    and two conversions in every draw; XLA hoists those loop-invariant values out of the
    loops one level per pass and removes them again, and PPO's 4-env chunk ran 13 rounds of
    XLA's simplification pipeline instead of 11: 0.05-0.1 s of its 1.5 s compile
    (benchmarks/RESULTS.md, "Session 33")."""
    try:
        from jax._src import core
        from jax._src.lib.mlir.dialects import hlo
        from jax._src.random import prng
    except ImportError:
        return
    primitive = getattr(prng, "iota_2x32_shape_p", None)
    base = getattr(prng, "iota_2x32_shape_lowering", None)
    if primitive is None or base is None:
        return

    def rule(ctx, *, shape):
        static = all(core.is_constant_dim(d) for d in shape)
        if not _UNROLL.get() or not static or int(np.prod(shape)) >= 2**32:
            return base(ctx, shape=shape)
        (aval, _) = ctx.avals_out
        splat = lambda value: _splat_uint32(mlir, ctx, aval, value)
        strides = [int(np.prod(shape[i + 1 :])) for i in range(len(shape))]
        low = None
        for dimension, stride in enumerate(strides):
            term = mlir.iota(ctx, aval, dimension=dimension)
            term = term if stride == 1 else hlo.multiply(splat(stride), term)
            low = term if low is None else hlo.add(low, term)
        return splat(0), low

    mlir.register_lowering(primitive, rule, platform="cpu")


def enabled() -> bool:
    """Whether programs lowered here and now get the unrolled threefry."""
    return _installed and _UNROLL.get()


@contextlib.contextmanager
def jax_default_lowering(active: bool = True) -> Iterator[None]:
    """Lower (and so compile) inside this block with JAX's own rolled CPU loop (with
    `active=False`, the block changes nothing: for callers that choose per program)."""
    if not active:
        yield
        return
    token = _UNROLL.set(False)
    try:
        yield
    finally:
        _UNROLL.reset(token)


install()  # on import (rljax's `__init__` imports this module first)

__all__ = ["enabled", "install", "jax_default_lowering"]
