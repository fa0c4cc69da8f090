#!/usr/bin/env bash
# The checks only a CUDA GPU can run, in one go, each output saved under ${OUT:-gpu-results}/ (issue #15).
# Budget ~12 min on one H100: the GPU tests, then the three benchmarks, then the gpu-preset claims of the
# lessons named in LESSONS (default: the three the issue is about) over 3 seeds.
#   bash benchmarks/gpu_checks.sh            LESSONS="02 05" SEEDS="0 1 2" bash benchmarks/gpu_checks.sh
set -u
out=${OUT:-gpu-results}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
run() { local name=$1; shift; echo "== $name: $*"; local start=$SECONDS
        timeout "${LIMIT:-300}" "$@" > "$out/$name.txt" 2>&1; echo "   exit $?, $((SECONDS - start)) s"; tail -n 4 "$out/$name.txt"; }
run tests      python -m pytest -q tests/test_gpu.py tests/test_train_gradients.py tests/test_device_solvers.py
run trainer    python benchmarks/bench_trainer.py --rounds 3
run weighting  python benchmarks/bench_weighting.py --rounds 3
run memory     python benchmarks/bench_memory.py
for lesson in ${LESSONS:-02 03 05}; do
  LIMIT=${CLAIMS_LIMIT:-400} run "claims-$lesson" python benchmarks/verify_claims.py --scale gpu --lessons "$lesson" \
      --seeds ${SEEDS:-0 1 2}
done
