"""Actor-critic networks: MLP torsos for vector observations, the MinAtar CNN for images,
`GridCNN` for symbolic grid views (XLand-MiniGrid), `MazeConv` (the UED papers' maze
torso), and a GRU or LSTM actor-critic for partially observed tasks
(`RecurrentActorCritic`).

Initialisation follows the PPO implementation details of Engstrom et al. (2020) and Huang et
al. (2022): orthogonal weights with gain sqrt(2) in the torso, 0.01 on the policy head and 1.0
on the value head, zero biases.

The orthogonal initialiser is our own (`orthogonal`), not flax's: flax's calls LAPACK's QR,
and a QR batched by `vmap` over seeds runs as a parallel batch map on XLA:CPU's intra-op pool.
On a 2-core machine two such QRs can each hold one of the pool's two threads while waiting
for sub-tasks queued behind each other: the run deadlocks with every thread idle (seen here
in about one run in ten). Gram-Schmidt in plain JAX ops draws from the same distribution.

Shapes: `obs` is `[..., *obs_shape]`; `apply` returns a distrax distribution with batch shape
`[...]` and a value `[...]`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype

# At import time, not inside a traced `__call__`: a first import of xminigrid inside a trace
# leaks tracers into its module-level arrays.
from xminigrid.core.constants import NUM_COLORS, NUM_TILES

from rljax.environment import SpaceSpec

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


@functools.cache
def orthogonal(scale: float = 1.0):
    """Haar-random orthogonal initialiser (Saxe et al. 2014) without LAPACK.

    Flattens the kernel to `[fan_in, fan_out]` (all but the last axis are fan-in), draws a
    Gaussian matrix and orthonormalises its columns (of the taller orientation) by
    Gram-Schmidt, twice for numerical safety. Equivalent to QR with the sign of diag(R) fixed
    positive, which is what makes the result Haar-distributed.

    One jitted function per `scale` (the shape and dtype static): flax's `apply` checks
    every existing parameter's shape against `jax.eval_shape` of its initialiser at every
    call, and tracing this loop took ~2 ms a kernel (0.26 ms once cached by `jax.jit`): ~30
    ms of the 0.26-0.29 s it took to trace and lower PPO's 4-env update chunk
    (benchmarks/RESULTS.md, "First-run compile time", session 31). The values are the same
    bits (`benchmarks/regression.py` bitwise unchanged).
    """

    def init(key, shape, dtype=jnp.float32):
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        gaussian = jax.random.normal(key, tall, jnp.float32)

        def orthonormalise_column(j, q):
            v = gaussian[:, j]
            for _ in range(2):  # "twice is enough" (Giraud et al. 2005)
                v = v - q @ (q.T @ v)
            return q.at[:, j].set(v / jnp.linalg.norm(v))

        q = jax.lax.fori_loop(0, tall[1], orthonormalise_column, jnp.zeros(tall, jnp.float32))
        if rows < cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    jitted = jax.jit(init, static_argnums=(1, 2))

    def call(key, shape, dtype=jnp.float32):
        return jitted(key, tuple(shape), jnp.dtype(dtype))

    return call


def param(module: nn.Module, name: str, init: Any, shape: Sequence[int]) -> jnp.ndarray:
    """`module.param(name, init, shape)`, checking an existing parameter's shape directly.

    flax's `param` checks an existing parameter against `jax.eval_shape` of its initialiser
    at every `apply`: a trace of the initialiser per parameter per call, 13 ms of the 79 ms
    it took to trace PPO's 4-env update chunk (three applies of 12 parameters;
    benchmarks/RESULTS.md, "Session 33"). Here the stored shape is compared with `shape`,
    the same check without the trace; a new parameter is created by flax as before (same
    names, same random stream, same values)."""
    if module.has_variable("params", name):
        value = module.get_variable("params", name)
        if tuple(np.shape(value)) != tuple(shape):
            path = "/".join((*module.scope.path, name))
            raise ValueError(
                f"parameter {path} has shape {tuple(np.shape(value))} where this network "
                f"needs {tuple(shape)}: the parameters were made for another network config"
            )
        return value
    return module.param(name, init, shape)


class Dense(nn.Module):
    """flax `nn.Dense` (float32 parameters): the same parameter names, shapes, initialisers,
    dtype promotion and arithmetic, reading its parameters through `param` (no initialiser
    trace per call)."""

    features: int
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        kernel = param(self, "kernel", self.kernel_init, (x.shape[-1], self.features))
        bias = param(self, "bias", self.bias_init, (self.features,)) if self.use_bias else None
        x, kernel, bias = promote_dtype(x, kernel, bias)
        y = jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))
        return y if bias is None else y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))


def dense(features: int, gain: float) -> Dense:
    """A dense layer initialised as PPO wants it: orthogonal kernel of `gain`, zero bias."""
    return Dense(features, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)


def _policy_head(module: nn.Module, features: jnp.ndarray, action: SpaceSpec):
    """The policy of an actor-critic from its features `[..., F]`, as a distribution with
    batch shape `[...]`: categorical logits, or a diagonal Gaussian whose log standard
    deviation is a state-independent parameter `log_std` of `module`. Called inside
    `module`'s compact method, so the layers it makes belong to `module`."""
    if action.discrete:
        return distrax.Categorical(logits=dense(action.num_actions, 0.01)(features))
    mean = dense(action.action_dim, 0.01)(features)
    log_std = param(module, "log_std", nn.initializers.zeros, (action.action_dim,))
    return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std) * jnp.ones_like(mean))


