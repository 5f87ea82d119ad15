"""Helper for test_crash_safety.py: a pre-warmed process that forks writer children.

Run as a script, it imports numpy, scipy and the incremental writer once, then reads
commands on stdin. "spawn ROOT JOURNAL SEED" forks a child that writes to the index at
ROOT forever (random adds, replaces, deletes and merges of tiny pre-encoded documents)
and prints the child's pid. The test SIGKILLs the child at a random moment. Forking a
warm process makes a writer start in milliseconds, so hundreds of kills fit in seconds.

The child appends one JSON line per event to JOURNAL with an unbuffered write:
"begin" (with the whole operation) before it calls the store, "ack" after the call
returned, which is after the commit. So every acknowledged operation is in the journal,
and at most one operation (the last "begin") is in flight when the kill lands.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import zlib

import numpy as np
import scipy.sparse as sp

VOCAB = 64


def vector_for(docid: str, version: int) -> sp.csr_matrix:
    """The (1, VOCAB) vector of one version of a document, the same in every process."""
    rng = np.random.default_rng(zlib.crc32(f"{docid}:{version}".encode()))
    terms = np.sort(rng.choice(VOCAB, size=int(rng.integers(1, 7)), replace=False))
    weights = rng.uniform(0.1, 3.0, size=terms.size).astype(np.float32)
    return sp.csr_matrix((weights, terms, [0, terms.size]), shape=(1, VOCAB))


def choose(rng: random.Random, live: list[str], prefix: str, counter: list[int]) -> dict:
    roll = rng.random()
    if roll < 0.5 or len(live) < 4:
        docs = []
        for _ in range(rng.randint(1, 4)):
            if live and rng.random() < 0.3:
                docid = rng.choice(live)  # a replace
            else:
                counter[0] += 1
                docid = f"{prefix}-{counter[0]}"
            if all(d != docid for d, _ in docs):
                docs.append((docid, rng.randrange(1 << 30)))
        return {"op": "add", "docs": docs}
    if roll < 0.8:
        ids = rng.sample(live, rng.randint(1, min(3, len(live))))
        return {"op": "delete", "ids": [*ids, f"{prefix}-missing"]}
    return {"op": "merge", "auto": rng.random() < 0.5}


def run_writer(root: str, journal: str, seed: int) -> None:
    from indexing.incremental import MergePolicy, SegmentStore

    fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(event: dict) -> None:
        os.write(fd, (json.dumps(event) + "\n").encode())

    rng = random.Random(seed)
    counter = [0]
    policy = MergePolicy(small_docs=8, fanout=3, max_deleted_fraction=0.3)
    log({"event": "start"})
    try:
        store = SegmentStore(root)
        _loop(store, rng, counter, policy, seed, log)
    except Exception as exc:  # a bug: the test fails on any "error" event
        log({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        raise


def _loop(store, rng, counter, policy, seed, log) -> None:
    from indexing.incremental import maybe_merge

    while True:
        op = choose(rng, list(store.snapshot().live_ids()), f"s{seed}", counter)
        log({"event": "begin", **op})
        if op["op"] == "add":
            ids = [d for d, _ in op["docs"]]
            store.add(ids, sp.vstack([vector_for(d, v) for d, v in op["docs"]], format="csr"))
        elif op["op"] == "delete":
            store.delete(op["ids"])
        elif op["auto"]:
            maybe_merge(store, policy)
        else:
            store.merge()
        log({"event": "ack"})


def warm_up() -> None:
    """Write, load and decode a tiny index once, so that the numba functions a writer
    calls (packing, checking and decoding doc ids) are compiled here and inherited by
    every child; otherwise each child would spend its life loading them and die in
    startup."""
    import tempfile

    from indexing import EncoderInfo, InvertedIndex

    matrix = sp.vstack([vector_for(f"w{i}", 0) for i in range(3)], format="csr")
    with tempfile.TemporaryDirectory() as tmp:
        index = InvertedIndex.from_matrix(matrix, ["a", "b", "c"], EncoderInfo("t", "siamese"))
        InvertedIndex.load(index.save(f"{tmp}/ix")).to_matrix()  # merges decode


def serve_forks() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps killed children
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd != "spawn":
            continue
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                run_writer(args[0], args[1], int(args[2]))
            finally:
                os._exit(1)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])  # the repository root
    # Warm: children start without imports. The package loads its modules lazily, so
    # name what a writer uses (store, merge, and what they import).
    from indexing.incremental import MergePolicy, SegmentStore, maybe_merge  # noqa: F401

    warm_up()
    serve_forks()
