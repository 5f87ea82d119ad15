"""Streaming, resumable indexing (indexing/streaming.py): the same index as build_index,
a resume after an interruption, and refusals."""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pytest

from encoders import load_encoder
from eval.data.datasets import iter_corpus, load_corpus
from indexing import build_index
from indexing.streaming import discard_shards, save_streamed, shards_folder, stream_index
from spire.core.errors import SpireError
from tests.conftest import BUNDLED_CRANFIELD

N_DOCS, SHARD = 40, 16


@pytest.fixture(scope="module")
def docs() -> list[tuple[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Cranfield's empty documents
        corpus = load_corpus(BUNDLED_CRANFIELD)
    return list(zip(corpus.ids[:N_DOCS], corpus.texts[:N_DOCS], strict=True))


@pytest.fixture(scope="module")
def encoder(splade_tiny_path):
    return load_encoder(str(splade_tiny_path), "inference-free", doc_max_length=64)


def fresh(encoder):
    """The encoder without a fitted IDF (each build fits its own)."""
    encoder.idf, encoder.idf_from = None, None
    return encoder


def same(a, b) -> None:
    assert a.docids == b.docids and a.scale == b.scale
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.all_doc_ids(), b.all_doc_ids())
    assert np.array_equal(a.impacts, b.impacts)
    assert np.array_equal(a.idf, b.idf)
    assert a.encoder == b.encoder and a.compression == b.compression


def test_streamed_equals_build_index_and_resumes(docs, encoder, tmp_path):
    ids, texts = (list(x) for x in zip(*docs, strict=True))
    whole = build_index(ids, texts, fresh(encoder), show_progress=False)
    out = tmp_path / "idx"
    source = {"path": "cranfield"}

    def interrupted():  # a corpus that fails after 2 shards and a half
        for i, doc in enumerate(docs):
            if i == 2 * SHARD + 5:
                raise SpireError("corpus.jsonl.gz: unreadable after line 37")
            yield doc

    with pytest.raises(SpireError, match="after line 37"):
        stream_index(interrupted(), out, fresh(encoder), source, shard_docs=SHARD,
                     show_progress=False)  # fmt: skip
    kept = sorted(p.name for p in shards_folder(out).glob("shard-*"))
    assert kept == ["shard-000000", "shard-000001"] and not out.exists()
    index, stats = stream_index(iter(docs), out, fresh(encoder), source, shard_docs=SHARD,
                                show_progress=False)  # fmt: skip
    assert stats.resumed_docs == 2 * SHARD and stats.docs == N_DOCS and stats.shards == 3
    same(index, whole)
    discard_shards(out)
    assert not shards_folder(out).exists()


def test_resume_with_another_model_or_corpus_is_refused(docs, encoder, tmp_path):
    out = tmp_path / "idx"
    source = {"path": "cranfield"}
    with pytest.raises(ZeroDivisionError):  # an interruption after one shard
        stream_index((d if i < SHARD else 1 / 0 for i, d in enumerate(docs)), out,
                     fresh(encoder), source, shard_docs=SHARD, show_progress=False)  # fmt: skip
    with pytest.raises(SpireError, match="other settings.*doc_max_length"):
        other = load_encoder(encoder.name, "inference-free", doc_max_length=32)
        stream_index(iter(docs), out, other, source, shard_docs=SHARD, show_progress=False)
    changed = [("other-id", docs[0][1]), *docs[1:]]
    with pytest.raises(SpireError, match="corpus changed.*'other-id'"):
        stream_index(iter(changed), out, fresh(encoder), source, shard_docs=SHARD,
                     show_progress=False)  # fmt: skip


def test_duplicate_ids_are_refused(docs, encoder, tmp_path):
    with pytest.raises(SpireError, match="duplicate document id"):
        stream_index(iter([docs[0], docs[1], docs[0]]), tmp_path / "idx", fresh(encoder),
                     {"path": "x"}, shard_docs=SHARD, show_progress=False)  # fmt: skip


def test_a_truncated_gzip_names_the_file_and_the_line_reached(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    lines = "".join(json.dumps({"_id": str(i), "text": f"doc {i} " * 50}) + "\n"
                    for i in range(2000))  # fmt: skip
    blob = gzip.compress(lines.encode())
    path.write_bytes(blob[: len(blob) // 2])
    read = []
    with pytest.raises(SpireError, match=r"corpus\.jsonl\.gz: unreadable after line \d+ .*trunc"):
        for _, doc_id, _ in iter_corpus(path):
            read.append(doc_id)
    assert 0 < len(read) < 2000


def test_a_gzipped_corpus_reads_as_the_plain_one(tmp_path):
    lines = "".join(json.dumps({"_id": f"d{i}", "title": "t", "text": f"doc {i}"}) + "\n"
                    for i in range(5))  # fmt: skip
    (tmp_path / "plain").mkdir()
    (tmp_path / "gz").mkdir()
    (tmp_path / "plain" / "corpus.jsonl").write_text(lines)
    (tmp_path / "gz" / "corpus.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    plain, gz = load_corpus(tmp_path / "plain"), load_corpus(tmp_path / "gz")
    assert plain.ids == gz.ids and plain.texts == gz.texts
    assert list(iter_corpus(tmp_path / "gz" / "corpus.jsonl.gz"))[0] == (1, "d0", "t doc 0")


def test_a_full_disk_is_one_clear_error_and_keeps_the_shards(docs, encoder, tmp_path):
    out = tmp_path / "idx"
    real_save = np.save
    calls = {"n": 0}

    def save_until_full(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 4:  # the first shard (3 arrays + df) fits, then the disk is full
            raise OSError(28, "No space left on device")
        return real_save(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(np, "save", save_until_full)
        with pytest.raises(SpireError, match="could not write shard 1 .No space left"):
            stream_index(iter(docs), out, fresh(encoder), {"path": "x"}, shard_docs=SHARD,
                         show_progress=False)  # fmt: skip
    assert [p.name for p in shards_folder(out).iterdir() if p.name.startswith("shard")] == [
        "shard-000000"
    ]
    index, stats = stream_index(iter(docs), out, fresh(encoder), {"path": "x"},
                                shard_docs=SHARD, show_progress=False)  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space")))
        with pytest.raises(SpireError, match="nothing was written under that name"):
            save_streamed(index, out)
    assert not out.exists() and shards_folder(out).is_dir()
    save_streamed(index, out)
    assert out.is_dir() and not shards_folder(out).exists()