class MLP(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        act = _ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(dense(size, np.sqrt(2))(x))
        return x


class MinAtarCNN(nn.Module):
    """A 3x3 conv with 16 channels ("SAME" padding), then 128 units, as in MinAtar (Young &
    Tian 2019).

    The conv is `Conv3x3`: flax `Conv`'s parameters and arithmetic, computed as a matmul over
    3x3 patches, because XLA:CPU ran the conv's kernel gradient at PPO's batch sizes in a slow
    generic kernel (2.9 s per call at 8,192 MinAtar observations: PPO's `minatar` preset took
    25 s per update).
    """

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = nn.relu(Conv3x3(16, kernel_init=orthogonal(np.sqrt(2)), name="Conv_0")(x))
        x = x.reshape((*x.shape[:-3], -1))
        return nn.relu(dense(128, np.sqrt(2))(x))


def _patches_3x3(x: jnp.ndarray, padding: str) -> jnp.ndarray:
    """`[..., H, W, C] -> [..., H', W', 9C]`: each output cell's 3x3 neighbourhood, rows then
    columns then channels (flax's `[3, 3, C, F]` kernel order), with "SAME" zero padding
    (`H' = H`) or "VALID" (`H' = H - 2`)."""
    if padding == "SAME":
        pad = [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)]
        x = jnp.pad(x, pad)
    rows, cols = x.shape[-3] - 2, x.shape[-2] - 2
    return jnp.concatenate(
        [x[..., dy : dy + rows, dx : dx + cols, :] for dy in range(3) for dx in range(3)], axis=-1
    )


class Conv3x3(nn.Module):
    """flax `nn.Conv(features, (3, 3), padding=padding)` (its parameter names, shapes and
    initialisers: `kernel [3, 3, C, F]`, zero `bias [F]`) computed as one matmul of the 3x3
    patches (`_patches_3x3`) by the kernel reshaped to `[9C, F]`: the same sums, in another
    order. On XLA:CPU the matmul and its row-major gradients run in the fast kernels."""

    features: int
    padding: str = "SAME"
    kernel_init: Any = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        channels = x.shape[-1]
        kernel = param(self, "kernel", self.kernel_init, (3, 3, channels, self.features))
        bias = param(self, "bias", nn.initializers.zeros, (self.features,))
        patches = _patches_3x3(x, self.padding)
        return patches @ kernel.reshape(9 * channels, self.features) + bias


class GridCNN(nn.Module):
    """A torso for symbolic grid views: `[..., V, V, 2]` (tile id, colour id per cell, as
    xminigrid observes) -> `[..., 128]`.

    Each id gets a learned embedding of `embed_dim` (tile and colour apart, concatenated), so
    ids are categories rather than magnitudes; then two 2x2 convolutions (16 and 32 channels,
    no padding; written as a dense layer over 2x2 patches, see `_patches_2x2`) and 128 units.
    Ids arrive as floats (the actor-critics cast observations) and are exact integers below
    2^24, so the cast back is lossless. The embedding's normal init needs no LAPACK. With
    `layer_norm`, each hidden layer is conv/dense -> LayerNorm -> relu (as `QNetwork` wants).
    """

    embed_dim: int = 8
    layer_norm: bool = False

    def _hidden(self, x: jnp.ndarray, layer: nn.Module) -> jnp.ndarray:
        x = layer(x)
        return nn.relu(nn.LayerNorm()(x) if self.layer_norm else x)

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        ids = x.astype(jnp.int32)
        x = jnp.concatenate(
            [
                nn.Embed(NUM_TILES, self.embed_dim)(ids[..., 0]),
                nn.Embed(NUM_COLORS, self.embed_dim)(ids[..., 1]),
            ],
            axis=-1,
        )
        for channels in (16, 32):
            x = self._hidden(_patches_2x2(x), dense(channels, np.sqrt(2)))
        x = x.reshape((*x.shape[:-3], -1))
        return self._hidden(x, dense(128, np.sqrt(2)))


def _patches_2x2(x: jnp.ndarray) -> jnp.ndarray:
    """`[..., H, W, C] -> [..., H-1, W-1, 4C]`: each cell's 2x2 neighbourhood (itself, right,
    below, below-right) stacked on the channel axis. A dense layer over it is a 2x2 conv
    without padding, and XLA:CPU runs it faster than its conv at these small shapes: recurrent
    PPO on MiniGrid-Empty-8x8 trained at 4,300 env steps/s against 1,500 with `nn.Conv`."""
    return jnp.concatenate(
        [x[..., :-1, :-1, :], x[..., :-1, 1:, :], x[..., 1:, :-1, :], x[..., 1:, 1:, :]], axis=-1
    )


