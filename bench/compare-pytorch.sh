#!/usr/bin/env bash
# ms per training iteration, candle (ganbench's plugins) against PyTorch (bench/pytorch_iteration.py:
# the same architectures, batches, optimizers and thread count), side by side in one run.
#
#   bench/compare-pytorch.sh [--threads N] [--rounds N] [--warmup N] [--iters N] [--only toy dcgan …]
#
# Installs PyTorch into bench/.venv (git-ignored) when it is missing: PyPI's Linux torch wheel
# without its CUDA dependencies (several GB of nvidia-* wheels), plus stub CUDA libraries so that
# it imports on a CPU-only machine (bench/torch_cuda_stubs.py). Runs both benchmarks in rounds
# (default 5 of 20 iterations after 5 warm-up ones): each round times every model in candle and
# then in PyTorch, back to back, so that load on a shared machine hits both alike. Each round
# gives a ratio per model; bench/compare_summary.py prints the tables, the rounds' ratios, and
# ends with one line, the median over rounds: `ratio toy=<candle/pytorch> wgan-gp=<…> dcgan=<…>
# vae=<…>`.
# "Before" is the same candle binary with the fast kernels (crates/kernels) off (GANBENCH_CANDLE_OPS=1:
# candle's own conv, conv-transpose, activations and broadcasts), timed in the same run; its ratios
# are printed on the line above the last.
#
# Environment: TORCH_VERSION (default 2.15.0), CARGO_TARGET_DIR as usual.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

threads=1 warmup=5 iters=20 rounds=5 only=(toy wgan-gp dcgan vae)
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --iters) iters=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --only) shift; only=(); while [ $# -gt 0 ] && [[ $1 != --* ]]; do only+=("$1"); shift; done ;;
        *) echo "compare-pytorch: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

venv=$repo/bench/.venv
python=$venv/bin/python
torch_version=${TORCH_VERSION:-2.15.0}
if ! "$python" -c "import torch" 2>/dev/null; then
    echo "compare-pytorch: installing torch $torch_version (CPU use only) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "torch==$torch_version"
    # torch's pure-Python dependencies (its METADATA minus the CUDA wheels and triton).
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        filelock "typing-extensions>=4.13" "setuptools>=77.0.3" "sympy>=1.13.3" "networkx>=2.5.1" \
        jinja2 "fsspec>=0.8.5" numpy
    "$python" bench/torch_cuda_stubs.py "$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch/lib"
    "$python" -c "import torch; assert not torch.cuda.is_available(); print('compare-pytorch: torch', torch.__version__, 'imports')" >&2
fi

echo "compare-pytorch: building the candle benchmark (release)" >&2
cargo build --release --quiet -p ganbench-bench
bin=${CARGO_TARGET_DIR:-$repo/target}/release/iteration

common=(--threads "$threads" --warmup "$warmup" --iters "$iters")
# One line per measurement: round, model, side, then the benchmark's row (model batch median p10 p90).
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
    echo "compare-pytorch: round $round of $rounds" >&2
    for model in "${only[@]}"; do
        row() { echo "$round $model $1 $(echo "$2" | sed -n 3p)" >>"$results"; }
        row before "$(GANBENCH_CANDLE_OPS=1 "$bin" "${common[@]}" --only "$model")"
        row after "$("$bin" "${common[@]}" --only "$model")"
        row torch "$(OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads "$python" bench/pytorch_iteration.py "${common[@]}" --only "$model")"
    done
done
torch_version=$("$python" -c 'import torch; print(torch.__version__)')
python3 bench/compare_summary.py "$results" --threads "$threads" --warmup "$warmup" --iters "$iters" \
    --torch "$torch_version" --models "${only[@]}"
