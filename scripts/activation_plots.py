"""Plots and markdown tables of scripts/activation_report.py's measurements
(docs/sparsity/activation_*.jsonl), for docs/sparsity.md.

    python scripts/activation_report.py plots   # or: python scripts/activation_plots.py plots
    python scripts/activation_report.py table
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts.activation_report import CONFIGS, LEVELS, OUT  # noqa: E402


def plots(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(x) for x in (OUT / "activation_quality.jsonl").read_text().splitlines()]
    speed = {}
    if (OUT / "activation_latency.jsonl").is_file():
        for line in (OUT / "activation_latency.jsonl").read_text().splitlines():
            row = json.loads(line)
            speed[row["config"]] = row["cpu_speedup"]
    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        base = {r["config"]: r for r in rows if r["dataset"] == dataset}
        for method, marker in (("teal", "o"), ("wina", "s")):
            xs = [0.0, *LEVELS]
            names = ["dense", *[f"{method}@{t:g}" for t in LEVELS]]
            for system, style in (("dense", "--"), ("hybrid", "-")):
                ys = [base[n][system] if n in base else None for n in names]
                ax.plot(xs, ys, style, marker=marker, label=f"{method} {system}")
        ax.set(title=f"{dataset}: nDCG@10 vs activation sparsity", xlabel="target sparsity")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "activation_ndcg.png", dpi=120)
    fig, ax = plt.subplots(figsize=(6, 4))
    for dataset in datasets:
        base = {r["config"]: r for r in rows if r["dataset"] == dataset}
        pts = [(speed[c], base[c]["hybrid"] / base["dense"]["hybrid"] - 1) for c in base
               if c in speed]  # fmt: skip
        ax.scatter([p[0] for p in pts], [100 * p[1] for p in pts], label=dataset)
        for c in base:
            if c in speed:
                ax.annotate(c, (speed[c], 100 * (base[c]["hybrid"] / base["dense"]["hybrid"] - 1)),
                            fontsize=6)  # fmt: skip
    ax.axhline(-1, color="grey", lw=0.5)
    ax.axvline(1.5, color="grey", lw=0.5)
    ax.set(xlabel="single-query speedup (CPU time, vs dense)", ylabel="hybrid nDCG@10 change %")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "activation_speed_quality.png", dpi=120)


def _rows(name: str) -> list[dict]:
    path = OUT / name
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def table(args) -> None:
    """The markdown tables of docs/sparsity.md, from the jsonl files."""
    quality_rows, speed = _rows("activation_quality.jsonl"), {}
    for row in _rows("activation_latency.jsonl"):
        speed[row["config"]] = row
    datasets = sorted({r["dataset"] for r in quality_rows})
    by = {(r["dataset"], r["config"]): r for r in quality_rows}
    head = ["config"] + [f"{d} {s}" for d in datasets for s in ("dense", "hybrid")]
    head += ["query CPU ms", "CPU speedup", "wall speedup", "load"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, _, _ in CONFIGS:
        cells = [name]
        for d in datasets:
            for system in ("dense", "hybrid"):
                row, base = by.get((d, name)), by.get((d, "dense"))
                if row is None or base is None:
                    cells.append("–")
                    continue
                change = 100 * (row[system] / base[system] - 1)
                cells.append(f"{row[system]:.4f} ({change:+.1f}%)")
        lat = speed.get(name)
        cells += (
            [f"{lat['cpu_ms']:.1f}", f"{lat['cpu_speedup']:.2f}", f"{lat['speedup']:.2f}",
             f"{lat['load']:.0f}"] if lat else ["–"] * 4
        )  # fmt: skip
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    {"plots": plots, "table": table}[sys.argv[1]](None)
