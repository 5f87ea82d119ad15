"""Tables, goal checks and the Pareto plot of scripts/bench_search.py."""

from __future__ import annotations

from pathlib import Path

PLAIN = " [plain doc ids]"  # rows over uncompressed doc ids (scripts/bench_search.py)


def _best(rows, pred) -> dict | None:
    chosen = [r for r in rows if pred(r)]
    return max(chosen, key=lambda r: r["qps"]) if chosen else None


def _ours_exact(rows) -> dict | None:
    """Our fastest exact row over the default (packed) index."""
    return _best(
        rows,
        lambda r: r["system"].startswith("spire") and r["exact"] and PLAIN not in r["system"],
    )


def _disk(r: dict) -> str:
    value = r.get("disk_bytes_per_posting")
    return "" if value is None else f"{value:.2f}"


def markdown(rows: list[dict]) -> str:
    out = []
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        group = [r for r in rows if r["corpus"] == corpus]
        mine = _ours_exact(group)
        out += [f"\n**{corpus}**\n",
                "| system | exact | QPS | p50 ms | p99 ms | recall@10 | index MB | B/posting "
                "| disk B/posting | build s | spire exact / it |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in group:
            ratio = mine["qps"] / r["qps"] if mine else float("nan")
            out.append(
                f"| {r['system']} | {'yes' if r['exact'] else 'no'} | {r['qps']:,.0f} "
                f"| {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['recall']:.4f} "
                f"| {r['size_mb']:,.1f} | {r['bytes_per_posting']:.2f} | {_disk(r)} "
                f"| {r['build_s']:.1f} "
                f"| {ratio:.2f}x |"
            )
    return "\n".join(out)


def goals(rows: list[dict]) -> str:
    """One line per goal of issue 4: met or not, and by how much."""
    lines = ["\nGoals (single thread):"]

    def check(label, value, target):
        verdict = "met" if value >= target else f"NOT met: {value / target:.0%} of the goal"
        lines.append(f"- {label}: {value:.2f}x (goal {target}x) {verdict}")

    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        group = [r for r in rows if r["corpus"] == corpus]
        mine = _ours_exact(group)
        lucene = _best(group, lambda r: r["system"].startswith("Lucene"))
        scipy = _best(group, lambda r: r["system"].startswith("scipy"))
        if mine and lucene:
            check(f"{corpus}: exact QPS vs Lucene", mine["qps"] / lucene["qps"], 5)
            # The same postings: our index folder on disk against Lucene's.
            full = _best(group, lambda r: r["system"] == "spire exact (taat)") or mine
            size = full.get("disk_bytes_per_posting") or full["bytes_per_posting"]
            check(f"{corpus}: Lucene index size / ours (on disk)",
                  lucene["bytes_per_posting"] / size, 1)  # fmt: skip
        if mine and scipy:
            check(f"{corpus}: exact QPS vs scipy", mine["qps"] / scipy["qps"], 3)
        lines += _decoding_cost(group, corpus)
        if corpus.startswith("synthetic"):
            lines += _vs_seismic(group, corpus, check)
    return "\n".join(lines)


def _decoding_cost(group, corpus) -> list[str]:
    """Each setting measured over both layouts: packed doc ids' time / plain ones'."""
    out = []
    for plain in (r for r in group if r["system"].endswith(PLAIN)):
        packed = _best(group, lambda r, p=plain: r["system"] == p["system"][: -len(PLAIN)])
        if packed:
            out.append(f"- {corpus}: {packed['system']}: packed doc ids {packed['qps']:,.0f} "
                       f"QPS, plain {plain['qps']:,.0f} QPS: {plain['qps'] / packed['qps']:.2f}x "
                       "the time with packed doc ids")  # fmt: skip
    return out


def _vs_seismic(group, corpus, check) -> list[str]:
    """Ours at recall >= 0.99 against Seismic at recall >= 0.99, or, where no Seismic
    setting gets there, against its most accurate and its fastest settings."""
    approx = _best(group, lambda r: r["system"].startswith("spire") and r["recall"] >= 0.99)
    seismic = [r for r in group if r["system"].startswith("seismic")]
    if not approx or not seismic:
        return []
    good = [r for r in seismic if r["recall"] >= 0.99]
    if good:
        check(f"{corpus}: ours at recall>=0.99 vs Seismic at recall>=0.99",
              approx["qps"] / max(r["qps"] for r in good), 1)  # fmt: skip
        return []
    best = max(seismic, key=lambda r: (r["recall"], r["qps"]))
    fastest = max(seismic, key=lambda r: r["qps"])
    out = [f"- {corpus}: no Seismic setting reached recall 0.99 (best {best['recall']:.3f})"]
    for label, r in (("most accurate", best), ("fastest", fastest)):
        out.append(f"  - ours at recall {approx['recall']:.3f} ({approx['qps']:,.0f} QPS) vs "
                   f"Seismic's {label}, recall {r['recall']:.3f} ({r['qps']:,.0f} QPS): "
                   f"{approx['qps'] / r['qps']:.2f}x")  # fmt: skip
    return out


FAMILIES = {  # colour and marker of each system family in the plot
    "spire": ("tab:blue", "o"), "seismic": ("tab:orange", "s"), "bmp": ("tab:green", "^"),
    "Lucene": ("tab:red", "D"), "scipy": ("tab:gray", "x"), "sparse-dot-topn": ("tab:purple", "+"),
}  # fmt: skip


def pareto_plot(rows: list[dict], path: Path) -> None:
    """QPS (log) against recall@10, one panel per corpus; exact systems drawn larger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = list(dict.fromkeys(r["corpus"] for r in rows))
    fig, axes = plt.subplots(1, len(corpora), figsize=(5.5 * len(corpora), 4.5), squeeze=False)
    for ax, corpus in zip(axes[0], corpora, strict=True):
        seen = set()
        for r in (r for r in rows if r["corpus"] == corpus):
            family = r["system"].split(" ")[0]
            color, marker = FAMILIES.get(family, ("black", "."))
            ax.scatter(r["recall"], r["qps"], c=color, marker=marker, s=70 if r["exact"] else 25,
                       label=None if family in seen else family)  # fmt: skip
            seen.add(family)
            if r["system"].startswith("spire exact (taat)"):
                ax.annotate("spire exact", (r["recall"], r["qps"]), fontsize=7,
                            xytext=(-70, -25), textcoords="offset points",
                            arrowprops={"arrowstyle": "->", "lw": 0.6})  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("recall@10 against exact (tie-aware)")
        ax.set_ylabel("queries per second, 1 thread")
        ax.set_title(corpus)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
