#!/usr/bin/env bash
# The wheels a lent GPU machine lacks, downloaded here into .whl/ (ignored by git), for
# benchmarks/gpu.sh to install there without a package index.
#
#     benchmarks/gpu_wheels.sh          # here, where pip reaches the index: ~27 MB into .whl/
#
# The lent machine (the `device` tool's nvidia-h200; /work/.library/device/KINDS.md) reaches
# no package index. Its python3 (3.12) holds JAX with its CUDA plugin (jax 0.11.2 when last
# read, against rljax's pin of 0.10), flax, optax, chex, orbax-checkpoint, numpy, scipy,
# matplotlib, pandas, seaborn, imageio, etils, absl-py, ... but not the RL packages below.
# jaxlib 0.10.2 and its CUDA plugin (85 + 124 MB) exceed the 64 MiB a call may carry, so the
# benchmarks there run on that machine's own JAX, with these pure-Python (and two cp312)
# wheels beside it: the versions of the project's CPU venv, without their dependencies
# (each dependency that machine lacks is named here too). Playground is left out (it needs
# warp-lang, over 100 MB): gpu.sh runs benchmarks/env_adapters.py without its rows there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  gymnax==1.0.1 gymnasium==1.3.0 farama-notifications==0.0.6 \
  distrax==0.1.9 tfp-nightly==0.26.0.dev20261027 dm-tree==0.1.10 decorator==5.3.1 gast==0.7.0 \
  evosax==0.3.2 dotmap==1.3.30 gmmx==0.7 tinygp==0.3.1 \
  tyro==1.0.17 docstring-parser==0.18.0 typeguard==4.6.1 \
  xminigrid==0.9.3 \
  brax==0.14.2 jaxopt==0.8.5 ml-collections==1.1.0 tensorboardx==2.6.5 trimesh==5.2.0 \
  mujoco==4.0.1 mujoco-core==4.0.1 mujoco-mjx==3.17.0 \
  rejax==0.1.3
du -sh .whl
echo "carry .whl to the device: run(command='benchmarks/gpu.sh ...', carry=['.whl'])"
