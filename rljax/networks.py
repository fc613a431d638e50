"""Actor-critic networks: MLP torsos for vector observations, the MinAtar CNN for images.

Initialisation follows the PPO implementation details of Engstrom et al. (2020) and Huang et
al. (2022): orthogonal weights with gain sqrt(2) in the torso, 0.01 on the policy head and 1.0
on the value head, zero biases.

Shapes: `obs` is `[..., *obs_shape]`; `apply` returns a distrax distribution with batch shape
`[...]` and a value `[...]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import distrax
import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from rljax.environment import SpaceSpec

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(
        features, kernel_init=nn.initializers.orthogonal(gain), bias_init=nn.initializers.zeros
    )


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
        x = nn.relu(nn.Conv(16, (3, 3), kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
        x = x.reshape((*x.shape[:-3], -1))
        return nn.relu(_dense(128, np.sqrt(2))(x))


class ActorCritic(nn.Module):
    """Separate actor and critic torsos (no shared features), as in the PPO paper's MuJoCo setup.

    For continuous actions the policy is a diagonal Gaussian with a state-independent,
    learned log standard deviation; sampled actions are clipped to the env bounds by the env
    wrapper, not squashed, so the log-probabilities stay exact.
    """

    action: SpaceSpec
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    torso: str = "mlp"  # "mlp" or "minatar_cnn"
    obs_ndim: int = 1  # rank of one observation; leading axes beyond it are batch axes

    def _torso(self) -> nn.Module:
        if self.torso == "minatar_cnn":
            return MinAtarCNN()
        return MLP(self.hidden_sizes, self.activation)

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[distrax.Distribution, jnp.ndarray]:
        obs = obs.astype(jnp.float32)
        if self.torso == "mlp":
            obs = obs.reshape((*obs.shape[: obs.ndim - self.obs_ndim], -1))
        actor = self._torso()(obs)
        if self.action.discrete:
            logits = _dense(self.action.num_actions, 0.01)(actor)
            pi = distrax.Categorical(logits=logits)
        else:
            mean = _dense(self.action.action_dim, 0.01)(actor)
            log_std = self.param("log_std", nn.initializers.zeros, (self.action.action_dim,))
            pi = distrax.MultivariateNormalDiag(mean, jnp.exp(log_std) * jnp.ones_like(mean))
        critic = self._torso()(obs)
        value = _dense(1, 1.0)(critic)
        return pi, value.squeeze(-1)
