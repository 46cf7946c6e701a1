#!/usr/bin/env bash
# The GPU smoke test: ganbench's CUDA build on a real GPU, against PyTorch on the same GPU.
#
#   bench/gpu-smoke.sh prepare   on a build machine (network, no GPU needed): builds the release
#                                binary with CUDA (CUDA_COMPUTE_CAP, default 90 = H100/H200) and puts
#                                it, the quickstart and the PyTorch side into .gpu-smoke/ (git-ignored)
#   bench/gpu-smoke.sh run       on the GPU machine (no network): from the repository root with
#                                .gpu-smoke/ carried over, or from inside .gpu-smoke/
#
# `run` needs a Python 3 with a CUDA 13 PyTorch (PYTHON, default python3): ganbench loads that
# PyTorch's CUDA libraries from its site-packages `nvidia/*/lib` folders (never the link-time stubs
# of .ci/cuda-build.sh). It prints `ganbench doctor`, runs the quickstart on cuda:0 and checks that
# every trial finished, then times one training iteration of each quickstart variant in ganbench
# and in PyTorch on the same GPU and prints the ratios. Exit status 0 only if every check passed.
# Takes under 5 minutes on an H100/H200.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

prepare() {
    local repo out bin
    repo=$(cd "$here/.." && pwd)
    out=${GPU_SMOKE_DIR:-$repo/.gpu-smoke}
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    bin=$("$repo/.ci/cuda-build.sh" | tail -n 1)
    rm -rf "$out"
    mkdir -p "$out"
    # Line tables are for debugging here; the GPU machine needs only the code.
    objcopy --strip-debug "$bin" "$out/ganbench"
    cp "$repo/experiments/quickstart.ron" "$here/gpu-smoke.sh" "$here/gpu_smoke_torch.py" "$out/"
    # The CPU side of `run`, as far as it goes without a GPU: the carried binary starts (with the
    # stubs standing in for the driver) and knows it is a CUDA build; the PyTorch script parses.
    local toolkit=${GANBENCH_CUDA_TOOLKIT:-$repo/.cuda-toolkit}
    LD_LIBRARY_PATH=$toolkit/no-gpu "$out/ganbench" doctor --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["features"]["cuda"] and d["cuda"]["built"], d
print("prepared: CUDA build", d["build_id"], "| bindings for CUDA", d["cuda"]["toolkit"])'
    python3 -m py_compile "$out/gpu_smoke_torch.py"
    echo "carry $out ($(du -sh "$out" | cut -f1)); on the GPU machine run: bench/gpu-smoke.sh run"
}

fail() {
    echo "gpu-smoke: FAILED: $*" >&2
    exit 1
}

run() {
    local dir bin python work
    if [ -x "$here/ganbench" ]; then dir=$here; else dir=$(cd "$here/.." && pwd)/.gpu-smoke; fi
    bin=$dir/ganbench
    [ -x "$bin" ] || fail "no $bin: run \`bench/gpu-smoke.sh prepare\` on a build machine and carry .gpu-smoke/"
    python=${PYTHON:-python3}
    "$python" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null \
        || fail "$python has no PyTorch that sees a GPU (set PYTHON)"
    # PyTorch's CUDA libraries: site-packages/nvidia/<library>/lib (cu13: nvidia/cu13/lib).
    local libs
    libs=$("$python" -c '
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
print(":".join(sorted(set(glob.glob(os.path.join(site, "nvidia", "*", "lib"))))))')
    [ -n "$libs" ] || fail "no nvidia/*/lib folders beside $("$python" -c 'import torch; print(torch.__file__)')"
    case ":$libs:${LD_LIBRARY_PATH:-}:" in
        *stubs* | *no-gpu*) fail "stub libraries on the library path: $libs:${LD_LIBRARY_PATH:-}" ;;
    esac
    export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    work=$(mktemp -d)
    local started=$SECONDS

    echo "=== ganbench doctor"
    "$bin" doctor || fail "ganbench doctor"
    "$bin" doctor --json >"$work/doctor.json"
    "$python" - "$work/doctor.json" <<'PY' || fail "ganbench doctor sees no GPU"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["features"]["cuda"] and d["cuda"]["gpus"], d["cuda"].get("problem")
PY

    echo "=== quickstart on cuda:0"
    local quickstart=$dir/quickstart.ron
    [ -f "$quickstart" ] || quickstart=$(cd "$here/.." && pwd)/experiments/quickstart.ron
    timeout 240 "$bin" --db "$work/quickstart.sqlite" run "$quickstart" --gpus 0 --jobs-per-gpu 6 --json \
        >"$work/quickstart.json" || fail "quickstart run (status $?)"
    "$python" - "$work/quickstart.json" <<'PY' || fail "not every quickstart trial finished"
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{s['trials']} trials: {s['finished']} finished, {s['diverged']} diverged, "
      f"{s['failed']} failed in {s['wall_s']:.1f} s")
