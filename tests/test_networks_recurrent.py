"""The recurrent actor-critic's cells and the UED papers' maze torso (`rljax.networks`):
shapes, the reset of both LSTM states where `first` is set, the LSTM's arithmetic against
flax's cell, the GRU's parameters, outputs and gradients against flax's `GRUCell` scanned step
by step, and the hand-written gradients against autodiff."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax.networks
from rljax.environment import SpaceSpec
from rljax.networks import (
    LSTMCarry,
    MazeConv,
    RecurrentActorCritic,
    ScannedGRUCell,
    SequenceGRU,
    SequenceLSTM,
    _lstm_scan,
    lstm_sequence,
    maze_observation_problem,
)

ACTIONS = SpaceSpec(discrete=True, num_actions=3)


def maze_obs(key, shape):
    """Random maze observations `[*shape, 5, 5, 6]`: wall and goal planes, then a direction
    one-hot repeated over the view, as `envs.maze.env.observe` builds them."""
    view_key, dir_key = jax.random.split(key)
    planes = jax.random.bernoulli(view_key, 0.3, (*shape, 5, 5, 2)).astype(jnp.float32)
    direction = jax.nn.one_hot(jax.random.randint(dir_key, shape, 0, 4), 4)
    direction = jnp.broadcast_to(direction[..., None, None, :], (*shape, 5, 5, 4))
    return jnp.concatenate([planes, direction], axis=-1)


def test_maze_conv_shapes_and_reads_the_direction_from_the_planes():
    obs = maze_obs(jax.random.PRNGKey(0), (7, 3))
    torso = MazeConv()
    params = torso.init(jax.random.PRNGKey(1), obs)
    features = torso.apply(params, obs)
    assert features.shape == (7, 3, 16 * 3 * 3 + 5)  # a 3x3 conv of 16 without padding, + 5
    p = params["params"]
    assert p["Conv_0"]["kernel"].shape == (3, 3, 2, 16)  # over the wall and goal planes only
    assert p["Dense_0"]["kernel"].shape == (4, 5)  # the direction's one-hot -> 5 units
    # The direction embedding is the kernel row of the direction the planes show.
    direction = jnp.argmax(obs[..., 0, 0, 2:], axis=-1)
    expected = p["Dense_0"]["kernel"][direction] + p["Dense_0"]["bias"]
    np.testing.assert_allclose(features[..., -5:], expected, rtol=1e-6)
    # The view features are flax's 3x3 conv without padding (same parameters), then relu.
    conv = nn.Conv(16, (3, 3), padding="VALID").apply({"params": p["Conv_0"]}, obs[..., :2])
    np.testing.assert_allclose(
        features[..., :-5], nn.relu(conv).reshape((7, 3, -1)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("shape", "ok"),
    [((5, 5, 6), True), ((3, 3, 5), True), ((7, 7, 24), True), ((4,), False), ((5, 5, 4), False)],
)
def test_maze_observation_problem(shape, ok):
    assert (maze_observation_problem(shape) is None) == ok


def test_lstm_matches_flax_lstm_cell_arithmetic():
    """`SequenceLSTM` is flax's `LSTMCell` (gates i, f, g, o) with fused kernels: the same
    weights give the same states, step by step."""
    steps, envs, features, size = 4, 3, 6, 8
    x = jax.random.normal(jax.random.PRNGKey(0), (steps, envs, features))
    carry = LSTMCarry(*jax.random.normal(jax.random.PRNGKey(1), (2, envs, size)))
    no_reset = jnp.zeros((steps, envs), bool)
    lstm = SequenceLSTM(size)
    params = lstm.init(jax.random.PRNGKey(2), carry, x, no_reset)["params"]
    carries = lstm.apply({"params": params}, carry, x, no_reset)
    cell = nn.LSTMCell(size)
    flax_params = {}
    for gate, name in enumerate("ifgo"):
        cols = slice(gate * size, (gate + 1) * size)
        flax_params[f"i{name}"] = {"kernel": params["input_kernel"][:, cols]}
        flax_params[f"h{name}"] = {
            "kernel": params["recurrent_kernel"][:, cols],
            "bias": params["bias"][cols],
        }
    state = before = (carry.cell, carry.hidden)
    for t in range(steps):
        state, _ = cell.apply({"params": flax_params}, state, x[t])
        np.testing.assert_allclose(carries.cell[t], state[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(carries.hidden[t], state[1], rtol=1e-5, atol=1e-6)
        # One step at a time (acting: the fused kernels, `_step_weights`), from the same state.
        one = lstm.apply({"params": params}, LSTMCarry(*before), x[t : t + 1], no_reset[:1])
        np.testing.assert_allclose(one.cell[0], state[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(one.hidden[0], state[1], rtol=1e-5, atol=1e-6)
        before = state


def test_lstm_sequence_gradient_matches_autodiff():
    """The hand-written reverse loop (`lstm_sequence`) against autodiff of the same scan, with
    resets, under vmap too, for every input that has a gradient."""
    steps, envs, size = 9, 4, 8
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    gates_in = tuple(jax.random.normal(keys[0], (4, steps, envs, size)))
    kernel = jax.random.normal(keys[1], (size, 4 * size)) / np.sqrt(size)
    carry = LSTMCarry(*jax.random.normal(keys[2], (2, envs, size)))
    first = jax.random.bernoulli(keys[3], 0.2, (steps, envs)).at[4, 1].set(True)
    weights = LSTMCarry(*jax.random.normal(keys[4], (2, steps, envs, size)))

    def loss(core, gates_in, kernel, carry):
        out = core(gates_in, kernel, carry, first)
        return sum(jnp.sum(jnp.tanh(a) * w) for a, w in zip(out, weights, strict=True))

    def autodiff_core(gates_in, kernel, carry, first):
        return _lstm_scan(gates_in, kernel, carry, first)[0]

    args = (gates_in, kernel, carry)
    mine = jax.jit(jax.grad(lambda *a: loss(lstm_sequence, *a), argnums=(0, 1, 2)))(*args)
    reference = jax.grad(lambda *a: loss(autodiff_core, *a), argnums=(0, 1, 2))(*args)
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # vmapped over a batch of kernels (as over seeds)
    kernels = jnp.stack([kernel, 0.5 * kernel])
    grad_kernel = jax.vmap(jax.grad(lambda k: loss(lstm_sequence, gates_in, k, carry)))(kernels)
    for i in range(2):
        expected = jax.grad(lambda k: loss(autodiff_core, gates_in, k, carry))(kernels[i])
        np.testing.assert_allclose(grad_kernel[i], expected, rtol=1e-5, atol=1e-6)


def test_lstm_actor_critic_resets_both_states_exactly_where_first_is_set():
    network = RecurrentActorCritic(
        ACTIONS, (32,), gru_size=16, activation="relu", torso="maze_conv", obs_ndim=3, cell="lstm"
    )
    steps, envs, boundary = 7, 3, 3
    obs = maze_obs(jax.random.PRNGKey(1), (steps, envs))
    carry = LSTMCarry(*jax.random.normal(jax.random.PRNGKey(2), (2, envs, 16)))
    no_reset = jnp.zeros((steps, envs), bool)
    params = jax.jit(network.init)(jax.random.PRNGKey(0), carry, obs, no_reset)
    assert jax.tree.map(jnp.shape, network.initial_carry(envs)) == LSTMCarry((envs, 16), (envs, 16))
    apply = jax.jit(network.apply)
    first = no_reset.at[boundary, 1].set(True)
    carries, pi, value = apply(params, carry, obs, first)
    assert carries.cell.shape == carries.hidden.shape == (steps, envs, 16)
    assert pi.logits.shape == (steps, envs, 3) and value.shape == (steps, envs)
    plain, _, _ = apply(params, carry, obs, no_reset)
    fresh, _, fresh_value = apply(
        params, network.initial_carry(envs), jnp.roll(obs, -boundary, axis=0), no_reset
    )
    rest = steps - boundary
    for state in ("cell", "hidden"):  # both states restart from zero at the boundary
        got, clean, start = (getattr(c, state) for c in (carries, plain, fresh))
        np.testing.assert_allclose(got[boundary:, 1], start[:rest, 1], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(got[:boundary], clean[:boundary])
        np.testing.assert_array_equal(got[:, [0, 2]], clean[:, [0, 2]])
        assert not np.allclose(clean[boundary:, 1], start[:rest, 1])
    np.testing.assert_allclose(value[boundary:, 1], fresh_value[:rest, 1], atol=1e-6)


def test_next_value_is_one_step_from_each_carry_without_reset():
    network = RecurrentActorCritic(ACTIONS, (8,), gru_size=8, cell="lstm")
    steps, envs = 5, 2
    obs = jax.random.normal(jax.random.PRNGKey(0), (steps, envs, 4))
    next_obs = jax.random.normal(jax.random.PRNGKey(1), (steps, envs, 4))
    first = jnp.zeros((steps, envs), bool).at[2, 0].set(True)
    carry = network.initial_carry(envs)
    params = network.init(jax.random.PRNGKey(2), carry, obs, first)
    carries, _, _, next_value = network.apply(params, carry, obs, first, next_obs)
    for t in range(steps):
        step_carry = jax.tree.map(lambda c, t=t: c[t], carries)
        _, _, v = network.apply(params, step_carry, next_obs[t][None], jnp.zeros((1, envs), bool))
        np.testing.assert_allclose(next_value[t], v[0], rtol=1e-5, atol=1e-6)


class _GRU(nn.Module):
    """A GRU cell class under the name `RecurrentActorCritic` gives its GRU."""

    cell: type

    @nn.compact
    def __call__(self, hidden, x, first, next_x):
        return self.cell(6, name="GRUCell_0")(hidden, x, first, next_x)


def test_sequence_gru_is_flax_gru_cell_with_its_parameters_outputs_and_gradients():
    """`SequenceGRU` against `ScannedGRUCell` (flax's `GRUCell` under `nn.scan`, the cell
    `RecurrentActorCritic` used before): the same parameter tree and initial values, the same
    states with resets and the same bootstrap step, and the same gradient for every
    parameter and input, under vmap too."""
    steps, envs, features = 9, 4, 5
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    x = jax.random.normal(keys[0], (steps, envs, features))
    next_x = jax.random.normal(keys[1], (steps, envs, features))
    first = jax.random.bernoulli(keys[2], 0.2, (steps, envs)).at[4, 1].set(True)
    hidden = jax.random.normal(keys[3], (envs, 6))
    weights = jax.random.normal(keys[4], (2, steps, envs, 6))
    mine, reference = _GRU(SequenceGRU), _GRU(ScannedGRUCell)
    params = mine.init(jax.random.PRNGKey(1), hidden, x, first, next_x)["params"]
    flax_params = reference.init(jax.random.PRNGKey(1), hidden, x, first, next_x)["params"]
    # flax's own cell (one level deeper in the reference) draws the same initial values
    flax_cell = nn.GRUCell(6, recurrent_kernel_init=rljax.networks.orthogonal())
    assert jax.tree.structure(params["GRUCell_0"]) == jax.tree.structure(
        flax_params["GRUCell_0"]["cell"]
    )
    cell_params = flax_cell.init(jax.random.PRNGKey(2), hidden, x[0])["params"]
    assert jax.tree.structure(cell_params) == jax.tree.structure(params["GRUCell_0"])

    def as_reference(p):
        return {"GRUCell_0": {"cell": p["GRUCell_0"]}}

    def loss(model, p, hidden, x):
        hiddens, bootstrap = model.apply({"params": p}, hidden, x, first, next_x)
        return jnp.sum(jnp.tanh(hiddens) * weights[0]) + jnp.sum(bootstrap * weights[1])

    out = mine.apply({"params": params}, hidden, x, first, next_x)
    expected = reference.apply({"params": as_reference(params)}, hidden, x, first, next_x)
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the state restarts from zero where first is set: step 4 of env 1 as a fresh sequence
    later = first[4:].at[0].set(False)  # the resets after step 4 stay
    fresh = mine.apply({"params": params}, jnp.zeros_like(hidden), x[4:], later, next_x[4:])
    np.testing.assert_allclose(out[0][4:, 1], fresh[0][:, 1], rtol=1e-5, atol=1e-6)

    grads = jax.jit(jax.grad(lambda *a: loss(mine, *a), argnums=(0, 1, 2)))(params, hidden, x)
    ref = jax.grad(lambda p, h, x: loss(reference, as_reference(p), h, x), argnums=(0, 1, 2))(
        params, hidden, x
    )
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # vmapped over a batch of parameters (as over seeds)
    batch = jax.tree.map(lambda v: jnp.stack([v, 0.5 * v]), params)
    batched = jax.vmap(jax.grad(lambda p: loss(mine, p, hidden, x)))(batch)
    for i in range(2):
        one = jax.tree.map(lambda v, i=i: v[i], batch)
        expected = jax.grad(lambda p: loss(reference, as_reference(p), hidden, x))(one)
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-4, atol=1e-6)
