"""Segmented search against one merged index: SciFact (inference-free splade-tiny) split
into 8 segments with some documents deleted, searched with the batch of test queries by
`retrieval.open_index`, against the same live documents merged into one index.

    .venv/bin/python scripts/bench_segments.py [--old-tree DIR] [--before-tree DIR]

Prints the ratio segmented / merged (median of --repeats batch searches each, after a
warm-up, the two taking turns), in wall and in CPU time. `--old-tree` names a checkout
of spire before the one-searcher change (e.g.
`git worktree add /tmp/spire-old f24ef64`); the old SegmentedSearcher (a Python loop over
queries and segments) is then timed on the same folder and queries, in a subprocess.
`--before-tree` does the same with another checkout's `open_index` (e.g. the commit
before a change to the segmented search), so a before/after pair is measured in one run.
The encoded index is kept in --work and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from encoders import load_encoder  # noqa: E402
from eval.data.datasets import load_dataset  # noqa: E402
from indexing import InvertedIndex, build_index  # noqa: E402
from indexing.incremental import SegmentStore, as_index  # noqa: E402
from retrieval import open_index  # noqa: E402
from retrieval.groups import runs  # noqa: E402

TIMER = """
import statistics, sys, time
import numpy as np, scipy.sparse as sp
folder, queries = sys.argv[1], sp.load_npz(sys.argv[2])
k, repeats = int(sys.argv[3]), int(sys.argv[4])
if sys.argv[5] == "old":
    from retrieval.segmented_searcher import SegmentedSearcher
    search = SegmentedSearcher(folder, encoder=object()).search_vectors
else:
    from retrieval import open_index
    search = open_index(folder, encoder=object()).search_arrays
search(queries[:5], k)  # compile
wall, cpu = [], []
for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.thread_time()
    search(queries, k)
    cpu.append(time.thread_time() - start_cpu)
    wall.append(time.perf_counter() - start)
print(statistics.median(wall), statistics.median(cpu))
"""


def encoded(work: Path, data_dir: Path) -> InvertedIndex:
    folder = work / "scifact-if"
    if not folder.exists():
        corpus = load_dataset(data_dir, "test").corpus
        encoder = load_encoder("splade-tiny", "inference-free")
        build_index(corpus.ids, corpus.texts, encoder).save(folder)
    return InvertedIndex.load(folder)


def segmented(work: Path, index: InvertedIndex, n_segments: int, deleted: float) -> Path:
    """The index's documents added in n_segments batches, then a fraction deleted."""
    folder = work / f"scifact-{n_segments}seg"
    if folder.exists():
        shutil.rmtree(folder)
    store = SegmentStore.create(folder, index.encoder, index.vocab_size, idf=index.idf)
    docs = index.to_matrix()
    for chunk in np.array_split(np.arange(index.n_docs), n_segments):
        store.add([index.docids[i] for i in chunk], docs[chunk])
    rng = np.random.default_rng(0)
    doomed = rng.choice(index.n_docs, int(deleted * index.n_docs), replace=False)
    store.delete([index.docids[i] for i in sorted(doomed)])
    return folder