class MazeConv(nn.Module):
    """The maze torso of the UED papers' agent (PLR, Jiang et al. 2021, app. B.2; robust PLR,
    Jiang et al. 2021b, app. C; ACCEL, Parker-Holder et al. 2022, app. B; JaxUED's
    `examples/maze_plr.py`): `[..., V, V, C] -> [..., 16 (V - 2)^2 + 5]`.

    The observation is the maze's (`envs.maze.env`): view planes, then the agent's absolute
    direction as 4 constant one-hot planes. A 3x3 conv of 16 channels without padding over
    the view planes (`[..., :C - 4]`), flattened, then relu; the direction, read as the
    one-hot of the last 4 planes at view cell [0, 0], through a linear embedding of 5 units
    (orthogonal init, gain sqrt 2, no activation); both concatenated. The conv keeps flax's
    default init (LeCun normal, zero bias), as the papers' code does. For a 5x5 view:
    `[..., 149]`. `check_maze_observation` says which shapes it takes.

    The conv is `Conv3x3` (flax `nn.Conv`'s parameters, names and init; the same sums as one
    matmul over 3x3 patches): inside the recurrent PPO update, XLA:CPU ran `nn.Conv`'s kernel
    gradient as a convolution over the batch at ~1.3 GFLOP/s, 15.7 ms of each epoch's
    ~110 ms on the `jaxued_maze` preset (benchmarks/RESULTS.md, "The UED papers' maze agent").
    """

    channels: int = 16
    direction_features: int = 5

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        view = Conv3x3(self.channels, padding="VALID", name="Conv_0")(x[..., :-4])
        view = nn.relu(view.reshape((*view.shape[:-3], -1)))
        direction = dense(self.direction_features, np.sqrt(2))(x[..., 0, 0, -4:])
        return jnp.concatenate([view, direction], axis=-1)


def maze_observation_problem(obs_shape: Sequence[int]) -> str | None:
    """Why `MazeConv` cannot take observations of `obs_shape`, or None if it can: it needs
    `[V, V, C]` with V >= 3 (a 3x3 conv without padding) and C >= 5 (at least one view plane
    and the 4 direction planes)."""
    shape = tuple(obs_shape)
    if len(shape) != 3 or shape[0] < 3 or shape[1] < 3 or shape[2] < 5:
        return (
            f"needs the maze's observation [V, V, C] (V >= 3; view planes, then the agent's "
            f"direction as 4 one-hot planes, C >= 5), not {list(shape)}"
        )
    return None


def _make_torso(torso: str, hidden_sizes: Sequence[int], activation: str) -> nn.Module:
    """`minatar_cnn` for image observations, `grid_cnn` for symbolic grid views,
    `maze_conv` for the maze's view and direction, else an MLP of `hidden_sizes`."""
    if torso == "minatar_cnn":
        return MinAtarCNN()
    if torso == "grid_cnn":
        return GridCNN()
    if torso == "maze_conv":
        return MazeConv()
    return MLP(hidden_sizes, activation)


class ActorCritic(nn.Module):
    """Separate actor and critic torsos (no shared features), as in the PPO paper's MuJoCo setup.

    For continuous actions the policy is a diagonal Gaussian with a state-independent,
    learned log standard deviation; sampled actions are clipped to the env bounds by the env
    wrapper, not squashed, so the log-probabilities stay exact.
    """

    action: SpaceSpec
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    torso: str = "mlp"  # "mlp", "minatar_cnn" or "grid_cnn"
    obs_ndim: int = 1  # rank of one observation; leading axes beyond it are batch axes

    def _torso(self) -> nn.Module:
        return _make_torso(self.torso, self.hidden_sizes, self.activation)

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[distrax.Distribution, jnp.ndarray]:
        obs = obs.astype(jnp.float32)
        if self.torso == "mlp":
            obs = obs.reshape((*obs.shape[: obs.ndim - self.obs_ndim], -1))
        pi = _policy_head(self, self._torso()(obs), self.action)
        critic = self._torso()(obs)
        value = dense(1, 1.0)(critic)
        return pi, value.squeeze(-1)


class PolicyNetwork(nn.Module):
    """A policy alone (no critic), for searches over its weights (`rljax.meta.neuroevolution`):
    `obs [..., *obs_shape] -> distribution` with the actor of `ActorCritic` (same torso,
    head and initialisation)."""

    action: SpaceSpec
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    torso: str = "mlp"
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> distrax.Distribution:
        obs = obs.astype(jnp.float32)
        if self.torso == "mlp":
            obs = obs.reshape((*obs.shape[: obs.ndim - self.obs_ndim], -1))
        features = _make_torso(self.torso, self.hidden_sizes, self.activation)(obs)
        return _policy_head(self, features, self.action)


