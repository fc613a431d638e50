"""A variational auto-encoder over levels, and interpolation in its latent space (for DRED).

DRED (Garcin et al. 2024, "DRED: Zero-Shot Transfer in Reinforcement Learning via
Data-Regularised Environment Design", sec. 4) fits a generative model to a dataset of levels
and makes new levels by decoding points between the encodings of two dataset levels, so the
levels it generates stay near the dataset's distribution. The reference uses a graph VAE over
MiniGrid grids; rljax uses an MLP VAE (Kingma & Welling 2014) over a flat code of the level:

    x = codec.encode(level)                      [d] float32, blocks of 0/1 and one-hots
    q(z | x) = N(mu(x), diag sigma(x)^2)         z [latent_size]
    p(x | z): per block, independent Bernoulli cells or one categorical
    loss = -E_q log p(x | z) + beta * KL(q(z | x) || N(0, I))

A task space opts in with a `LevelCodec`: the code's blocks (`CodeBlock`), `encode(task) ->
x [d]` and `decode(logits [d]) -> task`, a decoder that repairs what it reads into a valid
task (e.g. a maze's goal placed where the start can reach it).

New points between two encodings follow the reference's defaults: spherical interpolation
(slerp; linear where the two means are nearly parallel) of the means, linear interpolation
of the standard deviations, and a sample z = mean + std * eps, at `k` evenly spaced points
including both ends.

Everything is a pure function of explicit keys, so VAE training runs inside a compiled
program (DRED trains it in `init`) and vmaps over seeds. No LAPACK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from rljax import config as cfg

BLOCK_KINDS = ("bernoulli", "categorical")


class CodeBlock(NamedTuple):
    """A run of `size` entries of a level code: `bernoulli` (independent 0/1 cells, e.g. a
    wall map) or `categorical` (a one-hot, e.g. the goal's cell)."""

    kind: str
    size: int


class LevelCodec(Protocol):
    """How a task space turns its tasks into VAE inputs and back."""

    blocks: tuple[CodeBlock, ...]

    def encode(self, task: Any) -> jax.Array:
        """`[d]` float32, d = sum of the block sizes."""
        ...

    def decode(self, logits: jax.Array) -> Any:
        """A valid task from the decoder's logits `[d]`."""
        ...


@dataclass(frozen=True)
class VAEConfig:
    """The level VAE's shape and training (`--curriculum.vae.*`); all static."""

    latent_size: int = 32
    """Dimensions of z."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Encoder MLP widths (the decoder mirrors them)."""
    train_steps: int = 2000
    """Adam steps on the dataset, each on a minibatch drawn with replacement."""
    batch_size: int = 64
    learning_rate: float = 1e-3
    beta: float = 1.0
    """Weight of the KL term."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "latent_size", "train_steps", "batch_size", "learning_rate")
        cfg.check_non_negative(self, "beta")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            cfg.fail(self, "hidden_sizes", "must be one or more positive widths", "e.g. 256 256")


class LevelVAE(nn.Module):
    """Encoder `x [..., d] -> (mean, log_std) [..., latent]`, decoder `z -> logits [..., d]`."""

    code_size: int
    latent_size: int
    hidden_sizes: Sequence[int]

    def setup(self) -> None:
        self.encoder = [nn.Dense(h) for h in self.hidden_sizes]
        self.to_latent = nn.Dense(2 * self.latent_size)
        self.decoder = [nn.Dense(h) for h in reversed(self.hidden_sizes)]
        self.to_logits = nn.Dense(self.code_size)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        for layer in self.encoder:
            x = nn.relu(layer(x))
        mean, log_std = jnp.split(self.to_latent(x), 2, axis=-1)
        return mean, jnp.clip(log_std, -8.0, 4.0)

    def decode(self, z: jax.Array) -> jax.Array:
        for layer in self.decoder:
            z = nn.relu(layer(z))
        return self.to_logits(z)

    def __call__(self, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        mean, log_std = self.encode(x)
        z = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return self.decode(z), mean, log_std


def reconstruction_nll(logits: jax.Array, x: jax.Array, blocks: Sequence[CodeBlock]) -> jax.Array:
    """-log p(x | logits) summed over the blocks, `[...]` for leaves `[..., d]`."""
    total, start = jnp.zeros(x.shape[:-1]), 0
    for block in blocks:
        lg, target = logits[..., start : start + block.size], x[..., start : start + block.size]
        if block.kind == "bernoulli":
            total = total + optax.sigmoid_binary_cross_entropy(lg, target).sum(-1)
        else:
            total = total + optax.softmax_cross_entropy(lg, target)
        start += block.size
    return total


def kl_to_standard_normal(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """KL(N(mean, exp(log_std)^2) || N(0, I)) summed over the last axis."""
    return 0.5 * (jnp.exp(2 * log_std) + mean**2 - 1.0 - 2 * log_std).sum(-1)


class VAEModel(NamedTuple):
    """A trained level VAE: the module (static structure) and its parameters (a pytree)."""

    module: LevelVAE
    params: Any


def make_vae(config: VAEConfig, blocks: Sequence[CodeBlock]) -> LevelVAE:
    for block in blocks:
        if block.kind not in BLOCK_KINDS:
            raise ValueError(f"code block kind {block.kind!r} is not one of {BLOCK_KINDS}")
    return LevelVAE(
        code_size=sum(b.size for b in blocks),
        latent_size=config.latent_size,
        hidden_sizes=tuple(config.hidden_sizes),
    )


def train_vae(
    key: jax.Array, data: jax.Array, blocks: Sequence[CodeBlock], config: VAEConfig
) -> tuple[Any, jax.Array]:
    """Fit the VAE to `data [N, d]` (level codes): `config.train_steps` Adam steps on
    minibatches drawn with replacement. Returns `(params, losses [train_steps])`, the
    per-step mean negative ELBO (nats per level)."""
    module = make_vae(config, blocks)
    init_key, key = jax.random.split(key)
    params = module.init(init_key, data[:1], init_key)
    optimiser = optax.adam(config.learning_rate)

    def loss_fn(params, batch, noise_key):
        logits, mean, log_std = module.apply(params, batch, noise_key)
        nll = reconstruction_nll(logits, batch, blocks)
        return (nll + config.beta * kl_to_standard_normal(mean, log_std)).mean()

    def step(carry, step_key):
        params, opt_state = carry
        batch_key, noise_key = jax.random.split(step_key)
        rows = jax.random.randint(batch_key, (config.batch_size,), 0, data.shape[0])
        loss, grads = jax.value_and_grad(loss_fn)(params, data[rows], noise_key)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    carry = (params, optimiser.init(params))
    (params, _), losses = jax.lax.scan(step, carry, jax.random.split(key, config.train_steps))
    return params, losses


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Spherical interpolation between `z0` and `z1` (`[latent]`) at `t` in [0, 1]
    (Shoemake 1985): sin((1 - t) w) / sin w * z0 + sin(t w) / sin w * z1, w the angle
    between them; linear interpolation where sin w < `eps` (nearly parallel)."""
    cos = jnp.dot(z0, z1) / jnp.maximum(jnp.linalg.norm(z0) * jnp.linalg.norm(z1), 1e-12)
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    sin = jnp.sin(omega)
    parallel = sin < eps
    safe = jnp.where(parallel, 1.0, sin)
    spherical = (jnp.sin((1 - t) * omega) * z0 + jnp.sin(t * omega) * z1) / safe
    return jnp.where(parallel, (1 - t) * z0 + t * z1, spherical)


def interpolate_pairs(
    key: jax.Array,
    mean: jax.Array,
    log_std: jax.Array,
    points: int,
) -> jax.Array:
    """Latents between pairs of encodings: `mean, log_std [2P, latent]` are paired (i,
    2P - 1 - i) as in the reference; each pair gives `points` latents at t evenly spaced in
    [0, 1] (both ends included): slerp of the means, linear interpolation of the standard
    deviations, then z = mean + std * eps. Returns `[P * points, latent]`, pair by pair."""
    pairs = mean.shape[0] // 2
    first, second = jnp.arange(pairs), 2 * pairs - 1 - jnp.arange(pairs)
    t = jnp.linspace(0.0, 1.0, points)
    std = jnp.exp(log_std)

    def pair(i, j):
        means = jax.vmap(lambda s: slerp(mean[i], mean[j], s))(t)
        stds = (1 - t)[:, None] * std[i] + t[:, None] * std[j]
        return means, stds

    means, stds = jax.vmap(pair)(first, second)
    means, stds = means.reshape(-1, mean.shape[-1]), stds.reshape(-1, mean.shape[-1])
    return means + stds * jax.random.normal(key, means.shape)


__all__ = [
    "BLOCK_KINDS",
    "CodeBlock",
    "LevelCodec",
    "LevelVAE",
    "VAEConfig",
    "VAEModel",
    "interpolate_pairs",
    "kl_to_standard_normal",
    "make_vae",
    "reconstruction_nll",
    "slerp",
    "train_vae",
]
