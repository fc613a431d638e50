#!/usr/bin/env bash
# Every throughput benchmark, on the first machine with a GPU, into one table.
#
#     benchmarks/gpu.sh                 # installs JAX's CUDA wheels into .venv, then runs all
#     QUICK=1 benchmarks/gpu.sh         # tiny shapes, no install: checks the script on a CPU
#     DEST=/tmp/gpu benchmarks/gpu.sh   # where the outputs go (default benchmarks/gpu_results/<time>)
#     ONLY="peers jaxued_maze" benchmarks/gpu.sh   # a subset, in the order given
#     ONLY="brax_preset" PER=560 benchmarks/gpu.sh  # a preset at its published budget
#
# Besides the throughput benchmarks (the default), ONLY takes three learning runs that a CPU
# cannot afford, the presets' published budgets of issue #13's table (3 seeds each, through
# the experiment CLI; their run folders, eval.json included, land under $DEST/runs):
# brax_preset (PPO `brax`, hopper, 5e7 steps), ppo_minatar_preset and pqn_minatar_preset
# (Asterix, 1e7 steps).
#
# On the `device` tool's lent machine (no package index there; its python3 holds JAX with
# CUDA): first, here, `benchmarks/gpu_wheels.sh` (the RL packages it lacks, into .whl/), then
#
#     run(command="BUDGET=480 DEST=/tmp/gpu benchmarks/gpu.sh; cp /tmp/gpu/table.md $OUT/;
#                  tar czf $OUT/gpu.tgz -C /tmp gpu", carry=[".whl"], timeout_s=590)
#
# (That machine's $OUT returns at most 8 files, hence DEST and the tarball.) With .whl/
# present (and not QUICK; WHEELS=1 forces it, WHEELS=0 skips it) the script installs those
# wheels into /tmp/site (--no-index --no-deps) and runs python3 (PY overrides). BUDGET
# (seconds, default none) caps the whole run: each benchmark gets PER seconds (default 150)
# or what is left, whichever is less, and one that runs out is recorded as failed.
#
# Shapes are GPU-sized (thousands of envs, large populations); each benchmark prints its own
# markdown table, collected with its command into $DEST/table.md; stderr goes to
# $DEST/<name>.err.
# A benchmark that fails is recorded as failed and the rest still run.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
DEST=${DEST:-benchmarks/gpu_results/$(date +%Y%m%d-%H%M%S)}
PER=${PER:-150}
BUDGET=${BUDGET:-0}
START=$(date +%s)
mkdir -p "$DEST"
export PYTHONPATH=${PYTHONPATH:-.}

WHEELS=${WHEELS:-$([ -d .whl ] && [ "$QUICK" != 1 ] && echo 1 || echo 0)}
if [ "$WHEELS" = 1 ]; then
  PY=${PY:-python3}
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "could not install .whl/" >&2; exit 1; }
  export PYTHONPATH=/tmp/site:$PYTHONPATH
elif [ "$QUICK" != 1 ]; then
  PY=${PY:-.venv/bin/python}
  "$PY" -m pip install -q -U "jax[cuda12]" || { echo "could not install jax[cuda12]" >&2; exit 1; }
  "$PY" -m pip install -q -e ".[bench]" || echo "rejax not installed: peers will be recorded as failed" >&2
else
  PY=${PY:-.venv/bin/python}
fi
"$PY" -c "import jax; print('jax', jax.__version__, 'devices:', jax.devices())" | tee "$DEST/devices.txt"

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
# .whl/ carries no MuJoCo Playground (benchmarks/gpu_wheels.sh): xminigrid's rows only.
[ "$WHEELS" = 1 ] && ADAPTERS+=(--playground-envs)

status=0
run() {
  local name=$1
  shift
  local limit=$PER
  if [ "$BUDGET" -gt 0 ]; then
    local left=$((BUDGET - ($(date +%s) - START)))
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  echo "== $name (${limit}s at most): $*" >&2
  {
    echo "## $name"
    echo
    echo "\`$PY $*\`"
    echo
  } >> "$DEST/table.md"
  if [ "$limit" -le 10 ]; then
    echo "SKIPPED: out of BUDGET" >> "$DEST/table.md"
    status=1
  elif timeout "$limit" "$PY" "$@" > "$DEST/$name.txt" 2> "$DEST/$name.err"; then
    cat "$DEST/$name.txt" >> "$DEST/table.md"  # (each prints its table, some as plain text)
  else
    local code=$?
    cat "$DEST/$name.txt" >> "$DEST/table.md"
    echo "FAILED (exit $code$([ $code = 124 ] && echo ': out of time')): see $name.err" >> "$DEST/table.md"
    status=1
  fi
  echo >> "$DEST/table.md"
}

PRESET_RUN="--seeds 3 --no-progress --out-dir $DEST/runs"
declare -A ARGS=(
  [peers]="benchmarks/peers.py ${PEERS[*]}"
  [peers_global_norm]="benchmarks/peers.py ${PEERS[*]} --rljax-clip global_norm"
  [jaxued_maze]="benchmarks/jaxued_maze.py ${JAXUED[*]}"
  [ppo_throughput]="benchmarks/ppo_throughput.py ${PPO[*]}"
  [ued_vmap]="benchmarks/ued_vmap.py ${VMAP[*]}"
  [agents_throughput]="benchmarks/agents_throughput.py ${AGENTS[*]}"
  [ued_throughput]="benchmarks/ued_throughput.py ${UED[*]}"
  [es_throughput]="benchmarks/es_throughput.py ${ES[*]}"
  [env_adapters]="benchmarks/env_adapters.py ${ADAPTERS[*]}"
  [lpg_meta]="benchmarks/lpg_meta.py ${LPG[*]}"
  [compile_cache]="benchmarks/compile_cache.py ${COMPILE[*]}"
  [brax_preset]="-m experiments.ppo --preset brax $PRESET_RUN"
  [ppo_minatar_preset]="-m experiments.ppo --preset minatar $PRESET_RUN"
  [pqn_minatar_preset]="-m experiments.pqn --preset minatar $PRESET_RUN"
)
# Issue #18's comparisons first: a BUDGET that runs out cuts the tail.
ORDER="peers jaxued_maze ppo_throughput ued_vmap agents_throughput ued_throughput es_throughput env_adapters lpg_meta compile_cache peers_global_norm"
for name in ${ONLY:-$ORDER}; do
  [ -n "${ARGS[$name]+x}" ] || { echo "unknown benchmark $name (one of: ${!ARGS[*]})" >&2; exit 2; }
  # shellcheck disable=SC2086  # the arguments are words
  run "$name" ${ARGS[$name]}
done

echo "table: $DEST/table.md"
exit $status
