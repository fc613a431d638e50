"""Property: every config class, built from random field values (invalid ones included),
either builds or raises `ConfigError` naming a field of that config and the fix, never
another exception (a TypeError from a comparison, an XLA error, a KeyError)."""

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rljax
from envs.classic import ClassicConfig
from envs.maze import MazeConfig
from rljax.config import ConfigError
from rljax.curricula.accel import ACCELConfig
from rljax.curricula.plr import PLRConfig, RobustPLRConfig
from rljax.curricula.runner import UEDConfig
from rljax.meta.es import ESConfig
from rljax.training import RunOptions

CONFIGS = (
    rljax.PPOConfig,
    rljax.RecurrentPPOConfig,
    rljax.DQNConfig,
    rljax.PQNConfig,
    rljax.SACConfig,
    ESConfig,
    PLRConfig,
    RobustPLRConfig,
    ACCELConfig,
    UEDConfig,
    MazeConfig,
    ClassicConfig,
    RunOptions,
)

VALUES = st.one_of(
    st.integers(-(10**6), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "relu", "CartPole-v1", "brax/ant", "lpo", "Open_ES", "length", "1e-3"]),
    st.text(max_size=6),
    st.none(),
    st.booleans(),
    st.lists(st.integers(-3, 300), max_size=3).map(tuple),
    st.lists(st.tuples(st.sampled_from(["length", "gravity", "x"]), st.floats(), st.floats())).map(
        tuple
    ),
)


def scalar_fields(config_type):
    """The fields a user sets directly (nested configs are tested as their own class)."""
    nested = {"learner", "task_space", "curriculum"}
    return [f.name for f in dataclasses.fields(config_type) if f.name not in nested]


@given(data=st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_config_builds_or_names_the_bad_field(data):
    config_type = data.draw(st.sampled_from(CONFIGS), label="config")
    names = scalar_fields(config_type)
    changes = data.draw(
        st.dictionaries(st.sampled_from(names), VALUES, min_size=1, max_size=2), label="changes"
    )
    try:
        config_type(**changes)
    except ConfigError as error:
        message = str(error)
        # Names the field: `Config.field=value` (a nested config's field where the bad value
        # shows there, e.g. UED's steps_per_eval against its learner's total_timesteps).
        fields = "|".join(f.name for f in dataclasses.fields(config_type))
        assert re.search(rf"\b(\w+\.\w+|{fields})=", message), message
        assert "Fix:" in message or "Did you mean" in message or "Known:" in message, message
        assert "\n" not in message, message  # one line
