#!/usr/bin/env python3
"""Markdown rows for docs/reproductions.md: ganbench's results beside PacGAN's published ones.

    ganbench report pacgan-ring-2k --json > ring.json
    python3 experiments/reproduction_table.py ring ring.json

Reads the report's JSON (each variant's final values over its finished runs: mean and sample
standard deviation) and prints, per variant, mean ± standard error (sd/√n) of each metric of the
paper's table next to the published value. The published numbers are PacGAN's Tables 1 and 2
(Lin et al. 2018) as the issue gives them; `None` where the paper has no ±.
"""

import json
import math
import sys

# (metric, label in the table, scale for display, decimals)
COLUMNS = {
    "ring": [("modes", "modes", 1, 1), ("high_quality", "high quality %", 100, 1),
             ("reverse_kl", "reverse KL", 1, 3), ("reverse_kl_hq", "reverse KL (hq)", 1, 2)],
    "grid": [("modes", "modes", 1, 1), ("high_quality", "high quality %", 100, 1),
             ("reverse_kl", "reverse KL", 1, 3), ("reverse_kl_hq", "reverse KL (hq)", 1, 2)],
    "stacked": [("modes_1000", "modes", 1, 1), ("kl_1000", "KL", 1, 2), ("fid", "FID", 1, 0)],
}

# Published: variant → metric → (mean, ±) as the paper prints them, ± None where it gives none.
PUBLISHED = {
    "ring": {
        "GAN": {"modes": ("6.3", "0.5"), "high_quality": ("98.2", None), "reverse_kl": ("0.45", None)},
        "PacGAN2": {"modes": ("7.9", "0.1"), "high_quality": ("95.6", None), "reverse_kl": ("0.07", None)},
        "PacGAN3": {"modes": ("7.8", "0.1"), "high_quality": ("97.7", None), "reverse_kl": ("0.10", None)},
        "PacGAN4": {"modes": ("7.8", "0.1"), "high_quality": ("95.9", None), "reverse_kl": ("0.07", None)},
    },
    "grid": {
        "GAN": {"modes": ("17.3", "0.8"), "high_quality": ("94.8", None), "reverse_kl": ("0.70", None)},
        "PacGAN2": {"modes": ("23.8", "0.7"), "high_quality": ("91.3", None), "reverse_kl": ("0.13", None)},
        "PacGAN3": {"modes": ("24.6", "0.4"), "high_quality": ("94.2", None), "reverse_kl": ("0.06", None)},
        "PacGAN4": {"modes": ("24.8", "0.2"), "high_quality": ("93.6", None), "reverse_kl": ("0.04", None)},
    },
    "stacked": {
        "DCGAN": {"modes_1000": ("78.9", "6.5"), "kl_1000": ("4.50", "0.13")},
        "PacDCGAN2": {"modes_1000": ("1000.0", "0.0"), "kl_1000": ("0.06", "0.003")},
    },
}


def cell(mean, pm, decimals):
    text = f"{mean:.{decimals}f}"
    return text if pm is None else f"{text} ± {pm:.{decimals}f}"


def published_cell(mean, pm):
    """A published value as the paper prints it."""
    return str(mean) if pm is None else f"{mean} ± {pm}"


def main():
    table, path = sys.argv[1], sys.argv[2]
    report = json.load(open(path))
    columns = COLUMNS[table]
    # A metric the paper does not report gets ganbench's column only.
    published_metrics = {m for v in PUBLISHED[table].values() for m in v}
    header = ["variant", "runs"]
    for metric, name, _, _ in columns:
        if metric in published_metrics:
            header.append(f"{name}, published")
        header.append(f"{name}, ganbench")
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for variant in report["variants"]:
        label = variant["label"]
        cells = {c["metric"]: c for c in variant["cells"]}
        row = [label, f"{variant['finished']} of {variant['runs']}"]
        for metric, _, scale, decimals in columns:
            published = PUBLISHED[table].get(label, {}).get(metric)
            if metric in published_metrics:
                row.append(published_cell(*published) if published else "—")
            c = cells.get(metric)
            if c is None or c["n"] == 0:
                row.append("—")
                continue
            se = c["std"] / math.sqrt(c["n"]) if c["n"] > 1 else None
            row.append(cell(scale * c["mean"], None if se is None else scale * se, decimals))
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
