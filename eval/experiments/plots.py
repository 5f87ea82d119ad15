"""Charts people would rather see than read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def bar_chart(reports: Sequence, path: str | Path, measures: Sequence[str] | None = None) -> Path:
    """Grouped bars: one group per measure, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    measures = list(measures or reports[0].metrics)
    width = 0.8 / max(len(reports), 1)
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(measures), 4))
    for i, rep in enumerate(reports):
        xs = np.arange(len(measures)) + i * width
        values = [rep.metrics[m] for m in measures]
        bars = ax.bar(xs, values, width, label=rep.system)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    ax.set_xticks(np.arange(len(measures)) + width * (len(reports) - 1) / 2, measures)
    ax.set_ylim(0, 1.1)
    ax.set_title(f"{reports[0].dataset} ({reports[0].split}, {reports[0].n_queries} queries)")
    # Below the axes, so it never hides a bar's label.
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncols=len(reports),
        frameon=False,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path
