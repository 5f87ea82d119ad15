"""Compile the search kernels ahead of the first search, into numba's on-disk cache.

A fresh install, or a change to a kernel's source, leaves the cache empty: the first
search in a new process then compiles for about 28 s on a busy 2-core machine. So
`make setup` runs `python -m retrieval.warm`, which searches a tiny index of every
impact type and doc id layout once, loaded from disk as `spire search` loads one, and
`spire index` searches the index it wrote. Later processes load the compiled kernels
from the cache. numba keeps it beside the sources (`__pycache__/*.nbi, *.nbc`), or under
$NUMBA_CACHE_DIR when that is set (or when the sources' folder is read-only, in numba's
user-wide cache folder).

Kernels are compiled per argument type; retrieval.batch.read_only gives an index built
in memory the types of one loaded from disk, so both share these compiled kernels.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from indexing.incremental.segment import Segment
from indexing.incremental.snapshot import LiveSegment
from indexing.manifest import COMPRESSIONS
from indexing.quantize import DTYPES

from .batch import Knobs
from .groups import GroupSearch, SegmentGroup, dead_docs
from .searcher import Searcher


def warm_folder(folder: str | Path) -> None:
    """One search of an index folder, opened as `spire search` opens it (memory-mapped,
    checked), which compiles or loads every kernel such a search runs."""
    index = InvertedIndex.load(folder)
    width = index.vocab_size
    query = sp.csr_matrix(
        (np.ones(2, dtype=np.float32), np.arange(2) % max(width, 1), [0, 2]), shape=(1, width)
    )
    for algorithm in ("taat", "blockmax"):  # blockmax also builds its block maxima
        Searcher(index, algorithm=algorithm).search_vectors(query, 10)


def warm_group(index: InvertedIndex) -> None:
    """One search of a group of two small segments (retrieval/groups.py) with a deleted
    document: the kernel a segmented index's small segments are searched with."""
    segments = [LiveSegment.of(Segment(f"s{i}", index), None, np.array([0], np.int32))
                for i in range(2)]  # fmt: skip
    group = GroupSearch(SegmentGroup.of(segments))
    query = sp.csr_matrix(np.ones((1, index.vocab_size), dtype=np.float32))
    group.run(query, 10, Knobs(), dead_docs(group.group, segments))


def warm_all(root: Path) -> list[tuple[str, str, float]]:
    """Warm a tiny index of each impact type and layout written under `root`, and a
    group of segments of each impact type; returns (impact type, compression or
    "group", seconds) for each."""
    rng = np.random.default_rng(0)
    docs = sp.random(50, 40, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    ids = [f"d{i}" for i in range(docs.shape[0])]
    info = EncoderInfo(name="warm-up", mode="siamese")
    timings = []
    for dtype in DTYPES:
        for compression in COMPRESSIONS:
            start = time.perf_counter()
            folder = root / f"{dtype}-{compression}"
            InvertedIndex.from_matrix(docs, ids, info, dtype, compression=compression).save(folder)
            warm_folder(folder)
            timings.append((dtype, compression, time.perf_counter() - start))
        start = time.perf_counter()
        warm_group(InvertedIndex.from_matrix(docs, ids, info, dtype))
        timings.append((dtype, "group", time.perf_counter() - start))
    return timings


def main() -> None:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spire-warm-") as tmp:
        for dtype, compression, seconds in warm_all(Path(tmp)):
            print(f"search kernels for {dtype} {compression}: {seconds:.1f} s", file=sys.stderr)
    print(
        f"search kernels compiled or cached in {time.perf_counter() - start:.1f} s", file=sys.stderr
    )


if __name__ == "__main__":
    main()
