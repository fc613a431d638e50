"""Actor-critic networks: MLP torsos for vector observations, the MinAtar CNN for images,
`GridCNN` for symbolic grid views (XLand-MiniGrid), and a GRU actor-critic for partially
observed tasks (`RecurrentActorCritic`).

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

from collections.abc import Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# At import time, not inside a traced `__call__`: a first import of xminigrid inside a trace
# leaks tracers into its module-level arrays.
from xminigrid.core.constants import NUM_COLORS, NUM_TILES

from rljax.environment import SpaceSpec

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def orthogonal(scale: float = 1.0):
    """Haar-random orthogonal initialiser (Saxe et al. 2014) without LAPACK.

    Flattens the kernel to `[fan_in, fan_out]` (all but the last axis are fan-in), draws a
    Gaussian matrix and orthonormalises its columns (of the taller orientation) by
    Gram-Schmidt, twice for numerical safety. Equivalent to QR with the sign of diag(R) fixed
    positive, which is what makes the result Haar-distributed.
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

    return init


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)


def _policy_head(module: nn.Module, features: jnp.ndarray, action: SpaceSpec):
    """The policy of an actor-critic from its features `[..., F]`, as a distribution with
    batch shape `[...]`: categorical logits, or a diagonal Gaussian whose log standard
    deviation is a state-independent parameter `log_std` of `module`. Called inside
    `module`'s compact method, so the layers it makes belong to `module`."""
    if action.discrete:
        return distrax.Categorical(logits=_dense(action.num_actions, 0.01)(features))
    mean = _dense(action.action_dim, 0.01)(features)
    log_std = module.param("log_std", nn.initializers.zeros, (action.action_dim,))
    return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std) * jnp.ones_like(mean))


