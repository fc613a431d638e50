import contextlib
import os

# Tests run on the CPU, deterministically; a lent GPU is for benchmarks only.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import pytest

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compilations = [0]


def _on_event(event: str, duration: float, **kwargs) -> None:
    if event == _COMPILE_EVENT:
        _compilations[0] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


@contextlib.contextmanager
def _counting():
    counter = {"start": _compilations[0]}

    class Count:
        @property
        def value(self) -> int:
            return _compilations[0] - counter["start"]

    yield Count()


@pytest.fixture
def count_compilations():
    """`with count_compilations() as c: ...; assert c.value == 1` counts XLA compilations."""
    return _counting
