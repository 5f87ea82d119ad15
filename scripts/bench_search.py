"""Search speed side by side: spire's kernels against scipy, sparse-dot-topn, Lucene impact
search (Pyserini), Seismic and BMP, on the same vectors and the same queries.

    .venv/bin/python scripts/bench_search.py                       # SciFact + 1M synthetic
    .venv/bin/python scripts/bench_search.py --corpora synthetic --docs 100000  # quick

Corpora: SciFact encoded by splade-tiny (siamese and inference-free queries; cached under
$SPIRE_HOME/bench) and a synthetic corpus sampled from the statistics of the encoded
SciFact and MS MARCO subset (see scripts/bench_data.py). Every system sees our uint8
impacts and the queries rounded to integers (weight * 100, as Lucene needs), so all
compute the same dot products. Single thread throughout. Recall@10 is against our exact
top 10 and tie-aware: a hit counts when its true score reaches the exact 10th score.
spire rows search the default index (bit-packed doc ids); rows marked "plain doc ids"
search the same postings uncompressed, for the cost of decoding. The exact taat rows
also save their index and report its folder's size on disk.
The anchors need `pip install -e '.[bench,lucene]'`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_systems as systems  # noqa: E402
from bench_data import encode_collection, synthetic, term_stats  # noqa: E402
from bench_profile import profile  # noqa: E402
from bench_report import goals, markdown, pareto_plot  # noqa: E402

from eval.experiments.baselines.lucene_impact import integer_queries  # noqa: E402
from indexing import EncoderInfo, InvertedIndex  # noqa: E402


def corpora(args):
    """(name, make) for each corpus asked for; make() returns (float docs, float queries),
    built only when its turn comes so that one corpus at a time sits in memory."""
    encoded = encode_collection("scifact")
    if "scifact" in args.corpora:
        for mode in ("siamese", "inference-free"):
            yield f"SciFact {mode}", lambda m=mode: (encoded.docs, encoded.queries[m])
    if "synthetic" in args.corpora:
        stats = term_stats([encoded, encode_collection("msmarco-dl19-subset")])
        yield (f"synthetic {args.docs:,} docs",
               lambda: synthetic(stats, args.docs, args.queries, seed=args.seed))  # fmt: skip


def true_scores(impacts: sp.csr_matrix, query: sp.csr_matrix, docs: np.ndarray) -> np.ndarray:
    return np.asarray((impacts[docs] @ query.T).todense()).ravel() if docs.size else np.zeros(0)


def recall(impacts, queries, exact, found, k) -> float:
    """Tie-aware recall@k of `found` against the exact top k."""
    values = []
    for i, (ref, got) in enumerate(zip(exact, found, strict=True)):
        if ref.size == 0:
            continue
        cut = true_scores(impacts, queries[i], ref[:k]).min()
        got = np.unique(got[:k])
        values.append(
            min(int((true_scores(impacts, queries[i], got) >= cut).sum()), k) / min(k, ref.size)
        )
    return float(np.mean(values)) if values else 1.0


def measure(system, queries, k, n_latency) -> tuple[dict, list[np.ndarray]]:
    system.batch(queries[: min(5, queries.shape[0])], k)  # warm-up: jit, JVM, caches
    start = time.perf_counter()
    found = system.batch(queries, k)
    qps = queries.shape[0] / (time.perf_counter() - start)
    lat = []
    for i in range(min(n_latency, queries.shape[0])):
        start = time.perf_counter()
        system.one(queries[i], k)
        lat.append(1000 * (time.perf_counter() - start))
    row = dict(system=system.name, exact=system.exact, qps=qps,
               p50_ms=float(np.percentile(lat, 50)), p99_ms=float(np.percentile(lat, 99)),
               size_mb=system.size_bytes / 2**20, build_s=system.build_s,
               disk_bytes=system.disk_bytes)  # fmt: skip
    return row, found


PLAIN = " [plain doc ids]"  # the label suffix of rows over the uncompressed index


def ours(n_docs: int) -> list[tuple[str, bool, dict]]:
    """Our exact kernels, then approximate settings from mild to aggressive; then the
    main ones again over plain doc ids, for the cost of decoding packed ones."""
    taat, bmax = {"algorithm": "taat"}, {"algorithm": "blockmax"}
    configs = [("spire exact (taat)", True, taat), ("spire exact (block-max)", True, bmax)]
    for m, c in ((40, 100), (32, 200), (24, 200), (16, 100)):
        configs.append((f"spire two-phase m={m} rescore={c}", False,
                        taat | {"query_terms": m, "rescore": c}))  # fmt: skip
    for m in (32, 16):
        configs.append((f"spire query_terms={m}", False, taat | {"query_terms": m}))
    for f in (0.7, 0.5):
        configs.append((f"spire block-max factor={f}", False, bmax | {"block_factor": f}))
    for share in (20, 100):
        # Static pruning for the first phase, exact rescoring on the full postings.
        n = max(100, n_docs // share)
        configs.append((f"spire two-phase prune={n} rescore=200", False,
                        taat | {"prune_postings": n, "rescore": 200}))  # fmt: skip
    n = max(100, n_docs // 100)
    configs.append((f"spire static prune {n:,}/term", False, taat | {"prune": n}))
    prune = max(100, n_docs // 20)
    compared = ("spire exact", "spire two-phase m=40 ", f"spire two-phase prune={prune} ")
    again = [(label + PLAIN, e, knobs) for label, e, knobs in configs if label.startswith(compared)]
    return configs + again


def anchors(args, index, impacts, workdir):
    """The anchors, built one at a time (the caller drops each before the next)."""
    if "scipy" not in args.skip:
        yield systems.Scipy(impacts)
    if "sparse-dot-topn" not in args.skip:
        yield systems.SparseDotTopn(impacts)
    if "bmp" not in args.skip:
        yield systems.Bmp(impacts, workdir)
    if "seismic" not in args.skip:
        yield systems.Seismic(impacts, workdir, 10, 0.9, args.seismic_postings)
    if "lucene" not in args.skip and index.n_docs <= args.lucene_max_docs:
        from encoders import load_encoder

        tokenizer = load_encoder("splade-tiny", "inference-free").tokenizer
        yield systems.Lucene(index, tokenizer, workdir)


def variants(system):
    """Extra settings of an already built anchor, each measured as its own row."""
    if isinstance(system, systems.Seismic):
        return [(c, h) for c in (10, 20, 40) for h in (0.9, 1.0) if (c, h) != (10, 0.9)]
    if isinstance(system, systems.Bmp):
        return [(0.9, 1.0), (0.8, 1.0), (1.0, 0.8)]
    return []


def bench_corpus(args, name, make) -> list[dict]:
    docs, queries = make()
    print(f"\n== {name}: {docs.shape[0]:,} docs, {queries.shape[0]} queries", flush=True)
    queries = integer_queries(queries)
    queries = queries[np.diff(queries.indptr) > 0]
    info = EncoderInfo(name="splade-tiny", mode="siamese")
    start = time.perf_counter()
    ids = [str(i) for i in range(docs.shape[0])]
    plain = InvertedIndex.from_matrix(docs, ids, info, "uint8", compression="none")
    plain_s = time.perf_counter() - start
    index = plain.with_compression("bitpack")  # the default layout
    index_s = time.perf_counter() - start
    del docs
    impacts = index.to_matrix()
    impacts.data = np.rint(impacts.data / index.scale).astype(np.float32)  # the integers
    rows, exact = [], None
    workdir = systems.scratch_dir()

    def record(row: dict, found: list[np.ndarray]) -> None:
        rows.append(row | {"recall": recall(impacts, queries, exact, found, args.k),
                           "corpus": name, "n_postings": index.n_postings})  # fmt: skip
        rows[-1]["bytes_per_posting"] = rows[-1]["size_mb"] * 2**20 / index.n_postings
        disk = rows[-1].pop("disk_bytes")
        rows[-1]["disk_bytes_per_posting"] = None if disk is None else disk / index.n_postings
        print(json.dumps(rows[-1]), flush=True)
        with open(f"{args.out}.jsonl", "a") as log:  # survives a crash of a later system
            log.write(json.dumps(rows[-1]) + "\n")

    for label, is_exact, knobs in ours(index.n_docs):
        source, build_s = (plain, plain_s) if label.endswith(PLAIN) else (index, index_s)
        saved = label.startswith("spire exact (taat)")  # the size on disk of either layout
        disk = workdir / f"spire-{source.compression}" if saved else None
        system = systems.Ours(source, label, is_exact, disk_dir=disk, **knobs)
        system.build_s += build_s
        row, found = measure(system, queries, args.k, args.latency_queries)
        exact = found if exact is None else exact
        record(row, found)
        del system
    for system in anchors(args, index, impacts, workdir):
        for setting in [None, *variants(system)]:
            if setting is not None:
                system.configure(*setting)
            row, found = measure(system, queries, args.k, args.latency_queries)
            record(row, found)
        del system
        gc.collect()
    systems.shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=["scifact", "synthetic"])
    parser.add_argument("--docs", type=int, default=1_000_000, help="synthetic corpus size")
    parser.add_argument("--queries", type=int, default=200, help="synthetic queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-queries", type=int, default=100)
    parser.add_argument(
        "--skip", nargs="*", default=[], help="lucene, seismic, bmp, scipy, sparse-dot-topn"
    )
    parser.add_argument("--seismic-postings", type=int, default=4000,
                        help="Seismic n_postings (4000: its MS MARCO setting)")  # fmt: skip
    parser.add_argument("--lucene-max-docs", type=int, default=2_000_000)
    parser.add_argument("--out", type=Path, default=Path("docs/bench_search"))
    parser.add_argument("--profile", action="store_true",
                        help="only profile the exact kernel on the synthetic corpus")  # fmt: skip
    parser.add_argument("--render", type=Path, nargs="+", metavar="JSONL",
                        help="only render the tables and plot of saved .jsonl rows")  # fmt: skip
    args = parser.parse_args()
    if args.profile:
        name, make = list(corpora(args))[-1]
        docs, queries = make()
        info = EncoderInfo(name="splade-tiny", mode="siamese")
        index = InvertedIndex.from_matrix(
            docs, [""] * docs.shape[0], info, "uint8", compression="none"
        )
        print(name, profile(index, integer_queries(queries)))
        return
    if args.render:
        render([json.loads(line) for p in args.render for line in p.read_text().splitlines()],
               args.out)  # fmt: skip
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.jsonl").unlink(missing_ok=True)
    rows = []
    for name, make in corpora(args):
        rows += bench_corpus(args, name, make)
    render(rows, args.out)
    print(f"load: {os.getloadavg()}")


def render(rows: list[dict], out: Path) -> None:
    Path(f"{out}.json").write_text(json.dumps(rows, indent=1))
    pareto_plot(rows, Path(f"{out}.png"))
    print(markdown(rows))
    print(goals(rows))


if __name__ == "__main__":
    main()
