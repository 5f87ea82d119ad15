"""Milvus parity: the same top 10 and nDCG@10 as spire's own index, in both modes, with
milvus-lite (a real Milvus, embedded). Cranfield in the default set; SciFact is `full`."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "pymilvus", reason="the [milvus] extra (pymilvus, milvus-lite) is not installed"
)

from eval.data.run import Run  # noqa: E402
from eval.metrics import compute_metrics  # noqa: E402
from indexing import EncoderInfo, InvertedIndex  # noqa: E402
from indexing.milvus_export import export_folder  # noqa: E402
from retrieval.explain import Hit  # noqa: E402
from retrieval.milvus_search import open_milvus, same_top_k  # noqa: E402


def parity(encoded_corpus, dataset: str, mode: str, tmp: Path) -> tuple[float, float, float]:
    """(share of identical top-10s, spire nDCG@10, Milvus nDCG@10) over the judged queries."""
    from encoders import load_encoder

    data, docs, idf = encoded_corpus(dataset)
    encoder = load_encoder("splade-tiny", mode)
    folder = tmp / f"{dataset}-{mode}"
    InvertedIndex.from_matrix(
        docs, data.corpus.ids, EncoderInfo.of(encoder, mode),
        idf=idf if mode == "inference-free" else None,
    ).save(folder)  # fmt: skip
    uri, name = str(tmp / "milvus.db"), f"{dataset}_{mode.replace('-', '_')}"
    export_folder(str(folder), uri, name, show_progress=False)
    local, remote = open_milvus(folder, uri, name)
    qids = list(data.queries)
    vectors = local.encoder_for(local.snapshot()).encode_queries([data.queries[q] for q in qids])
    ours, theirs = local.search_vectors(vectors, 10), remote.search(vectors, 10)
    same = sum(same_top_k(a, b) for a, b in zip(ours, theirs, strict=True)) / len(qids)
    ndcg = [
        compute_metrics(data.qrels, Run.from_hits(dict(zip(qids, hits, strict=True))),
                        ["nDCG@10"])["nDCG@10"]
        for hits in (ours, theirs)
    ]  # fmt: skip
    return same, ndcg[0], ndcg[1]


@pytest.mark.parametrize("mode", ["inference-free", "siamese"])
@pytest.mark.parametrize("dataset", ["cranfield", pytest.param("scifact", marks=pytest.mark.full)])
def test_parity(encoded_corpus, tmp_path, dataset, mode):
    same, ours, theirs = parity(encoded_corpus, dataset, mode, tmp_path)
    print(f"{dataset} {mode}: top-10 identical {same:.4f}, nDCG@10 {ours:.4f} vs {theirs:.4f}")
    assert same >= 0.99
    assert abs(ours - theirs) <= 0.002


def test_same_top_k_is_tie_aware():
    a = [Hit("x", 3.0), Hit("y", 2.0), Hit("z", 1.0)]
    assert same_top_k(a, [Hit("x", 3.0), Hit("y", 2.0), Hit("w", 1.0)], k=3)  # tie at the cut
    assert not same_top_k(a, [Hit("y", 3.0), Hit("x", 2.0), Hit("z", 1.0)], k=3)
    assert not same_top_k(a, [Hit("x", 3.0), Hit("y", 2.5), Hit("z", 1.0)], k=3)
    assert not same_top_k(a, a[:2], k=3)
