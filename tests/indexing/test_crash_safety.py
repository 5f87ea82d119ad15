"""Crash safety: SIGKILL the writer at random moments, hundreds of times.

After every kill the index must load (every file checked against its sha256) and hold
exactly the acknowledged documents, with the contents they were last written with: the
operation in flight at the kill (at most one) is either wholly applied or not at all.
Writers are forked from a warm helper process (crash_writer.py), so a cycle costs tens
of milliseconds and the whole test a few tens of seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from indexing.incremental import SegmentStore

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KILLS = 240  # the issue asks for at least 200 across the run
CONVERSION_KILLS = 30

_spec = importlib.util.spec_from_file_location("crash_writer", HERE / "crash_writer.py")
crash_writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_writer)


class Zygote:
    """The warm helper process; `spawn` returns the pid of a new writer child."""

    def __init__(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_writer.py"), str(REPO)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def spawn(self, root: Path, journal: Path, seed: int) -> int:
        self.proc.stdin.write(f"spawn {root} {journal} {seed}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the helper reaps it; wait until it is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.001)
    raise AssertionError(f"writer {pid} survived SIGKILL")


def key(vector: sp.csr_matrix) -> tuple:
    vector = sp.csr_matrix(vector)
    vector.sort_indices()
    return tuple(vector.indices.tolist()), tuple(vector.data.tolist())


def expected(model: dict[str, int]) -> dict[str, tuple]:
    return {docid: key(crash_writer.vector_for(docid, v)) for docid, v in model.items()}


def apply(model: dict[str, int], op: dict) -> dict[str, int]:
    model = dict(model)
    if op["op"] == "add":
        model.update({docid: version for docid, version in op["docs"]})
    elif op["op"] == "delete":
        for docid in op["ids"]:
            model.pop(docid, None)
    return model  # merges change no document


def actual(root: Path) -> dict[str, tuple]:
    """What a fresh reader sees; loading checks every file's size and sha256."""
    snap = SegmentStore(root).snapshot()
    out: dict[str, tuple] = {}
    for seg in snap.segments:
        matrix = seg.segment.index.to_matrix()
        docids = seg.segment.index.docids
        for doc in seg.live_docs().tolist():
            assert docids[doc] not in out, f"{docids[doc]} is live twice"
            out[docids[doc]] = key(matrix[doc])
    return out


def make_base(root: Path, n: int = 12) -> dict[str, int]:
    model = {f"b{i}": 0 for i in range(n)}
    vectors = sp.vstack([crash_writer.vector_for(d, 0) for d in model], format="csr")
    info = EncoderInfo(name="crash-test", mode="siamese")
    # float32 impacts: merges re-quantise, and only float32 makes that exact to compare.
    InvertedIndex.from_matrix(vectors, list(model), info, "float32").save(root)
    return model


def one_kill(zygote, root, journal, seed, delay, model) -> tuple[dict[str, int], str]:
    """Spawn a writer, kill it after `delay`, check the index; returns (model, phase)."""
    before = garbage(root)
    pid = zygote.spawn(root, journal, seed)
    time.sleep(delay)
    kill(pid)
    lines = journal.read_text().splitlines() if journal.exists() else []  # killed at birth
    events = [json.loads(line) for line in lines]
    errors = [e["message"] for e in events if e["event"] == "error"]
    assert not errors, errors
    pending = None
    for event in events:
        if event["event"] == "begin":
            pending = event
        elif event["event"] == "ack":
            model, pending = apply(model, pending), None
    began = any(e["event"] == "begin" for e in events)
    phase = pending["op"] if pending else ("between ops" if began else "startup")
    if garbage(root) - before:
        phase += " (left garbage)"  # killed between writing files and committing them
    seen = actual(root)
    if seen != expected(model):
        assert pending is not None, f"kill #{seed}: acknowledged state lost or altered"
        model = apply(model, pending)
        assert seen == expected(model), f"kill #{seed}: half an operation is visible ({phase})"
    return model, phase


def garbage(root: Path) -> set[str]:
    """Files no manifest references: what a kill between writing and committing leaves."""
    staging = root / "staging"
    found = {f"staging/{p.name}" for p in staging.iterdir()} if staging.is_dir() else set()
    try:
        refs = SegmentStore(root).snapshot().manifest.referenced()
    except Exception:
        return found  # actual() will report why the index does not load
    for folder in ("segments", "tombstones", "idf"):
        if (root / folder).is_dir():
            found |= {f"{folder}/{p.name}" for p in (root / folder).iterdir()} - refs
    return found


def test_sigkill_during_add_delete_and_merge(tmp_path):
    root = tmp_path / "index"
    model = make_base(root)
    rng = random.Random(1234)
    phases: Counter = Counter()
    zygote = Zygote()
    try:
        for i in range(KILLS):
            journal = tmp_path / f"journal-{i}.jsonl"
            delay = rng.uniform(0.002, 0.06)
            model, phase = one_kill(zygote, root, journal, i + 1, delay, model)
            phases[phase] += 1
    finally:
        zygote.close()
    print(f"kills by phase: {dict(phases)}")
    assert sum(phases.values()) >= 200
    by_op = Counter()
    for phase, n in phases.items():
        by_op[phase.split(" (")[0]] += n
    # timing decides the mix; these floors only guard against a test that stopped reaching
    # into the operations (deletes are quick, so fewer kills land in them)
    assert by_op["add"] >= 20 and by_op["delete"] >= 10 and by_op["merge"] >= 10, phases
    assert sum(n for phase, n in phases.items() if "garbage" in phase) >= 10, phases
    # A last writer sweeps what the killed ones left; then nothing unreferenced remains.
    store = SegmentStore(root)
    store.delete(["no-such-id"])  # any write takes the lock and sweeps
    assert garbage(root) == set()


def test_sigkill_while_converting_a_plain_index(tmp_path):
    """The first write turns a plain index into a segmented one; kill it mid-way."""
    rng = random.Random(99)
    zygote = Zygote()
    phases: Counter = Counter()
    try:
        for i in range(CONVERSION_KILLS):
            root = tmp_path / f"index-{i}"
            model = make_base(root)
            journal = tmp_path / f"journal-{i}.jsonl"
            _, phase = one_kill(zygote, root, journal, 10_000 + i, rng.uniform(0, 0.03), model)
            phases[phase] += 1
    finally:
        zygote.close()
    print(f"conversion kills by phase: {dict(phases)}")
