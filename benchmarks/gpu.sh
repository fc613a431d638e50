#!/usr/bin/env bash
# Every throughput benchmark, on the first machine with a GPU, into one table.
#
#     benchmarks/gpu.sh                 # installs JAX's CUDA wheels into .venv, then runs all
#     QUICK=1 benchmarks/gpu.sh         # tiny shapes, no install: checks the script on a CPU
#     OUT=/tmp/gpu benchmarks/gpu.sh    # where the outputs go (default benchmarks/gpu_results/<time>)
#
# Shapes are GPU-sized (thousands of envs, large populations); each benchmark prints its own
# markdown table, collected with its command into $OUT/table.md; stderr goes to $OUT/<name>.err.
# A benchmark that fails is recorded as failed and the rest still run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
QUICK=${QUICK:-0}
OUT=${OUT:-benchmarks/gpu_results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-.}

if [ "$QUICK" != 1 ]; then
  "$PY" -m pip install -q -U "jax[cuda12]" || { echo "could not install jax[cuda12]" >&2; exit 1; }
  "$PY" -m pip install -q -e ".[bench]" || echo "rejax not installed: peers will be recorded as failed" >&2
fi
"$PY" -c "import jax; print('devices:', jax.devices())" | tee "$OUT/devices.txt"

if [ "$QUICK" = 1 ]; then
  PPO=(--configs 4x16 --updates 2 --repeats 1)
  AGENTS=(--updates 2)
  UED=(--steps 2 --num-levels 4 --methods dr)
  ES=(--population 4 --timesteps 2048)
  ADAPTERS=(--num-envs 16 --steps 8 --rounds 1)
  LPG=(--agents 2 --num-envs 2 --hidden 16 --steps 2)
  COMPILE=(--algos ppo)
  PEERS=(--configs 4x16 --rounds 2)
  VMAP=(--updates 1 --repeats 1 --seeds 2)
  JAXUED=(--num-envs 4 --steps-per-call 1 --rounds 1)
else
  PPO=(--configs 4x128,256x128,2048x128,8192x128)
  AGENTS=(--updates 50)
  UED=(--steps 16 --num-levels 256)
  ES=(--population 64 --timesteps 100000)
  ADAPTERS=(--num-envs 8192 --steps 256)
  LPG=(--agents 64 256 1024 --num-envs 8 --hidden 256)
  COMPILE=()
  PEERS=(--configs 4x128,256x128,2048x128,4x128x16,4x128x1024)
  VMAP=(--updates 4 --repeats 3 --seeds 64)
  JAXUED=(--num-envs 32)
fi

status=0
run() {
  local name=$1
  shift
  echo "== $name: $*" >&2
  {
    echo "## $name"
    echo
    echo "\`$PY $*\`"
    echo
  } >> "$OUT/table.md"
  if "$PY" "$@" > "$OUT/$name.txt" 2> "$OUT/$name.err"; then
    cat "$OUT/$name.txt" >> "$OUT/table.md"  # (each prints its table, some as plain text)
  else
    echo "FAILED (exit $?): see $name.err" >> "$OUT/table.md"
    status=1
  fi
  echo >> "$OUT/table.md"
}

run ppo_throughput benchmarks/ppo_throughput.py "${PPO[@]}"
run agents_throughput benchmarks/agents_throughput.py "${AGENTS[@]}"
run ued_throughput benchmarks/ued_throughput.py "${UED[@]}"
run es_throughput benchmarks/es_throughput.py "${ES[@]}"
run env_adapters benchmarks/env_adapters.py "${ADAPTERS[@]}"
run lpg_meta benchmarks/lpg_meta.py "${LPG[@]}"
run compile_cache benchmarks/compile_cache.py "${COMPILE[@]}"
run peers benchmarks/peers.py "${PEERS[@]}"
run ued_vmap benchmarks/ued_vmap.py "${VMAP[@]}"
run jaxued_maze benchmarks/jaxued_maze.py "${JAXUED[@]}"

echo "table: $OUT/table.md"
exit $status
