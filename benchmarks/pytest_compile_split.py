"""A pytest plugin: where each test's time goes, tracing, lowering, XLA compile or the rest
(running the compiled programs, and Python). One line per test, appended to the file named by
`RLJAX_COMPILE_SPLIT` (default `compile_split.txt`):

    PYTHONPATH=.:benchmarks .venv/bin/python -m pytest -p pytest_compile_split tests/test_ued.py
    sort -rn compile_split.txt | head

Each line: the test's call time in seconds, then the seconds of JAX's trace
(`/jax/core/compile/jaxpr_trace_duration`), lowering (`jaxpr_to_mlir_module_duration`) and
XLA compile (`backend_compile_duration`) events during it, the rest, and the test's id.
Programs compiled in subprocesses (CLI tests, notebooks) are not seen: they count as rest.
With xdist each worker appends its own lines to the same file.

With `RLJAX_COMPILE_HASHES=FILE` as well, every XLA compile in the process appends a line to
FILE: a hash of the compiled module (debug info stripped, so the same program from another
call site hashes the same), its seconds, and the test running (setup included). The seconds
spent compiling a module that an earlier compile in the run had already compiled:

    awk '{n[$1]++; s[$1]+=$2} END {for (h in n) if (n[h] > 1) w += s[h] * (n[h] - 1) / n[h];
         print w + 0}' FILE
"""

from __future__ import annotations

import hashlib
import os
import time

import jax
import pytest

_PREFIX = "/jax/core/compile/"
_seconds: dict[str, float] = {}


def _on_event(event: str, duration: float, **kwargs) -> None:
    if event.startswith(_PREFIX):
        name = event.removeprefix(_PREFIX)
        _seconds[name] = _seconds.get(name, 0.0) + duration


jax.monitoring.register_event_duration_secs_listener(_on_event)

_running = ["(collection)"]

if os.environ.get("RLJAX_COMPILE_HASHES"):
    from jax._src import compiler

    _compile = compiler.compile_or_get_cached

    def _hashed(backend, computation, *args, **kwargs):
        text = computation.operation.get_asm(enable_debug_info=False)
        start = time.perf_counter()
        out = _compile(backend, computation, *args, **kwargs)
        line = (
            f"{hashlib.sha1(text.encode()).hexdigest()[:16]} "
            f"{time.perf_counter() - start:.3f} {_running[0]}\n"
        )
        with open(os.environ["RLJAX_COMPILE_HASHES"], "a") as f:
            f.write(line)
        return out

    compiler.compile_or_get_cached = _hashed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running[0] = item.nodeid
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _seconds.clear()
    start = time.perf_counter()
    yield
    wall = time.perf_counter() - start
    trace = _seconds.get("jaxpr_trace_duration", 0.0)
    lower = _seconds.get("jaxpr_to_mlir_module_duration", 0.0)
    compile_ = _seconds.get("backend_compile_duration", 0.0)
    rest = wall - trace - lower - compile_
    line = (
        f"{wall:7.1f} trace {trace:6.1f} lower {lower:6.1f} compile {compile_:6.1f} "
        f"rest {rest:6.1f} {item.nodeid}\n"
    )
    with open(os.environ.get("RLJAX_COMPILE_SPLIT", "compile_split.txt"), "a") as f:
        f.write(line)