def median_seconds(searches: dict, queries: sp.csr_matrix, k: int, repeats: int) -> dict:
    """name -> (median wall seconds, median CPU seconds of this thread) of a batch search,
    the searches taking turns so that a change in the machine's load hits them alike."""
    for search in searches.values():
        search(queries[:5], k)  # compile (or load the cached kernels) and derive what is lazy
    wall: dict[str, list[float]] = {name: [] for name in searches}
    cpu: dict[str, list[float]] = {name: [] for name in searches}
    for _ in range(repeats):
        for name, search in searches.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            search(queries, k)
            cpu[name].append(time.thread_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    return {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in searches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/scifact")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spire-bench-segments"))
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--deleted", type=float, default=0.05)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--old-tree", type=Path, default=None)
    parser.add_argument("--before-tree", type=Path, default=None)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    index = encoded(args.work, args.data)
    folder = segmented(args.work, index, args.segments, args.deleted)
    seg = open_index(folder)
    snap = seg.snapshot()
    merged = open_index(as_index(snap), encoder=seg.encoder)  # the same live documents
    texts = list(load_dataset(args.data, "test").queries.values())
    queries = seg.encoder.encode_queries(texts)

    times = median_seconds(
        {"merged": merged.search_arrays, "segmented": seg.search_arrays},
        queries, args.k, args.repeats,
    )  # fmt: skip
    (t_merged, cpu_merged), (t_seg, cpu_seg) = times["merged"], times["segmented"]
    pairs = zip(
        seg.search_vectors(queries, args.k), merged.search_vectors(queries, args.k), strict=True
    )
    same = [[h.docid for h in a] == [h.docid for h in b] for a, b in pairs]
    report = {
        "docs": snap.n_docs,
        "deleted": snap.n_deleted,
        "segments": len(snap.segments),
        "queries": queries.shape[0],
        "k": args.k,
        "merged_ms": 1000 * t_merged,
        "segmented_ms": 1000 * t_seg,
        "ratio": t_seg / t_merged,
        "merged_cpu_ms": 1000 * cpu_merged,  # one thread: CPU time is what load inflates least
        "segmented_cpu_ms": 1000 * cpu_seg,
        "cpu_ratio": cpu_seg / cpu_merged,
        "same_top_k_ids": sum(same) / len(same),  # segments requantise: scores differ a bit
        "groups": runs(snap),  # runs of small segments searched as one (retrieval/groups.py)
        **single_queries(args.work / "scifact-merged", snap, seg, queries, args),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    trees = {"old_python_loop": (args.old_tree, "old"), "before": (args.before_tree, "new")}
    for name, (tree, kind) in trees.items():
        if tree is not None:
            t_tree, cpu_tree = time_in_tree(tree, kind, folder, queries, args)
            report.update({f"{name}_ms": 1000 * t_tree, f"{name}_ratio": t_tree / t_merged,
                           f"{name}_cpu_ms": 1000 * cpu_tree,
                           f"{name}_cpu_ratio": cpu_tree / cpu_merged})  # fmt: skip
    print(json.dumps(report, indent=2))


def single_queries(merged_folder: Path, snap, seg, queries, args) -> dict:
    """CPU microseconds per call when each query is searched alone (`spire search`, the
    server): the segmented folder against the merged index saved to a folder, both opened
    with open_index (each call reads the folder's manifest.json)."""
    if merged_folder.exists():
        shutil.rmtree(merged_folder)
    as_index(snap).save(merged_folder)
    merged = open_index(merged_folder, encoder=seg.encoder)
    rows = [queries[i] for i in range(queries.shape[0])]

    def each(searcher):
        return lambda _, k: [searcher.search_arrays(row, k) for row in rows]

    times = median_seconds({"merged": each(merged), "segmented": each(seg)}, queries,
                           args.k, max(3, args.repeats // 3))  # fmt: skip
    us = {name: 1e6 * cpu / len(rows) for name, (_, cpu) in times.items()}
    return {
        "single_merged_cpu_us": us["merged"],
        "single_segmented_cpu_us": us["segmented"],
        "single_cpu_ratio": us["segmented"] / us["merged"],
    }


def time_in_tree(tree: Path, kind: str, folder: Path, queries, args) -> tuple[float, float]:
    """Median wall and CPU seconds of the batch in a subprocess running another checkout's searcher
    ("old": SegmentedSearcher; "new": open_index) on the same folder and queries."""
    path = args.work / "queries.npz"
    sp.save_npz(path, queries)
    out = subprocess.run(
        [sys.executable, "-c", TIMER, str(folder), str(path), str(args.k), str(args.repeats),
         kind],
        cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


if __name__ == "__main__":
    main()