class MLP(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        act = _ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(_dense(size, np.sqrt(2))(x))
        return x


class MinAtarCNN(nn.Module):
    """A 3x3 conv with 16 channels, then 128 units, as in MinAtar (Young & Tian 2019)."""

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = nn.relu(nn.Conv(16, (3, 3), kernel_init=orthogonal(np.sqrt(2)))(x))
        x = x.reshape((*x.shape[:-3], -1))
        return nn.relu(_dense(128, np.sqrt(2))(x))


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
            x = self._hidden(_patches_2x2(x), _dense(channels, np.sqrt(2)))
        x = x.reshape((*x.shape[:-3], -1))
        return self._hidden(x, _dense(128, np.sqrt(2)))


def _patches_2x2(x: jnp.ndarray) -> jnp.ndarray:
    """`[..., H, W, C] -> [..., H-1, W-1, 4C]`: each cell's 2x2 neighbourhood (itself, right,
    below, below-right) stacked on the channel axis. A dense layer over it is a 2x2 conv
    without padding, and XLA:CPU runs it faster than its conv at these small shapes: recurrent
    PPO on MiniGrid-Empty-8x8 trained at 4,300 env steps/s against 1,500 with `nn.Conv`."""
    return jnp.concatenate(
        [x[..., :-1, :-1, :], x[..., :-1, 1:, :], x[..., 1:, :-1, :], x[..., 1:, 1:, :]], axis=-1
    )


def _make_torso(torso: str, hidden_sizes: Sequence[int], activation: str) -> nn.Module:
    """`minatar_cnn` for image observations, `grid_cnn` for symbolic grid views, else an MLP
    of `hidden_sizes`."""
    if torso == "minatar_cnn":
        return MinAtarCNN()
    if torso == "grid_cnn":
        return GridCNN()
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
        value = _dense(1, 1.0)(critic)
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
            x = self._hidden(x, nn.Conv(16, (3, 3), kernel_init=orthogonal(np.sqrt(2))))
            x = x.reshape((*x.shape[:-3], -1))
            x = self._hidden(x, _dense(128, np.sqrt(2)))
        elif self.torso == "grid_cnn":
            x = GridCNN(layer_norm=self.layer_norm)(x)
        else:
            x = x.reshape((*x.shape[: x.ndim - self.obs_ndim], -1))
            for size in self.hidden_sizes:
                x = self._hidden(x, _dense(size, np.sqrt(2)))
        return _dense(self.num_actions, 1.0)(x)


def _gru_step(cell: nn.GRUCell, hidden: jnp.ndarray, inputs: tuple[jnp.ndarray, jnp.ndarray]):
    """One GRU step that first resets `hidden [N, H]` to zeros where `first [N]`: the step
    before ended an episode, so nothing may be remembered across the boundary."""
    features, first = inputs
    hidden = jnp.where(first[..., None], jnp.zeros_like(hidden), hidden)
    return cell(hidden, features)


class RecurrentActorCritic(nn.Module):
    """A GRU actor-critic: torso -> GRU (Cho et al. 2014) -> actor and critic heads.

    The torso (an MLP of `hidden_sizes`, or the MinAtar CNN for image observations such as
    an egocentric view) embeds each observation; one GRU, shared by actor and critic, carries
    what the episode has shown so far; each head is one hidden layer of `hidden_sizes[-1]`
    units and its output layer, initialised like `ActorCritic`'s. The GRU's recurrent kernel
    uses our LAPACK-free `orthogonal` (flax's default is the LAPACK one, see the module doc).

    One call runs a whole sequence, `T` steps of `N` envs, as a `scan` over time, and resets
    the hidden state inside that scan wherever `first` is set (where the previous step ended
    an episode, `terminated | truncated`). The rollout calls it with `T = 1` step by step;
    learning calls it once over the rollout from the hidden state the rollout started from,
    and gets the same outputs (to float rounding).

    Shapes: `carry [N, gru_size]`, `obs [T, N, *obs_shape]`, `first [T, N]` bool. Returns
    `hiddens [T, N, gru_size]` (the carry after each step; `hiddens[-1]` is the next carry),
    `pi` with batch shape `[T, N]` and `value [T, N]`. With `next_obs [T, N, *obs_shape]` it
    also returns `next_value [T, N]`: the value of `next_obs[t]` fed to the GRU after
    `hiddens[t]` without a reset, i.e. V(s'_t) of the episode that step `t` belongs to, the
    bootstrap for truncation (`rljax.returns.gae`).
    """

    action: SpaceSpec
    hidden_sizes: Sequence[int] = (128,)
    gru_size: int = 128
    activation: str = "tanh"
    torso: str = "mlp"  # "mlp", "minatar_cnn" or "grid_cnn"
    obs_ndim: int = 1

    def initial_carry(self, num_envs: int) -> jnp.ndarray:
        """The hidden state of a fresh episode, `[num_envs, gru_size]`."""
        return jnp.zeros((num_envs, self.gru_size), jnp.float32)

    @nn.compact
    def __call__(
        self,
        carry: jnp.ndarray,
        obs: jnp.ndarray,
        first: jnp.ndarray,
        next_obs: jnp.ndarray | None = None,
    ):
        torso = _make_torso(self.torso, self.hidden_sizes, self.activation)
        cell = nn.GRUCell(self.gru_size, recurrent_kernel_init=orthogonal())
        actor_head = MLP(self.hidden_sizes[-1:], self.activation)
        critic_head = MLP(self.hidden_sizes[-1:], self.activation)
        value_layer = _dense(1, 1.0)

        def embed(x):
            x = x.astype(jnp.float32)
            if self.torso == "mlp":
                x = x.reshape((*x.shape[: x.ndim - self.obs_ndim], -1))
            return torso(x)

        scan = nn.scan(_gru_step, variable_broadcast="params", split_rngs={"params": False})
        _, hiddens = scan(cell, carry, (embed(obs), first))
        pi = _policy_head(self, actor_head(hiddens), self.action)
        value = value_layer(critic_head(hiddens)).squeeze(-1)
        if next_obs is None:
            return hiddens, pi, value
        _, next_hiddens = cell(hiddens, embed(next_obs))
        next_value = value_layer(critic_head(next_hiddens)).squeeze(-1)
        return hiddens, pi, value, next_value