assert s["finished"] == s["trials"], s
PY
    "$bin" --db "$work/quickstart.sqlite" ls quickstart || true

    echo "=== one training iteration: ganbench vs PyTorch on cuda:0"
    # Image data when the plugins have the DCGAN architecture (random 28x28 images with random
    # labels in IDX form: timing does not care what they show; the labels let ganbench train its
    # evaluation feature extractor, once, on the CPU), the toy ring otherwise.
    "$bin" plugins --json >"$work/plugins.json"
    local configs
    configs=$("$python" - "$work/plugins.json" "$work" <<'PY'
import json, os, sys
listing = json.load(open(sys.argv[1]))
plugins = listing["plugins"] if isinstance(listing, dict) else listing
variants = [("GAN", "gan"), ("WGAN-GP", "wgan-gp"), ("SN-GAN", "sngan"), ("VAE", "vae")]
def defaults(p):
    return {q["name"]: q.get("default") for q in p.get("params", [])}
byname = {p["name"]: defaults(p) for p in plugins}
dcgan = "arch" in byname.get("gan", {})
if dcgan:
    images = os.path.join(sys.argv[2], "images-idx3-ubyte")
    labels = os.path.join(sys.argv[2], "labels-idx1-ubyte")
    n = 1024
    with open(images, "wb") as f:
        f.write((0x803).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
        f.write(os.urandom(n * 28 * 28))
    with open(labels, "wb") as f:
        f.write((0x801).to_bytes(4, "big") + n.to_bytes(4, "big"))
        f.write(bytes(b % 10 for b in os.urandom(n)))
    data, shape = f'Idx(images: "{images}", labels: "{labels}")', [1, 28, 28]
else:
    data, shape = "ring8", [2]
for label, plugin in variants:
    params = dict(byname[plugin])
    sets = []
    if dcgan and "arch" in params:
        params["arch"] = "Dcgan"
        sets = ["arch=Dcgan"]
    print(json.dumps({"label": label, "plugin": plugin, "params": params, "data_shape": shape,
                      "data": data, "set": sets}))
PY
)
    local short=20 long=120
    echo "$configs" | head -n 1 | grep -q '"arch": "Dcgan"' \
        && echo "(DCGAN on 1x28x28 images, each plugin's default parameters)" \
        || echo "(the plugins have no DCGAN architecture in this build: MLPs on ring8, each plugin's default parameters)"
    : >"$work/ganbench.jsonl"
    while IFS= read -r config; do
        local label plugin data sets ms
        label=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["label"])' "$config")
        plugin=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["plugin"])' "$config")
        data=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["data"])' "$config")
        sets=$("$python" -c 'import json,sys; print(" ".join("--set " + s for s in json.loads(sys.argv[1])["set"]))' "$config")
        # Two runs of different length: their difference is the steady-state time per step,
        # without the first steps' one-off costs (kernel loading, cuBLAS set-up).
        local a b
        # shellcheck disable=SC2086
        a=$("$bin" --db "$work/train.sqlite" train --plugin "$plugin" --data "$data" $sets --steps $short --eval-every 0 \
            --eval-samples 64 --device cuda:0 --json) || fail "ganbench train $label"
        # shellcheck disable=SC2086
        b=$("$bin" --db "$work/train.sqlite" train --plugin "$plugin" --data "$data" $sets --steps $long --eval-every 0 \
            --eval-samples 64 --device cuda:0 --json) || fail "ganbench train $label"
        ms=$("$python" -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["status"] == b["status"] == "finished", (a, b)
s1, s2 = a["steps"], b["steps"]
print((b["ms_per_step"] * s2 - a["ms_per_step"] * s1) / (s2 - s1))' "$a" "$b") || fail "ganbench train $label did not finish"
        echo "{\"label\": \"$label\", \"ms_per_step\": $ms}" >>"$work/ganbench.jsonl"
    done <<<"$configs"
    mapfile -t config_list <<<"$configs"
    "$python" "$dir/gpu_smoke_torch.py" --device cuda:0 --steps 100 "${config_list[@]}" \
        >"$work/torch.jsonl" || fail "PyTorch side"
    "$python" - "$work/ganbench.jsonl" "$work/torch.jsonl" <<'PY'
import json, sys
ours = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
theirs = {r["label"]: r for r in map(json.loads, open(sys.argv[2]))}
print(f"{'variant':<9} {'ganbench ms':>12} {'PyTorch ms':>11} {'ratio':>7}  PyTorch model")
for label, r in ours.items():
    t = theirs[label]
    print(f"{label:<9} {r['ms_per_step']:>12.2f} {t['ms_per_step']:>11.2f} "
          f"{r['ms_per_step'] / t['ms_per_step']:>6.2f}x  {t['architecture']}")
PY
    echo "gpu-smoke: all checks passed in $((SECONDS - started)) s"
    rm -rf "$work"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *)
        echo "usage: bench/gpu-smoke.sh prepare|run" >&2
        exit 2
        ;;
esac
