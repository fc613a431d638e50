"""Property: every config class, built from random field values (invalid ones included),
either builds or raises `ConfigError` naming a field of that config and the fix, never
another exception (a TypeError from a comparison, an XLA error, a KeyError)."""

import dataclasses
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rljax
from envs.classic import ClassicConfig
from envs.gridworld import GridworldConfig
from envs.maze import MazeConfig
from envs.xland import RulesetConfig, XLandConfig
from rljax.config import ConfigError
from rljax.curricula.accel import ACCELConfig
from rljax.curricula.alp_gmm import ALPGMMConfig
from rljax.curricula.dred import DREDConfig
from rljax.curricula.level_vae import VAEConfig
from rljax.curricula.plr import PLRConfig, RobustPLRConfig
from rljax.curricula.runner import UEDConfig
from rljax.curricula.sfl import SFLConfig
from rljax.meta.es import ESConfig
from rljax.meta.neuroevolution import GAConfig, PolicySearchConfig, WeightsESConfig
from rljax.objectives.lpg import LPGRuleConfig
from rljax.training import RunOptions

CONFIGS = (
    rljax.PPOConfig,
    rljax.RecurrentPPOConfig,
    rljax.DQNConfig,
    rljax.PQNConfig,
    rljax.SACConfig,
    rljax.OffMDPOConfig,
    rljax.A2CConfig,
    rljax.LPGAgentConfig,
    LPGRuleConfig,
    ESConfig,
    GAConfig,
    WeightsESConfig,
    PolicySearchConfig,
    PLRConfig,
    RobustPLRConfig,
    ACCELConfig,
    ALPGMMConfig,
    SFLConfig,
    DREDConfig,
    VAEConfig,
    UEDConfig,
    MazeConfig,
    ClassicConfig,
    XLandConfig,
    GridworldConfig,
    RulesetConfig,
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
    nested = {"learner", "task_space", "curriculum", "rulesets"}
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


AXIS_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda field, values: f"{field}={','.join(values)}",
        st.sampled_from(["learning-rate", "gamma", "num-envs", "env", "clip_eps", "nope", ""]),
        st.lists(
            st.one_of(
                st.sampled_from(["1e-3", "0.5", "nan", "inf", "-1", "abc", "", "2"]),
                st.text(max_size=4),
            ),
            max_size=3,
        ),
    ),
)


@given(text=AXIS_TEXT, algo=st.sampled_from([rljax.PPOConfig, rljax.DQNConfig, rljax.PQNConfig]))
@example(text="num-envs=0\n0", algo=rljax.PPOConfig)  # (a static field's value with a newline)
@settings(max_examples=300, deadline=None)
def test_a_sweep_axis_parses_or_is_refused_with_one_line(text, algo):
    """`--sweep FIELD=V1,V2` (`rljax.sweep.parse_axis`): a traced field's values, each a
    valid config (checked by building it), or a one-line `ConfigError` with the fix."""
    from rljax.sweep import parse_axis

    config = algo()
    try:
        field, values = parse_axis(config, text)
        for value in values:
            config.replace(**{field: value})
    except ConfigError as error:
        assert "Fix:" in str(error) and "\n" not in str(error), str(error)


def _arg_classes():
    import importlib

    lpo = importlib.import_module("experiments.lpo")
    from rljax.experiment import ExperimentArgs

    return (lpo.MetaTrainArgs, lpo.MetaEvalArgs, ExperimentArgs)


@given(data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_command_line_args_class_validates_or_names_the_bad_field(data):
    """The arguments classes of the CLIs outside the configs (`experiments.lpo`'s meta-train
    and meta-eval, every agent CLI's `ExperimentArgs`): random values either validate or raise
    a one-line `ConfigError` naming the field, never another exception."""
    args_type = data.draw(st.sampled_from(_arg_classes()), label="args")
    nested = {"es", "ppo", "task_space"}
    names = [f.name for f in dataclasses.fields(args_type) if f.name not in nested]
    changes = data.draw(
        st.dictionaries(st.sampled_from(names), VALUES, min_size=1, max_size=2), label="changes"
    )
    required = {"drift_params": "missing.npz"} if args_type.__name__ == "MetaEvalArgs" else {}
    try:
        args_type(**{**required, **changes}).validate()
    except ConfigError as error:
        message = str(error)
        fields = "|".join(f.name for f in dataclasses.fields(args_type))
        assert re.search(rf"\b(\w+\.\w+|{fields})=", message), message
        assert "Fix:" in message and "\n" not in message, message
