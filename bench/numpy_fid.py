"""The NumPy side of bench/compare-numpy-fid.sh: pytorch-fid's FID (mean, numpy.cov, then
`calculate_frechet_distance` with scipy.linalg.sqrtm; crates/metrics/tests/fixtures/
pytorch_fid_vendored.py) on two .npy feature files, and the features themselves.

    numpy_fid.py write DIR --samples N --dim D --seed S   writes DIR/real.npy and DIR/fake.npy
    numpy_fid.py time REAL FAKE                           prints `fid <ms> <value>`
    numpy_fid.py summary RESULTS --threads T ...          the rounds' ratios and their medians

`time` first prints the BLAS that NumPy runs (threadpoolctl: library, kernel architecture,
threads) to stderr, so the benchmark says what it compared against.
"""

import argparse
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "crates/metrics/tests/fixtures"))
from pytorch_fid_vendored import activation_statistics, calculate_frechet_distance  # noqa: E402


def write(args):
    """Correlated Gaussian features, the fakes with another covariance and a shifted mean."""
    rng = np.random.default_rng(args.seed)
    out = pathlib.Path(args.dir)
    d = args.dim
    for name, shift in (("real", 0.0), ("fake", 0.05)):
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        features = rng.standard_normal((args.samples, d)) @ mix + shift
        np.save(out / f"{name}.npy", features)


def timed(args):
    import threadpoolctl

    for info in threadpoolctl.threadpool_info():
        print(
            f"numpy BLAS: {info.get('internal_api')} {info.get('version')}, kernel "
            f"{info.get('architecture')}, {info.get('num_threads')} thread(s)",
            file=sys.stderr,
        )
    real, fake = np.load(args.real), np.load(args.fake)
    # scipy >= 1.16 deprecates sqrtm's `disp`, which pytorch-fid passes.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    start = time.perf_counter()
    mu1, sigma1 = activation_statistics(real)
    mu2, sigma2 = activation_statistics(fake)
    fid = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
    ms = (time.perf_counter() - start) * 1e3
    print(f"fid {ms:.3f} {fid!r}")


def summary(args):
    """Lines `round side metric ms value`; ratios are ganbench's ms over NumPy's FID ms."""
    import statistics
    from collections import defaultdict

    ms, value = defaultdict(dict), {}
    with open(args.results) as f:
        for line in f:
            rnd, side, metric, t, v = line.split()
            ms[side, metric][int(rnd)] = float(t)
            value[side, metric] = float(v)
    rounds = sorted(ms["numpy", "fid"])
    metrics = ("fid", "kid", "prdc", "all")
    print(f"{len(rounds)} rounds, {args.samples} real and {args.samples} fake samples of "
          f"d = {args.dim}, {args.threads} thread(s)")
    print(f"numpy FID (pytorch-fid): median {statistics.median(ms['numpy', 'fid'].values()):.1f} ms")
    for m in metrics:
        print(f"ganbench {m:<5} median {statistics.median(ms['ganbench', m].values()):.1f} ms")
    fid_np, fid_gb = value["numpy", "fid"], value["ganbench", "fid"]
    print(f"FID: numpy {fid_np!r}, ganbench {fid_gb!r} (relative difference "
          f"{abs(fid_np - fid_gb) / abs(fid_np):.1e})")
    print()
    print("ganbench ms / numpy FID ms, per round:")
    ratios = {}
    for m in metrics:
        ratios[m] = [ms["ganbench", m][r] / ms["numpy", "fid"][r] for r in rounds]
        print(f"{m:<5} " + " ".join(f"{x:.4f}" for x in ratios[m]))
    print()
    print("ratio " + " ".join(f"{m}={statistics.median(ratios[m]):.4f}" for m in metrics))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("dir")
    w.add_argument("--samples", type=int, required=True)
    w.add_argument("--dim", type=int, required=True)
    w.add_argument("--seed", type=int, default=1)
    t = sub.add_parser("time")
    t.add_argument("real")
    t.add_argument("fake")
    s = sub.add_parser("summary")
    s.add_argument("results")
    s.add_argument("--threads", type=int, required=True)
    s.add_argument("--samples", type=int, required=True)
    s.add_argument("--dim", type=int, required=True)
    args = ap.parse_args()
    {"write": write, "time": timed, "summary": summary}[args.command](args)


if __name__ == "__main__":
    main()