class QNetwork(nn.Module):
    """Action values `Q(s, .)`: `obs [..., *obs_shape] -> [..., num_actions]`.

    Each hidden layer is Dense (or the MinAtar conv/dense) -> optional LayerNorm -> activation.
    LayerNorm is what lets PQN drop the target network and replay buffer: Gallici et al.
    (2024, "Simplifying Deep Temporal Difference Learning", Sec. 3, Thm. 3.3 and Sec. 4.1)
    show that it (with a little L2) makes TD updates stable off-policy.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (128, 128)
    activation: str = "relu"
    layer_norm: bool = True
    torso: str = "mlp"  # "mlp", "minatar_cnn" or "grid_cnn"
    obs_ndim: int = 1  # rank of one observation; leading axes beyond it are batch axes

    def _hidden(self, x: jnp.ndarray, layer: nn.Module) -> jnp.ndarray:
        x = layer(x)
        if self.layer_norm:
            x = nn.LayerNorm()(x)
        return _ACTIVATIONS[self.activation](x)

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = obs.astype(jnp.float32)
        if self.torso == "minatar_cnn":
            # The MinAtar network (Young & Tian 2019), as `MinAtarCNN`, with optional norms.
            conv = Conv3x3(16, kernel_init=orthogonal(np.sqrt(2)), name="Conv_0")
            x = self._hidden(x, conv)
            x = x.reshape((*x.shape[:-3], -1))
            x = self._hidden(x, dense(128, np.sqrt(2)))
        elif self.torso == "grid_cnn":
            x = GridCNN(layer_norm=self.layer_norm)(x)
        else:
            x = x.reshape((*x.shape[: x.ndim - self.obs_ndim], -1))
            for size in self.hidden_sizes:
                x = self._hidden(x, dense(size, np.sqrt(2)))
        return dense(self.num_actions, 1.0)(x)


def _blocks(init, blocks: int):
    """An initialiser of a `[..., blocks * F]` kernel as `blocks` independent `[..., F]`
    draws of `init`, side by side: each LSTM gate's recurrent kernel orthogonal on its own."""

    def block_init(key, shape, dtype=jnp.float32):
        width = shape[-1] // blocks
        keys = jax.random.split(key, blocks)
        parts = [init(k, (*shape[:-1], width), dtype) for k in keys]
        return jnp.concatenate(parts, axis=-1)

    return block_init


# The recurrent matmuls of both cells. On XLA:CPU one `[N, H] @ [H, G H]` matmul per step is
# 2-3x slower than G matmuls `[N, H] @ [H, H]` (a chain of 256 steps at N = 16: H = 256,
# G = 4: 16.5 ms against 6.1 ms; the fused one leaves the fast kernels), and a matmul by a
# transposed operand leaves them too (`rljax.optim.row_major_weight_gradients`), and so does
# slicing a wide array inside the loop body (2.5x on the GRU's forward pass). So each gate's
# input share is its own `[T, N, H]` sequence, sliced before the loop; on the CPU each gate's
# block is its own matmul and the reverse loops multiply by transposes materialised once
# before the loop; other backends get one wide matmul per step.


def _gate_blocks(kernel: jnp.ndarray, gates: int) -> tuple[jnp.ndarray, ...]:
    """`kernel [H, gates * H]` as its `gates` column blocks `[H, H]`."""
    return tuple(jnp.split(kernel, gates, axis=-1))


def _step_weights(kernel: jnp.ndarray, gates: int, steps: int) -> Any:
    """What a recurrence of `steps` steps multiplies the state by: the gate blocks of the
    fused kernel `[H, gates H]`, sliced once before the loop, or for one step the fused
    kernel itself (`_recurrent_terms` then splits the product instead).

    One step is acting, called inside a rollout's loop, and XLA does not hoist slices out of
    loops: the LSTM 256's four `[256, 256]` blocks were copied out of the kernel at every
    env step (a 256-step rollout of 16 mazes took 67 ms instead of 50, median;
    benchmarks/RESULTS.md, "The UED papers' maze agent"). One `[N, H] @ [H, gates H]`
    matmul then a split of the small `[N, gates H]` product: the same sums."""
    return kernel if steps == 1 else _gate_blocks(kernel, gates)


