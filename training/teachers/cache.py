"""Teacher scores are computed once per (teacher, pairs) and kept on disk as .npy + JSON.

The key hashes the teacher's cache key and the exact texts of every pair, so a changed
model, length or pair list never reads stale scores. Arrays are read with
allow_pickle=False; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from spire.core.errors import SpireError
from spire.core.files import fsync_file, read_json_object, write_text_atomic

from .base import Teacher


def pairs_key(teacher_key: str, queries: list[str], docs: list[str], pairs: np.ndarray) -> str:
    digest = hashlib.sha256(teacher_key.encode("utf-8"))
    for qi, di in pairs.tolist():
        digest.update(b"\x1d" + queries[qi].encode("utf-8") + b"\x1e" + docs[di].encode("utf-8"))
    return digest.hexdigest()


def cached_scores(
    teacher: Teacher,
    queries: list[str],
    docs: list[str],
    pairs: np.ndarray,
    cache_dir: str | Path,
) -> np.ndarray:
    """The teacher's (n,) scores for `pairs`, from `cache_dir` when already computed."""
    key = pairs_key(teacher.cache_key(), queries, docs, pairs)
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in teacher.spec)
    stem = Path(cache_dir) / f"{slug}-{key[:20]}"
    scores_file, meta_file = stem.with_suffix(".npy"), stem.with_suffix(".json")
    cached = _read(scores_file, meta_file, key, len(pairs))
    if cached is not None:
        return cached
    start = time.perf_counter()
    scores = np.asarray(teacher.score(queries, docs, pairs), dtype=np.float32)
    meta = {
        "teacher": teacher.spec,
        "teacher_key": teacher.cache_key(),
        "key": key,
        "pairs": len(pairs),
        "seconds": round(time.perf_counter() - start, 3),
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a crash never leaves a truncated array under the name.
    tmp = stem.parent / f".{stem.name}.{os.getpid()}.npy"
    np.save(tmp, scores, allow_pickle=False)
    fsync_file(tmp)
    os.replace(tmp, scores_file)
    write_text_atomic(meta_file, json.dumps(meta, indent=1))
    return scores


def _read(scores_file: Path, meta_file: Path, key: str, n: int) -> np.ndarray | None:
    """The cached scores, or None when absent, stale or damaged (then they are recomputed:
    a cache is never a reason to stop a run)."""
    if not (scores_file.is_file() and meta_file.is_file()):
        return None
    try:
        meta = read_json_object(meta_file)
        scores = np.load(scores_file, allow_pickle=False)
    except (SpireError, ValueError, OSError):
        return None
    if meta.get("key") != key or scores.shape != (n,):
        return None
    return scores
