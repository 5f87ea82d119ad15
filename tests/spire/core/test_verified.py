"""A verified file is not hashed again until it changes; a changed one is caught."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from spire.core import verified
from spire.core.errors import SpireError
from spire.core.hashing import sha256_file


@pytest.fixture
def hashes(tmp_path, monkeypatch) -> list[str]:
    """Markers under a private SPIRE_HOME, no racy window; the names of files hashed."""
    monkeypatch.setenv("SPIRE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(verified, "RACY_SECONDS", -1.0)
    seen: list[str] = []

    def counted(path):
        seen.append(os.path.basename(path))
        return sha256_file(path)

    monkeypatch.setattr(verified, "sha256_file", counted)
    return seen


def test_a_file_is_hashed_once_then_again_after_a_change(tmp_path, hashes):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 100)
    digest = sha256_file(path)
    assert verified.sha256_matches(path, digest)
    assert verified.sha256_matches(path, digest)
    assert hashes == ["f.bin"]
    stat = path.stat()
    time.sleep(0.05)  # past the clock's tick: the rewrite gets a new change time
    path.write_bytes(b"b" * 100)  # same size, and the old modification time put back
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not verified.sha256_matches(path, digest)
    assert not verified.sha256_matches(path, digest)  # a mismatch is never remembered
    assert hashes == ["f.bin"] * 3


def test_a_fresh_file_is_not_remembered(tmp_path, hashes, monkeypatch):
    monkeypatch.setattr(verified, "RACY_SECONDS", 60.0)
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = sha256_file(path)
    assert verified.sha256_matches(path, digest) and verified.sha256_matches(path, digest)
    assert hashes == ["f.bin", "f.bin"]  # it could still change within the clock's tick


def test_an_unwritable_home_only_costs_hashing(tmp_path, hashes, monkeypatch):
    (tmp_path / "home").write_text("a file, not a folder")
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = sha256_file(path)
    assert verified.sha256_matches(path, digest) and verified.sha256_matches(path, digest)
    assert len(hashes) == 2


def test_reopening_an_index_hashes_nothing_and_corruption_is_caught(tmp_path, hashes):
    rng = np.random.default_rng(0)
    docs = sp.random(30, 20, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    folder = tmp_path / "idx"
    InvertedIndex.from_matrix(docs, [f"d{i}" for i in range(30)], EncoderInfo("t", "siamese")).save(
        folder
    )
    InvertedIndex.load(folder)
    first = len(hashes)
    assert first >= 3
    InvertedIndex.load(folder)
    assert len(hashes) == first  # every file remembered
    impacts = folder / "postings" / "impacts.npy"
    time.sleep(0.05)
    raw = bytearray(impacts.read_bytes())
    raw[-1] ^= 0xFF
    impacts.write_bytes(bytes(raw))
    with pytest.raises(SpireError, match="impacts.npy: corrupt"):
        InvertedIndex.load(folder)
