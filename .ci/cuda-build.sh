#!/usr/bin/env bash
# Builds the workspace with `--features cuda` on a machine without a GPU or a CUDA install, then
# checks that the CUDA build, run without a GPU, says so. Used by .ci/run and bench/gpu-smoke.sh.
#
# The toolkit comes from PyPI wheels (nvcc 13.0 and the CUDA runtime; see docs/cuda.md): PyPI has
# no libcuda, so the libraries cudarc links against (libcuda, cuBLAS, cuBLASLt, cuRAND, NVRTC) are
# link-time stubs built from cudarc's own symbol lists, each carrying the real library's soname.
# Every stub function returns 100 = CUDA_ERROR_NO_DEVICE, which is what the no-device check needs.
#
# Environment (all optional):
#   GANBENCH_CUDA_TOOLKIT    where the toolkit goes           [<repo>/.cuda-toolkit, git-ignored]
#   GANBENCH_CUDA_TARGET_DIR cargo target dir for this build  [<repo>/../target-cuda, kept between runs]
#   CUDA_COMPUTE_CAP         GPU architecture of the kernels  [90: H100/H200; 80 for A100, 89 for L4/4090]
# Prints, on its last line, the path of the built release binary.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

toolkit=${GANBENCH_CUDA_TOOLKIT:-$repo/.cuda-toolkit}
export CARGO_TARGET_DIR=${GANBENCH_CUDA_TARGET_DIR:-$(dirname "$repo")/target-cuda}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
# Warnings in cuda-only code fail here as clippy's -D warnings does for the CPU build.
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0

log() { echo "cuda-build: $* ($(date -u +%H:%M:%S))" >&2; }

# Pinned all together: nvcc's own wheel dependencies are unpinned and drift to mismatched versions.
wheels=("nvidia-cuda-nvcc==13.0.88" "nvidia-cuda-crt==13.0.88" "nvidia-nvvm==13.0.88"
        "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cccl==13.0.85")

install_toolkit() {
    log "installing nvcc 13.0 from PyPI into $toolkit"
    [ -x "$toolkit/bin/pip" ] || python3 -m venv "$toolkit"
    "$toolkit/bin/pip" install --quiet --disable-pip-version-check "${wheels[@]}"
    local cuda
    cuda=$(echo "$toolkit"/lib/python3*/site-packages/nvidia/cu13)
    ln -sf libcudart.so.13 "$cuda/lib/libcudart.so" # candle-kernels links -lcudart

    # The stubs need the symbol lists of the cudarc version in Cargo.lock.
    local cudarc_src
    cudarc_src=$(cargo metadata --format-version 1 --features cuda 2>/dev/null | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in meta["packages"] if p["name"] == "cudarc"))')
    mkdir -p "$cuda/lib/stubs" "$toolkit/no-gpu"
    local spec mod lib soname
    for spec in driver:cuda:libcuda.so.1 cublas:cublas:libcublas.so.13 cublaslt:cublasLt:libcublasLt.so.13 \
                curand:curand:libcurand.so.10 nvrtc:nvrtc:libnvrtc.so.13; do
        IFS=: read -r mod lib soname <<<"$spec"
        grep -oE '^pub unsafe fn [A-Za-z0-9_]+\(' "$cudarc_src/src/$mod/sys/mod.rs" \
            | sed -E 's/pub unsafe fn (.*)\(/int \1(void){return 100;}/' | sort -u >"$toolkit/stub_$lib.c"
        gcc -shared -fPIC -o "$cuda/lib/stubs/lib$lib.so" -Wl,-soname,"$soname" "$toolkit/stub_$lib.c"
        # The no-GPU library path: the stubs under the names the loader looks for.
        ln -sf "$cuda/lib/stubs/lib$lib.so" "$toolkit/no-gpu/$soname"
    done
    ln -sf "$cuda/lib/libcudart.so.13" "$toolkit/no-gpu/libcudart.so.13"
    echo "${wheels[*]}" >"$toolkit/.complete"
}

if [ "$(cat "$toolkit/.complete" 2>/dev/null)" != "${wheels[*]}" ]; then
    install_toolkit
fi
cuda=$(echo "$toolkit"/lib/python3*/site-packages/nvidia/cu13)
export PATH=$cuda/bin:$PATH # nvcc; cudarc reads `nvcc --version` to pick its CUDA 13.0 bindings
export CUDA_HOME=$cuda      # cudarc adds $CUDA_HOME/lib and lib/stubs to the link search path

log "cargo build --release --workspace --features cuda (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP, target $CARGO_TARGET_DIR)"
started=$(date +%s)
cargo build --release --workspace --features cuda
log "build succeeded in $(($(date +%s) - started)) s"
bin=$CARGO_TARGET_DIR/release/ganbench

# Without a GPU the binary must say so. The stubs stand in for the driver: every call returns
# CUDA_ERROR_NO_DEVICE, as the real driver does on a machine without a GPU.
no_gpu=$toolkit/no-gpu
expect_no_gpu() { # what, then the command: exit status 2 and the no-GPU message on stderr
    local what=$1 status message
    shift
    set +e
    message=$(LD_LIBRARY_PATH=$no_gpu "$@" 2>&1 >/dev/null)
    status=$?
    set -e
    echo "$what -> exit status $status: $message" >&2
    if [ "$status" -ne 2 ] || ! grep -q 'no usable GPU on this machine' <<<"$message" \
        || ! grep -q 'CUDA_ERROR_NO_DEVICE' <<<"$message"; then
        log "FAILED: $what: expected exit status 2 and the no-GPU message"
        exit 1
    fi
}
log "no-GPU checks with the stub libraries"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
expect_no_gpu "train --device cuda:0" "$bin" train --plugin gan --steps 1 --device cuda:0
sed 's/^Sweep(/Sweep(device: Cuda(0),/' experiments/quickstart.ron >"$scratch/cuda.ron"
expect_no_gpu "run (a sweep with device: Cuda(0))" "$bin" --db "$scratch/db.sqlite" run "$scratch/cuda.ron"
expect_no_gpu "run --gpus 0,1" "$bin" --db "$scratch/db.sqlite" run experiments/quickstart.ron --gpus 0,1
if [ -e "$scratch/db.sqlite" ]; then
    log "FAILED: a sweep that cannot train created a database"
    exit 1
fi
LD_LIBRARY_PATH=$no_gpu "$bin" doctor --json >"$scratch/doctor.json"
python3 - "$scratch/doctor.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["features"]["cuda"] and d["cuda"]["built"] and d["build_id"].endswith("; cuda"), d
assert d["cuda"]["gpus"] == [] and "CUDA_ERROR_NO_DEVICE" in d["cuda"]["problem"], d
PY
LD_LIBRARY_PATH=$no_gpu "$bin" doctor >&2
log "no-GPU checks passed"
echo "$bin"
