"""Summarizes bench/compare-pytorch.sh's measurements: one table per side, then the ratios.

Input lines: `round model side name batch median p10 p90`, side ∈ {before, after, torch}. Each
round ran the three sides of one model back to back, so a round's ratio (candle median over
PyTorch median) compares measurements taken seconds apart; the reported ratio is the median of
the rounds' ratios, which drift in the machine's load over the whole run does not bias. Tables
show the median over rounds of each round's median ms.
"""

import argparse
import statistics
from collections import defaultdict

SIDES = {
    "before": "before: candle's own ops (GANBENCH_CANDLE_OPS=1)",
    "after": "after: ganbench's fast kernels",
    "torch": "pytorch {torch}",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--iters", type=int, required=True)
    ap.add_argument("--torch", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    args = ap.parse_args()

    median = defaultdict(dict)  # (model, side) -> {round: median ms}
    batch = {}
    with open(args.results) as f:
        for line in f:
            fields = line.split()
            if len(fields) != 8:
                raise SystemExit(f"compare-pytorch: unreadable measurement {line.strip()!r}")
            rnd, model, side, _, b, med = fields[:6]
            median[model, side][int(rnd)] = float(med)
            batch[model] = int(b)
    rounds = sorted({r for v in median.values() for r in v})

    def ratios(model, side):
        c, t = median[model, side], median[model, "torch"]
        return [c[r] / t[r] for r in rounds if r in c and r in t]

    print(
        f"{len(rounds)} rounds × {args.iters} iterations after {args.warmup} warm-up, "
        f"{args.threads} thread(s); ms = median over rounds of each round's median"
    )
    for side, title in SIDES.items():
        print()
        print(title.format(torch=args.torch))
        print(f"{'model':<10} {'batch':>6} {'median ms':>10} {'min ms':>9} {'max ms':>9}")
        for model in args.models:
            ms = list(median[model, side].values())
            print(
                f"{model:<10} {batch[model]:>6} {statistics.median(ms):>10.2f} "
                f"{min(ms):>9.2f} {max(ms):>9.2f}"
            )
    print()
    print("candle / pytorch per round (after):")
    for model in args.models:
        print(f"{model:<10} " + " ".join(f"{r:.2f}" for r in ratios(model, "after")))
    print()
    for side, label in (("before", "ratio before "), ("after", "ratio ")):
        parts = [f"{m}={statistics.median(ratios(m, side)):.2f}" for m in args.models]
        print(label + " ".join(parts))


if __name__ == "__main__":
    main()
