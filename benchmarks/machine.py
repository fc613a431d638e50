"""What a benchmark ran on, for the first line of its output.

Ratios between libraries differ by CPU type, not only by load: the same `jaxued_maze.py`
command gave rljax 1.59x JaxUED's steady state on an AMD EPYC (Zen 3, AVX2) and 2.23-2.31x on
an Intel Xeon with AVX-512 and AMX (benchmarks/RESULTS.md, "The UED papers' maze
agent"), and earlier rows of RESULTS.md could not say which CPU they ran on. So each timing
benchmark prints `describe()` first (peers, jaxued_maze, ppo_throughput,
agents_throughput, lpg_meta, cpu_random).
"""

from __future__ import annotations

import os
import platform

import jax

# Vector-ISA flags of /proc/cpuinfo that change XLA:CPU's kernels, widest first.
_ISA_FLAGS = ("amx_tile", "avx512_fp16", "avx512f", "avx2")


def cpu() -> str:
    """`"<model name> (family F model M), <n> cores, <ISA flags>"` from /proc/cpuinfo
    (Linux; virtual machines often name only the vendor, so the family and model numbers
    identify the generation); elsewhere `platform.processor()` and the core count."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not line.strip():
                    break  # the first processor's block is enough
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        model += f" (family {fields['cpu family']} model {fields['model']})"
    flags = set(fields.get("flags", "").split())
    isa = [flag for flag in _ISA_FLAGS if flag in flags]
    return f"{model}, {os.cpu_count()} cores" + (f", {' '.join(isa)}" if isa else "")


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, e.g. `"0.35 0.80 1.60"`."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe() -> str:
    """One line: the device JAX runs on, the CPU, JAX's version and the load average."""
    device = jax.devices()[0]
    return (
        f"device: {device.device_kind} ({jax.default_backend()}); CPU: {cpu()}; "
        f"jax {jax.__version__}; load {load_average()}"
    )
