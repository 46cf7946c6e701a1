#!/usr/bin/env bash
# ganbench's FID, KID and k-NN metrics against NumPy/LAPACK's FID (pytorch-fid's computation:
# numpy.cov and scipy.linalg.sqrtm, bench/numpy_fid.py) on the same random features, the same
# machine and the same thread count, side by side in rounds.
#
#   bench/compare-numpy-fid.sh [--threads N] [--rounds N] [--samples N] [--dim D] [--repeat N]
#
# Defaults: 1 thread, 3 rounds, 300 samples per set, d = 2048 (Inception's width). Installs numpy,
# scipy and threadpoolctl into bench/.venv (git-ignored) when missing. Each round times NumPy's FID
# once and then each ganbench metric (the fastest of --repeat runs, default 3, after an untimed
# one), back to back, so that load on a shared machine hits both alike; a round's ratio is
# ganbench's ms over NumPy's, and the last line is the median over rounds:
# `ratio fid=<…> kid=<…> prdc=<…> all=<…>` (below 1: ganbench is faster).
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which some machines set for old OpenBLAS builds and which
# slow a current NumPy, are unset for NumPy's command only; the kernel it then runs is printed
# (threadpoolctl). OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set to --threads.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

threads=1 rounds=3 samples=300 dim=2048 repeat=3
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --samples) samples=$2; shift 2 ;;
        --dim) dim=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        *) echo "compare-numpy-fid: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

venv=$repo/bench/.venv
python=$venv/bin/python
if ! "$python" -c "import numpy, scipy, threadpoolctl" 2>/dev/null; then
    echo "compare-numpy-fid: installing numpy, scipy and threadpoolctl into $venv" >&2
    [ -x "$python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check numpy scipy threadpoolctl
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" bench/numpy_fid.py write "$work" --samples "$samples" --dim "$dim"

echo "compare-numpy-fid: building the ganbench benchmark (release)" >&2
cargo bench --quiet -p ganbench-metrics --bench versus_numpy --no-run 2>/dev/null
ganbench_metrics() {
    cargo bench --quiet -p ganbench-metrics --bench versus_numpy -- \
        "$work/real.npy" "$work/fake.npy" "$threads" "$repeat" 2>/dev/null
}
numpy_fid() {
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
        OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
        "$python" bench/numpy_fid.py time "$work/real.npy" "$work/fake.npy"
}

# One line per measurement: round side metric ms value.
results=$work/results
for round in $(seq 1 "$rounds"); do
    echo "compare-numpy-fid: round $round of $rounds" >&2
    numpy_fid | sed "s/^/$round numpy /" >>"$results"
    ganbench_metrics | sed "s/^/$round ganbench /" >>"$results"
done
"$python" bench/numpy_fid.py summary "$results" --threads "$threads" --samples "$samples" --dim "$dim"
