import atexit
import contextlib
import os
import shutil
import tempfile

# Tests run on the CPU, deterministically; a lent GPU is for benchmarks only.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The CLI's default persistent compilation cache is `~/.cache/rljax/xla`: a test that runs a
# command without `--compilation-cache` turned it on for the rest of its worker, so the
# suite wrote to the user's cache and later runs loaded programs from it (a local run then
# compiles less than CI's on a fresh machine). Each run gets its own empty folder instead,
# made here by the controller (xdist workers, CLI subprocesses and notebook kernels inherit
# the variable) and removed when the run ends.
if "RLJAX_COMPILATION_CACHE" not in os.environ:
    _run_cache = tempfile.mkdtemp(prefix="rljax-tests-xla-")
    os.environ["RLJAX_COMPILATION_CACHE"] = _run_cache
    atexit.register(shutil.rmtree, _run_cache, ignore_errors=True)
# The suite is compile-bound. XLA:CPU's LLVM at optimisation level 1 (the default is 2)
# compiled the UED loop's chunk tests 23% faster (71 s -> 55 s) and ran DQN's CartPole
# learning check at the same speed (41.5 s -> 40.1 s); level 0 compiles faster still but ran
# that check 2x slower. Numerics differ from level 2 in the last bits only (the same evaluation
# returns on a 20k-step PPO run). Subprocesses inherit it (their tests append device counts).
# XLA:CPU's FAST_COMPILE preset (compile time favoured over run time) cut the compile time
# of the UED chunk and PPO learning checks 15% more (52 s -> 44 s over six tests, 2
# alternated runs each) and ran them no slower (21.2 s -> 20.3 s); the whole suite 33:40 ->
# 28:59. Numerics differ in the last bits, as with the level above, which moves the outcome
# of chaotic learning checks (benchmarks/RESULTS.md, "Test suite", session 29).
# Each is added unless XLA_FLAGS already names it.
os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", "")]
    + [
        flag
        for flag in ("--xla_backend_optimization_level=1", "--xla_cpu_opt_preset=FAST_COMPILE")
        if flag.split("=")[0] not in os.environ.get("XLA_FLAGS", "")
    ]
).strip()

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


# Measured values in the run's summary: a learning check's per-seed returns (through
# `agent_contract.report`) are printed after the results, so a passing run records its
# numbers. They travel as user properties (pytest-xdist carries those to the controller,
# and `--junitxml` writes them).
_MEASURED_PREFIX = "measured:"
_measured: list[str] = []


@pytest.fixture(autouse=True)
def _record_measurements(record_property):
    from tests import agent_contract  # the one import path test files use

    agent_contract.RECORD[0] = record_property
    yield
    agent_contract.RECORD[0] = None


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if isinstance(name, str) and name.startswith(_MEASURED_PREFIX):
            _measured.append(f"{report.nodeid}: {name.removeprefix(_MEASURED_PREFIX)} {value}")


def pytest_terminal_summary(terminalreporter):
    if _measured:
        terminalreporter.section("measured values")
        for line in _measured:
            terminalreporter.write_line(line)