def _recurrent_terms(hidden: jnp.ndarray, blocks: Any):
    """`hidden [N, H] @ block` for each gate's block `[H, H]`: a tuple of `[N, H]`. `blocks`
    may be the fused kernel `[H, gates H]` (`_step_weights`): one matmul, then split."""
    if not isinstance(blocks, tuple):
        return tuple(jnp.split(hidden @ blocks, blocks.shape[-1] // hidden.shape[-1], axis=-1))
    if jax.default_backend() == "cpu":
        return tuple(hidden @ block for block in blocks)
    return tuple(jnp.split(hidden @ jnp.concatenate(blocks, axis=-1), len(blocks), axis=-1))


def _transposed_blocks(blocks: tuple[jnp.ndarray, ...]) -> tuple[jnp.ndarray, ...]:
    """Each block's transpose, materialised (on the CPU) so that the reverse loop's matmuls
    by it are plain row-major ones."""
    transposed = tuple(block.T for block in blocks)
    if jax.default_backend() == "cpu":
        return jax.lax.optimization_barrier(transposed)
    return transposed


def _state_cotangent(d_gates: tuple[jnp.ndarray, ...], transposed: tuple[jnp.ndarray, ...]):
    """`sum_g d_gates[g] @ block_g^T`: the cotangent the gates pass to the state they read."""
    if jax.default_backend() == "cpu":
        return sum(d @ t for d, t in zip(d_gates, transposed, strict=True))
    return jnp.concatenate(d_gates, axis=-1) @ jnp.concatenate(transposed, axis=0)


def _kernel_gradient(starts: jnp.ndarray, d_gates: jnp.ndarray) -> jnp.ndarray:
    """`sum_{t, n} starts[t, n]^T d_gates[t, n]`, `[T, N, H]` and `[T, N, G]` -> `[H, G]`:
    the recurrent kernel's gradient as one row-major `[H, T N] @ [T N, G]` matmul."""
    size = starts.shape[-1]
    rows = starts.reshape(-1, size).T
    if jax.default_backend() == "cpu":
        rows = jax.lax.optimization_barrier(rows)
    return rows @ d_gates.reshape(-1, d_gates.shape[-1])


def _gate_inputs(x: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray, gates: int):
    """The input's share of each gate, `x [T, ..., F] @ kernel [F, gates H] + bias`, as
    `gates` arrays `[T, ..., H]`: one matmul per gate's column block, or for one step
    (`T == 1`, acting inside a rollout's loop; see `_step_weights`) one matmul, then split."""
    if x.shape[0] == 1:
        return tuple(jnp.split(x @ kernel + bias, gates, axis=-1))
    kernels = jnp.split(kernel, gates, axis=-1)
    biases = jnp.split(bias, gates, axis=-1)
    return tuple(x @ k + b for k, b in zip(kernels, biases, strict=True))


def _reset(state: Any, reset: jnp.ndarray) -> Any:
    """Every leaf of a recurrent state `[N, H]` zeroed where `reset [N]`."""
    return jax.tree.map(lambda v: jnp.where(reset[..., None], 0.0, v), state)


class LSTMCarry(NamedTuple):
    """An LSTM's state: `cell` and `hidden`, each `[..., H]`; `hidden` is its output."""

    cell: jnp.ndarray
    hidden: jnp.ndarray


class LSTMActivations(NamedTuple):
    """What an LSTM step's gradient needs, each `[..., H]`: the gates `i, f, g, o` after
    their nonlinearities and `tanh(cell)`."""

    i: jnp.ndarray
    f: jnp.ndarray
    g: jnp.ndarray
    o: jnp.ndarray
    tanh_cell: jnp.ndarray


def _lstm_gates(carry: LSTMCarry, gates_in: tuple[jnp.ndarray, ...], blocks):
    """One LSTM step (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.
    2000) from the input's share of each gate `gates_in` (four `[..., H]`: input projection
    plus bias, in the order input, forget, candidate, output) and the recurrent kernel's gate
    blocks: the new carry and the step's `LSTMActivations`."""
    recurrent = _recurrent_terms(carry.hidden, blocks)
    pre = [x + r for x, r in zip(gates_in, recurrent, strict=True)]
    i, f, g, o = nn.sigmoid(pre[0]), nn.sigmoid(pre[1]), jnp.tanh(pre[2]), nn.sigmoid(pre[3])
    cell = f * carry.cell + i * g
    tanh_cell = jnp.tanh(cell)
    return LSTMCarry(cell, o * tanh_cell), LSTMActivations(i, f, g, o, tanh_cell)


def _lstm_scan(gates_in, recurrent_kernel, carry, first):
    """The LSTM over a sequence: `gates_in` (four `[T, N, H]`), `first [T, N]` -> the carry
    after each step (leaves `[T, N, H]`), the carry each step started from after its reset,
    and the gate activations of each step."""
    blocks = _step_weights(recurrent_kernel, 4, first.shape[0])

    def step(carry: LSTMCarry, inputs):
        step_gates, reset = inputs
        carry = _reset(carry, reset)
        new, activations = _lstm_gates(carry, step_gates, blocks)
        return new, (new, carry, activations)

    return jax.lax.scan(step, carry, (gates_in, first))[1]


@jax.custom_vjp
def lstm_sequence(gates_in, recurrent_kernel, carry, first):
    """`SequenceLSTM`'s recurrence with a hand-written gradient: `gates_in` (the input's
    share of each gate, four `[T, N, H]`), the recurrent kernel `[H, 4H]`, `carry` (an
    `LSTMCarry` of `[N, H]`), `first [T, N]` -> the carry after each step (an `LSTMCarry`
    of `[T, N, H]`).

    Autodiff of the scan would accumulate the recurrent kernel's gradient inside the reverse
    loop, one `[H, N] @ [N, 4H]` matmul per step; here the reverse loop carries only the
    state's cotangent and the kernel's gradient is one `[H, T N] @ [T N, 4H]` matmul after
    it. Same arithmetic, summed in another order (float rounding only; checked against
    autodiff in tests/test_networks_recurrent.py). The primal pass keeps no residuals.
    """
    blocks = _step_weights(recurrent_kernel, 4, first.shape[0])

    def step(carry: LSTMCarry, inputs):
        step_gates, reset = inputs
        new = _lstm_gates(_reset(carry, reset), step_gates, blocks)[0]
        return new, new

    return jax.lax.scan(step, carry, (gates_in, first))[1]


def _lstm_sequence_fwd(gates_in, recurrent_kernel, carry, first):
    carries, starts, activations = _lstm_scan(gates_in, recurrent_kernel, carry, first)
    return carries, (recurrent_kernel, starts, activations, first)


def _lstm_sequence_bwd(residuals, cotangent):
    recurrent_kernel, starts, activations, first = residuals
    transposed = _transposed_blocks(_gate_blocks(recurrent_kernel, 4))

    def step(later: LSTMCarry, inputs):
        d_out, start, (i, f, g, o, tanh_cell), reset = inputs
        d_hidden = d_out.hidden + later.hidden
        d_cell = d_out.cell + later.cell + d_hidden * o * (1.0 - tanh_cell * tanh_cell)
        d_gates = (
            d_cell * g * i * (1.0 - i),
            d_cell * start.cell * f * (1.0 - f),
            d_cell * i * (1.0 - g * g),
            d_hidden * tanh_cell * o * (1.0 - o),
        )
        earlier = LSTMCarry(d_cell * f, _state_cotangent(d_gates, transposed))
        return _reset(earlier, reset), d_gates

    zeros = jax.tree.map(lambda x: jnp.zeros_like(x[0]), cotangent)
    inputs = (cotangent, starts, activations, first)
    d_carry, d_gates = jax.lax.scan(step, zeros, inputs, reverse=True)
    d_kernel = _kernel_gradient(starts.hidden, jnp.concatenate(d_gates, axis=-1))
    return d_gates, d_kernel, d_carry, np.zeros(first.shape, jax.dtypes.float0)


lstm_sequence.defvjp(_lstm_sequence_fwd, _lstm_sequence_bwd)


class SequenceLSTM(nn.Module):
    """An LSTM run over a whole sequence with resets: `carry` (an `LSTMCarry` of `[N, H]`),
    `x [T, N, F]`, `first [T, N]` -> the carry after each step, an `LSTMCarry` of
    `[T, N, H]`; the state is zeroed before step `t` wherever `first[t]`. With
    `next_x [T, N, F]` it also returns one more step from each of those carries without a
    reset, fed `next_x[t]` (the truncation bootstrap's input).

    The cell is flax's `LSTMCell`'s arithmetic (gates i, f, g, o; sigmoid gates, tanh) with
    its kernels fused: one `[F, 4H]` input kernel applied to the whole sequence before the
    scan (gate by gate, `_gate_inputs`) and one `[H, 4H]` recurrent kernel inside it
    (multiplied gate block by gate block on the CPU, `_recurrent_terms`), and a hand-written
    reverse loop (`lstm_sequence`). Init as flax's: input kernel LeCun normal, recurrent
    kernel orthogonal per gate (our LAPACK-free `orthogonal`), zero bias.
    """

    features: int

    @nn.compact
    def __call__(
        self,
        carry: LSTMCarry,
        x: jnp.ndarray,
        first: jnp.ndarray,
        next_x: jnp.ndarray | None = None,
    ):
        gates = 4 * self.features
        input_kernel = param(
            self, "input_kernel", nn.initializers.lecun_normal(), (x.shape[-1], gates)
        )
        recurrent_kernel = param(
            self, "recurrent_kernel", _blocks(orthogonal(), 4), (self.features, gates)
        )
        bias = param(self, "bias", nn.initializers.zeros, (gates,))

        def gates_in(x):
            return _gate_inputs(x, input_kernel, bias, 4)

        carries = lstm_sequence(gates_in(x), recurrent_kernel, LSTMCarry(*carry), first)
        if next_x is None:
            return carries
        blocks = _step_weights(recurrent_kernel, 4, x.shape[0])
        return carries, _lstm_gates(carries, gates_in(next_x), blocks)[0]


class _KernelParams(nn.Module):
    """A dense layer's parameters, unapplied: flax `Dense`'s names ("kernel", "bias"), shapes
    and initialisers, so a fused cell keeps the parameter tree of the layers it fuses."""

    features: int
    use_bias: bool
    kernel_init: Any

    @nn.compact
    def __call__(self, in_features: int):
        kernel = param(self, "kernel", self.kernel_init, (in_features, self.features))
        if not self.use_bias:
            return kernel, jnp.zeros((self.features,), jnp.float32)
        return kernel, param(self, "bias", nn.initializers.zeros, (self.features,))


class GRUActivations(NamedTuple):
    """What a GRU step's gradient needs, each `[..., H]`: the reset gate `r`, the update gate
    `z`, the candidate `n`, and the candidate's recurrent term `hidden @ W_hn + b_hn`."""

    r: jnp.ndarray
    z: jnp.ndarray
    n: jnp.ndarray
    recurrent_n: jnp.ndarray


def _gru_gates(hidden, gates_in, blocks, recurrent_bias):
    """One GRU step (Cho et al. 2014, flax `GRUCell`'s arithmetic) from the input's share of
    each gate `gates_in` (three `[..., H]`: input projection plus bias, in the order r, z, n),
    the recurrent kernel's gate blocks and the candidate's recurrent bias `[H]`: the new
    hidden state `[..., H]` and the step's `GRUActivations`."""
    in_r, in_z, in_n = gates_in
    recurrent_r, recurrent_z, recurrent_n = _recurrent_terms(hidden, blocks)
    r = nn.sigmoid(in_r + recurrent_r)
    z = nn.sigmoid(in_z + recurrent_z)
    recurrent_n = recurrent_n + recurrent_bias
    n = jnp.tanh(in_n + r * recurrent_n)
    return (1.0 - z) * n + z * hidden, GRUActivations(r, z, n, recurrent_n)


@jax.custom_vjp
def gru_sequence(gates_in, recurrent_kernel, recurrent_bias, hidden, first):
    """`SequenceGRU`'s recurrence with a hand-written gradient: `gates_in` (the input's share
    of each gate, three `[T, N, H]`), the recurrent kernel `[H, 3H]` (r, z, n), the
    candidate's recurrent bias `[H]`, `hidden [N, H]`, `first [T, N]` -> the hidden state
    after each step `[T, N, H]`, zeroed before step `t` wherever `first[t]`.

    As `lstm_sequence`: the reverse loop carries only the state's cotangent and the recurrent
    kernel's gradient is one matmul after it, where autodiff of the scan accumulates it
    inside the loop. Same arithmetic summed in another order (float rounding only; checked
    against flax's `GRUCell` under autodiff in tests/test_networks_recurrent.py).
    """
    blocks = _gate_blocks(recurrent_kernel, 3)

    def step(hidden, inputs):
        step_gates, reset = inputs
        new = _gru_gates(_reset(hidden, reset), step_gates, blocks, recurrent_bias)[0]
        return new, new

    return jax.lax.scan(step, hidden, (gates_in, first))[1]


def _gru_sequence_fwd(gates_in, recurrent_kernel, recurrent_bias, hidden, first):
    blocks = _gate_blocks(recurrent_kernel, 3)

    def step(hidden, inputs):
        step_gates, reset = inputs
        hidden = _reset(hidden, reset)
        new, activations = _gru_gates(hidden, step_gates, blocks, recurrent_bias)
        return new, (new, hidden, activations)

    hiddens, starts, activations = jax.lax.scan(step, hidden, (gates_in, first))[1]
    return hiddens, (recurrent_kernel, starts, activations, first)


def _gru_sequence_bwd(residuals, cotangent):
    recurrent_kernel, starts, activations, first = residuals
    transposed = _transposed_blocks(_gate_blocks(recurrent_kernel, 3))

    def step(later, inputs):
        d_out, start, (r, z, n, recurrent_n), reset = inputs
        d_hidden = d_out + later
        d_n = d_hidden * (1.0 - z) * (1.0 - n * n)
        d_r = d_n * recurrent_n * r * (1.0 - r)
        d_z = d_hidden * (start - n) * z * (1.0 - z)
        earlier = d_hidden * z + _state_cotangent((d_r, d_z, d_n * r), transposed)
        return _reset(earlier, reset), (d_r, d_z, d_n)

    inputs = (cotangent, starts, activations, first)
    d_hidden, d_gates = jax.lax.scan(step, jnp.zeros_like(cotangent[0]), inputs, reverse=True)
    d_recurrent_n = d_gates[2] * activations.r
    d_recurrent = jnp.concatenate([d_gates[0], d_gates[1], d_recurrent_n], axis=-1)
    d_kernel = _kernel_gradient(starts, d_recurrent)
    d_bias = d_recurrent_n.sum(axis=(0, 1))
    return d_gates, d_kernel, d_bias, d_hidden, np.zeros(first.shape, jax.dtypes.float0)


gru_sequence.defvjp(_gru_sequence_fwd, _gru_sequence_bwd)


class SequenceGRU(nn.Module):
    """A GRU run over a whole sequence with resets: `hidden [N, H]`, `x [T, N, F]`,
    `first [T, N]` -> the hidden state after each step `[T, N, H]`, zeroed before step `t`
    wherever `first[t]`. With `next_x [T, N, F]` it also returns one more step from each of
    those states without a reset, fed `next_x[t]` (the truncation bootstrap's input).

    Flax `GRUCell`'s arithmetic and parameters (the tree `ir, iz, in` with biases, `hr, hz`
    without, `hn` with; input kernels LeCun normal, recurrent kernels our LAPACK-free
    `orthogonal`, zero biases), so a model built with it initialises to the same values and
    loads the same checkpoints as one built with `GRUCell` under the same name. Where the
    cell applies six dense layers per step, here the whole sequence's input is projected
    before the scan, each step multiplies the state by the recurrent
    kernels only (`_recurrent_terms`), and the gradient's reverse loop is hand-written
    (`gru_sequence`).
    """

    features: int

    @nn.compact
    def __call__(
        self,
        hidden: jnp.ndarray,
        x: jnp.ndarray,
        first: jnp.ndarray,
        next_x: jnp.ndarray | None = None,
    ):
        def params(name, use_bias, init, in_features):
            return _KernelParams(self.features, use_bias, init, name=name)(in_features)

        lecun = nn.initializers.lecun_normal()
        inputs = [params(name, True, lecun, x.shape[-1]) for name in ("ir", "iz", "in")]
        recurrent = [
            params(name, name == "hn", orthogonal(), self.features) for name in ("hr", "hz", "hn")
        ]
        recurrent_kernel = jnp.concatenate([kernel for kernel, _ in recurrent], axis=-1)
        recurrent_bias = recurrent[2][1]

        def gates_in(x):
            return tuple(x @ kernel + bias for kernel, bias in inputs)

        hiddens = gru_sequence(gates_in(x), recurrent_kernel, recurrent_bias, hidden, first)
        if next_x is None:
            return hiddens
        blocks = _gate_blocks(recurrent_kernel, 3)
        return hiddens, _gru_gates(hiddens, gates_in(next_x), blocks, recurrent_bias)[0]


class ScannedGRUCell(nn.Module):
    """The reference for `SequenceGRU`: flax's `GRUCell` applied step by step under
    `nn.scan`, with the same resets and outputs (to float rounding), as `RecurrentActorCritic`
    ran its GRU before session 16. Slower on XLA:CPU (six dense layers per step and, under
    autodiff, the kernels' gradients inside the loop); kept for the tests and for
    `benchmarks/ued_vmap.py`'s `:flax` modes. Its parameters are `SequenceGRU`'s one level
    deeper, under `cell`."""

    features: int

    @nn.compact
    def __call__(self, hidden, x, first, next_x=None):
        cell = nn.GRUCell(self.features, recurrent_kernel_init=orthogonal(), name="cell")

        def step(cell, hidden, inputs):
            features, reset = inputs
            return cell(_reset(hidden, reset), features)

        scan = nn.scan(step, variable_broadcast="params", split_rngs={"params": False})
        _, hiddens = scan(cell, hidden, (x, first))
        if next_x is None:
            return hiddens
        return hiddens, cell(hiddens, next_x)[0]


CELLS = ("gru", "lstm")
"""The recurrent cells of `RecurrentActorCritic`."""


class RecurrentActorCritic(nn.Module):
    """A recurrent actor-critic: torso -> GRU (Cho et al. 2014) or LSTM (Hochreiter &
    Schmidhuber 1997) -> actor and critic heads.

    The torso (an MLP of `hidden_sizes`, the MinAtar CNN for image observations such as an
    egocentric view, or `MazeConv`, the UED papers' maze torso) embeds each observation; one
    recurrent cell of `gru_size` units, shared by actor and critic, carries what the episode
    has shown so far; each head is one hidden layer of `hidden_sizes[-1]` units and its output
    layer, initialised like `ActorCritic`'s. The recurrent kernels use our LAPACK-free
    `orthogonal` (flax's default is the LAPACK one, see the module doc). With
    `torso="maze_conv"`, `cell="lstm"`, `gru_size=256`, `hidden_sizes=(32,)` and relu this is
    the PLR/robust PLR/ACCEL papers' maze agent (JaxUED's `examples/maze_plr.py`).

    One call runs a whole sequence, `T` steps of `N` envs, as a `scan` over time, and resets
    the state inside that scan wherever `first` is set (where the previous step ended an
    episode, `terminated | truncated`): both the LSTM's cell and hidden state. The rollout
    calls it with `T = 1` step by step; learning calls it once over the rollout from the
    carry the rollout started from, and gets the same outputs (to float rounding).

    Shapes: `carry` is the cell's state for `N` envs (`initial_carry(N)`): the GRU's
    `[N, gru_size]`, the LSTM's `LSTMCarry` of two `[N, gru_size]`. `obs [T, N, *obs_shape]`,
    `first [T, N]` bool. Returns `carries` (the carry after each step, leaves
    `[T, N, gru_size]`; the last step's is the next carry), `pi` with batch shape `[T, N]`
    and `value [T, N]`. With `next_obs [T, N, *obs_shape]` it also returns
    `next_value [T, N]`: the value of `next_obs[t]` fed to the cell after step `t`'s carry
    without a reset, i.e. V(s'_t) of the episode that step `t` belongs to, the bootstrap for
    truncation (`rljax.returns.gae`).
    """

    action: SpaceSpec
    hidden_sizes: Sequence[int] = (128,)
    gru_size: int = 128
    activation: str = "tanh"
    torso: str = "mlp"  # "mlp", "minatar_cnn", "grid_cnn" or "maze_conv"
    obs_ndim: int = 1
    cell: str = "gru"  # "gru" or "lstm"

    def initial_carry(self, num_envs: int) -> Any:
        """The state of a fresh episode in each of `num_envs` envs (zeros)."""
        zeros = jnp.zeros((num_envs, self.gru_size), jnp.float32)
        return LSTMCarry(zeros, zeros) if self.cell == "lstm" else zeros

    @staticmethod
    def last(carries: Any) -> Any:
        """The carry after the last step of `carries` (leaves `[T, ...]` -> `[...]`)."""
        return jax.tree.map(lambda x: x[-1], carries)

    @staticmethod
    def output(carries: Any) -> jnp.ndarray:
        """What the heads read from a carry: the GRU's state, or the LSTM's hidden state."""
        return carries.hidden if isinstance(carries, LSTMCarry) else carries

    @nn.compact
    def __call__(
        self,
        carry: Any,
        obs: jnp.ndarray,
        first: jnp.ndarray,
        next_obs: jnp.ndarray | None = None,
    ):
        torso = _make_torso(self.torso, self.hidden_sizes, self.activation)
        actor_head = MLP(self.hidden_sizes[-1:], self.activation)
        critic_head = MLP(self.hidden_sizes[-1:], self.activation)
        value_layer = dense(1, 1.0)

        def embed(x):
            x = x.astype(jnp.float32)
            if self.torso == "mlp":
                x = x.reshape((*x.shape[: x.ndim - self.obs_ndim], -1))
            return torso(x)

        next_carries = None
        if self.cell == "lstm":
            lstm = SequenceLSTM(self.gru_size)
            if next_obs is None:
                carries = lstm(carry, embed(obs), first)
            else:
                carries, next_carries = lstm(carry, embed(obs), first, embed(next_obs))
        else:
            # Named as flax's cell was: the parameter tree (and so checkpoints) is unchanged.
            gru = SequenceGRU(self.gru_size, name="GRUCell_0")
            if next_obs is None:
                carries = gru(carry, embed(obs), first)
            else:
                carries, next_carries = gru(carry, embed(obs), first, embed(next_obs))
        features = self.output(carries)
        pi = _policy_head(self, actor_head(features), self.action)
        value = value_layer(critic_head(features)).squeeze(-1)
        if next_obs is None:
            return carries, pi, value
        next_value = value_layer(critic_head(self.output(next_carries))).squeeze(-1)
        return carries, pi, value, next_value
