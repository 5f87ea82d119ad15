"""`spire index --engine ray`: a local Ray cluster (2 CPUs, 2 workers) builds the same
index as the single-process build; a dying worker commits no partial shard, and a rerun
resumes from the committed ones. One cluster for the module: Ray's start-up is slow."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray", reason="the [ray] extra is not installed (make setup installs it)")

from encoders import load_encoder  # noqa: E402
from indexing import InvertedIndex, build_index  # noqa: E402
from indexing.distributed import RayOptions, build_index_ray  # noqa: E402
from indexing.distributed.actors import ShardEncoder  # noqa: E402
from spire.core.errors import SpireError  # noqa: E402

CRANFIELD = Path(__file__).resolve().parents[2] / "spire" / "data" / "cranfield"


def test_unreachable_address_is_one_line():
    # First in the module: once the module's cluster is up, connect_ray joins that one.
    from indexing.distributed.actors import connect_ray

    with pytest.raises(SpireError, match=r"--ray-address ray://127\.0\.0\.1:1: cannot connect"):
        connect_ray("ray://127.0.0.1:1", 1)


@pytest.fixture(scope="module")
def ray_cluster():
    import cloudpickle
    import ray

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus():
    from eval.data.datasets import load_corpus

    with warnings.catch_warnings():  # Cranfield's two empty documents are indexed empty
        warnings.simplefilter("ignore")
        return load_corpus(CRANFIELD)


def same_index(a: InvertedIndex, b: InvertedIndex) -> None:
    assert a.docids == b.docids
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.all_doc_ids(), b.all_doc_ids())
    np.testing.assert_array_equal(a.impacts, b.impacts)
    assert a.scale == b.scale
    if a.idf is not None or b.idf is not None:
        np.testing.assert_array_equal(a.idf, b.idf)


def test_ray_index_equals_local(ray_cluster, encoded_corpus, tmp_path):
    """Cranfield on 2 workers in 4 shards: the local build's ids, postings, impacts and
    scale (its document vectors are the session's shared encoding, as build_index makes)."""
    from indexing import EncoderInfo

    data, docs, idf = encoded_corpus("cranfield")
    encoder = load_encoder("splade-tiny", "inference-free")
    local = InvertedIndex.from_matrix(docs, data.corpus.ids, EncoderInfo.of(encoder), idf=idf)
    options = RayOptions(num_workers=2, shard_docs=400)
    built, run = build_index_ray(data.corpus.ids, data.corpus.texts, encoder, "splade-tiny",
                                 tmp_path / "idx", options, show_progress=False)  # fmt: skip
    assert run["shards"] == 4 and run["shards_encoded"] == 4
    same_index(local, built)
    same_index(local, InvertedIndex.load(tmp_path / "idx"))
    assert not (tmp_path / "idx.ray-work").exists()


def dying_encoder(marker: Path, once: bool) -> type:
    """A ShardEncoder whose process exits on shard 1: once (then a marker file exists) or
    every time. Built per test: cloudpickle sends the class, attributes and all, by value."""

    class DiesOnShard(ShardEncoder):
        def __call__(self, batch):
            if 1 in [int(s) for s in batch["shard"]] and not marker.exists():
                if once:
                    marker.touch()
                os._exit(1)
            return super().__call__(batch)

    return DiesOnShard


SMALL_BATCHES = {"tokens_per_batch": 1024}  # more, smaller shards of a small corpus


def test_dying_worker_then_resume(ray_cluster, corpus, tmp_path, monkeypatch):
    import indexing.distributed.ray_index as ray_index
    from indexing.incremental import SegmentStore

    ids, texts = corpus.ids[:150], corpus.texts[:150]
    encoder = load_encoder("splade-tiny", "inference-free", **SMALL_BATCHES)
    shards = ray_index.shard_plan(encoder, texts, 40, 1)
    assert len(shards) >= 3
    out = tmp_path / "idx"
    options = RayOptions(num_workers=1, shard_docs=40, retries=0)
    monkeypatch.setattr(ray_index, "ShardEncoder", dying_encoder(tmp_path / "died", False))
    with pytest.raises(SpireError, match="run the same command again to resume"):
        build_index_ray(ids, texts, encoder, "splade-tiny", out, options,
                        encoder_options=SMALL_BATCHES, show_progress=False)  # fmt: skip
    assert not out.exists()
    snap = SegmentStore(tmp_path / "idx.ray-work").snapshot()
    committed = sorted(sorted(seg.segment.index.docids) for seg in snap.segments)
    whole = sorted(sorted(ids[j] for j in shard) for shard in shards)
    assert all(docs in whole for docs in committed)  # whole shards only
    assert sorted(ids[j] for j in shards[1]) not in committed  # the dying shard never
    monkeypatch.setattr(ray_index, "ShardEncoder", ShardEncoder)
    built, run = build_index_ray(ids, texts, encoder, "splade-tiny", out, options,
                                 encoder_options=SMALL_BATCHES, show_progress=False)  # fmt: skip
    assert run["shards_resumed"] == len(committed)
    assert run["shards_encoded"] == len(shards) - len(committed)
    same_index(build_index(ids, texts, encoder, show_progress=False), built)


@pytest.mark.full  # the default set already kills a worker (above); this adds the restart
def test_dying_worker_retried(ray_cluster, corpus, tmp_path, monkeypatch):
    import indexing.distributed.ray_index as ray_index

    ids, texts = corpus.ids[:100], corpus.texts[:100]
    encoder = load_encoder("splade-tiny", "inference-free", **SMALL_BATCHES)
    monkeypatch.setattr(ray_index, "ShardEncoder", dying_encoder(tmp_path / "died", True))
    options = RayOptions(num_workers=1, shard_docs=40, retries=1)
    built, run = build_index_ray(ids, texts, encoder, "splade-tiny", tmp_path / "idx", options,
                                 encoder_options=SMALL_BATCHES, show_progress=False)  # fmt: skip
    assert (tmp_path / "died").exists() and run["shards_resumed"] == 0
    same_index(build_index(ids, texts, encoder, show_progress=False), built)
