"""Dense fusion in /search, end to end: a real uvicorn server, a real httpx client, a real
all-MiniLM-L6-v2 dense index built by `spire index-dense`, checked against offline fusion
(`retrieval.fusion.fuse`) of the same sparse and dense runs."""

from __future__ import annotations

import json
import shutil
import time
import warnings

import pytest
import spire_server_fixtures as fx  # registered by conftest.py
from typer.testing import CliRunner

from indexing.dense_index import DenseIndex
from indexing.incremental import SegmentStore
from retrieval import open_index
from retrieval.dense_searcher import DenseSearcher
from retrieval.fusion import fuse
from serving.dense_side import COVERAGE_FILE, DenseSide, build_dense_side
from serving.server import create_app
from spire.cli.serve import serve_app
from spire.core.errors import SpireError

QUERIES = ["boundary layer heat transfer", "wing flutter at supersonic speed", "shock wave"]


@pytest.fixture(scope="module")
def source(tmp_path_factory, splade_tiny_path):
    return fx.small_index(tmp_path_factory.mktemp("fusion-index"))


@pytest.fixture(scope="module")
def dense_dir(source, tmp_path_factory, minilm_path):
    """Built by the real command, from the texts the sparse index was built from."""
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    corpus.write_text((fx.CRANFIELD / "corpus.jsonl").read_text())
    out = tmp_path_factory.mktemp("dense") / "dense"
    result = CliRunner().invoke(
        serve_app, ["index-dense", str(source), str(corpus), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["embedded"], summary["live_docs"], summary["not_in_corpus"]) == (40, 40, 0)
    assert summary["encoder"] == "all-MiniLM-L6-v2" and summary["dim"] == 384
    return out


@pytest.fixture(scope="module")
def server(source, dense_dir, tmp_path_factory):
    folder = fx.fresh_copy(source, tmp_path_factory.mktemp("served") / "ix")
    with fx.LiveServer(create_app(folder, read_only=True, dense=dense_dir)) as live:
        live.folder = folder
        with live.client() as client:
            live.http = client
            yield live


def offline(folder, dense_dir, dense_encoder, query, method, weights, depth, k, options=None):
    """The same two runs, fused by retrieval.fusion.fuse."""
    sparse = {h.docid: h.score for h in open_index(folder).search(query, depth)}
    dense_searcher = DenseSearcher(DenseIndex.load(dense_dir), dense_encoder)
    dense = {h.docid: h.score for h in dense_searcher.search(query, depth)}
    fused = fuse([{"q": sparse}, {"q": dense}], method, weights, depth=k, **(options or {}))["q"]
    return list(fused.items()), sparse, dense


@pytest.mark.parametrize(
    ("fusion", "weights", "kw"),
    [
        ({"method": "rrf"}, [1.0, 1.0], {}),
        ({"method": "rrf", "rrf_k": 10, "dense_weight": 2.5}, [1.0, 2.5], {"k": 10}),
        ({"method": "minmax", "sparse_weight": 0.3, "dense_weight": 0.7}, [0.3, 0.7], {}),
        ({"method": "zscore", "sparse_weight": 1, "dense_weight": 0.5}, [1.0, 0.5], {}),
        ({"method": "minmax", "sparse_weight": 0}, [0.0, 1.0], {}),
    ],
)
def test_fused_search_equals_offline_fusion(server, dense_dir, dense_encoder, fusion, weights, kw):
    for query in QUERIES:
        body = {"query": query, "k": 7, "fusion": {**fusion, "depth": 15}}
        answer = server.http.post("/search", json=body).json()
        hits = answer["results"][0]["hits"]
        method = fusion["method"]
        expected, _, _ = offline(
            server.folder, dense_dir, dense_encoder, query, method, weights, 15, 7, kw
        )
        # The same documents in the same order; scores equal up to float noise, which
        # comes from the dense query vector (torch's thread count varies between the
        # server's worker thread and this one, and changes the last bits of the sums).
        assert [h["docid"] for h in hits] == [d for d, _ in expected]
        assert [h["score"] for h in hits] == pytest.approx([s for _, s in expected], abs=1e-5)
        assert [h["rank"] for h in hits] == list(range(1, len(expected) + 1))
        summary = answer["fusion"]
        assert summary["method"] == method and summary["depth"] == 15
        assert summary["dense_covered"] == 40
        assert summary["rrf_k"] == (kw.get("k", 60) if method == "rrf" else None)


def test_explain_gives_each_side_and_the_sparse_terms(server, dense_dir, dense_encoder):
    query = QUERIES[0]
    body = {"query": query, "k": 10, "explain": True, "fusion": {"method": "rrf", "depth": 10}}
    hits = server.http.post("/search", json=body).json()["results"][0]["hits"]
    _, sparse, dense = offline(
        server.folder, dense_dir, dense_encoder, query, "rrf", [1, 1], 10, 10
    )
    for hit in hits:
        sides = hit["fusion"]
        for name, run in (("sparse", sparse), ("dense", dense)):
            if hit["docid"] in run:
                order = sorted(run, key=lambda d: (-run[d], d))
                assert sides[name]["rank"] == order.index(hit["docid"]) + 1
                assert sides[name]["score"] == pytest.approx(run[hit["docid"]], rel=1e-6)
            else:
                assert sides[name] == {"rank": None, "score": None}
        rrf = sum(1 / (60 + s["rank"]) for s in sides.values() if s["rank"] is not None)
        assert hit["score"] == pytest.approx(rrf)
        # The explanation is the sparse score of the document, found even outside the
        # sparse top depth.
        total = sum(c["score"] for c in hit["explanation"])
        if sides["sparse"]["score"] is not None:
            assert total == pytest.approx(sides["sparse"]["score"], rel=1e-5)
    plain = server.http.post("/search", json={**body, "explain": False}).json()
    assert all(set(h) == {"rank", "docid", "score"} for h in plain["results"][0]["hits"])


def test_batch_and_get_fusion(server):
    batch = server.http.post(
        "/search", json={"queries": QUERIES, "k": 5, "fusion": {"method": "zscore"}}
    ).json()
    assert [r["query"] for r in batch["results"]] == QUERIES
    assert batch["fusion"]["depth"] == 100  # max(k, 100) when not given
    one = server.http.post(
        "/search", json={"query": QUERIES[1], "k": 5, "fusion": {"method": "zscore"}}
    ).json()
    # Batched and single query encodings may differ in the last float bits only.
    assert [h["docid"] for h in batch["results"][1]["hits"]] == [
        h["docid"] for h in one["results"][0]["hits"]
    ]
    via_get = server.http.get("/search", params={"q": QUERIES[1], "k": 5, "fusion": "zscore"})
    assert via_get.status_code == 200
    assert [h["docid"] for h in via_get.json()["results"][0]["hits"]] == [
        h["docid"] for h in one["results"][0]["hits"]
    ]
    stats = server.http.get("/stats").json()
    assert stats["dense"]["covered"] == 40 and stats["dense"]["vectors"] == 40
    assert "fused_compute" in stats["latency"]


BAD = [
    ({"method": "bm25"}, "fusion.method"),
    ({"method": "RRF"}, "fusion.method"),
    ({"dense_weight": -1}, "fusion.dense_weight"),
    ({"sparse_weight": "1"}, "fusion.sparse_weight"),
    ({"sparse_weight": True}, "fusion.sparse_weight"),
    ({"dense_weight": 1e7}, "fusion.dense_weight"),
    ({"sparse_weight": 0, "dense_weight": 0}, "must not both be 0"),
    ({"depth": 0}, "fusion.depth"),
    ({"depth": 1001}, "fusion.depth"),
    ({"depth": 3}, "must be >= k"),
    ({"method": "minmax", "rrf_k": 5}, "rrf_k applies to method 'rrf' only"),
    ({"rrf_k": -1}, "fusion.rrf_k"),
    ({"weights": [1, 2]}, "unknown field"),
    ("rrf", "fusion"),
    ([], "fusion"),
]


@pytest.mark.parametrize(("fusion", "text"), BAD)
def test_bad_fusion_fields_are_a_422_naming_the_field(server, fusion, text):
    r = server.http.post("/search", json={"query": "wing", "k": 5, "fusion": fusion})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["error"] == "validation_error" and text in error["message"], error


def test_nan_and_infinite_weights_are_a_422(server):
    for raw in (b'{"query":"wing","fusion":{"dense_weight":NaN}}',
                b'{"query":"wing","fusion":{"sparse_weight":Infinity}}'):  # fmt: skip
        r = server.http.post("/search", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "weight" in r.json()["error"]["message"]
    r = server.http.get("/search", params={"q": "wing", "fusion": "cosine"})
    assert r.status_code == 422 and "fusion" in r.json()["error"]["message"]


def test_fusion_without_a_dense_index_is_a_clear_400(source, tmp_path):
    folder = fx.fresh_copy(source, tmp_path / "ix")
    with fx.LiveServer(create_app(folder, read_only=True)) as live, live.client() as client:
        r = client.post("/search", json={"query": "wing", "fusion": {"method": "rrf"}})
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["error"] == "no_dense_index" and "--dense" in error["message"]
        r = client.get("/search", params={"q": "wing", "fusion": "minmax"})
        assert r.status_code == 400 and r.json()["error"]["error"] == "no_dense_index"
        assert client.get("/stats").json()["dense"] is None
        assert client.post("/search", json={"query": "wing"}).status_code == 200


def _fused(client, query, k=40):
    body = {"query": query, "k": k, "explain": True, "fusion": {"method": "rrf", "depth": k}}
    answer = client.post("/search", json=body).json()
    return {h["docid"]: h["fusion"] for h in answer["results"][0]["hits"]}, answer


def test_writes_shrink_the_dense_side_and_never_use_a_stale_vector(
    source, dense_dir, tmp_path, dense_encoder
):
    folder = fx.fresh_copy(source, tmp_path / "ix")
    query = "boundary layer heat transfer"
    with fx.LiveServer(create_app(folder, dense=dense_dir)) as live, live.client() as client:
        hits, answer = _fused(client, query)
        assert answer["fusion"]["dense_covered"] == 40
        assert all(side["dense"]["rank"] is not None for side in hits.values())  # k = all
        old_one = hits["1"]["dense"]["rank"]
        assert old_one is not None
        docs = {"documents": [{"id": "new-1", "text": query},
                              {"id": "1", "text": "ornithopter flapping wing lift"}]}  # fmt: skip
        assert client.post("/documents", json=docs).status_code == 200
        hits, answer = _fused(client, query)
        # The added document and the replaced one have no (current) dense vector: they
        # are fused on their sparse score alone; the other 39 keep theirs.
        assert answer["fusion"]["dense_covered"] == 39
        assert hits["new-1"]["dense"] == {"rank": None, "score": None}
        assert hits["new-1"]["sparse"]["rank"] is not None
        assert "1" not in hits or hits["1"]["dense"]["rank"] is None
        assert sum(s["dense"]["rank"] is not None for s in hits.values()) == 39
        replaced, _ = _fused(client, "ornithopter flapping wing lift")
        assert replaced["1"]["sparse"]["rank"] == 1 and replaced["1"]["dense"]["rank"] is None
        assert client.delete("/documents/2").status_code == 200
        hits, answer = _fused(client, query)
        assert "2" not in hits and answer["fusion"]["dense_covered"] == 38
        # A second small segment: the background merger merges the two small ones but
        # leaves the covered base segment where it is.
        more = {"documents": [{"id": "new-2", "text": "hypersonic inlet"}]}
        assert client.post("/documents", json=more).status_code == 200
        deadline = time.monotonic() + 60
        while client.get("/stats").json()["merges"] < 1:
            assert time.monotonic() < deadline, "the background merge did not run"
            time.sleep(0.1)
        stats = client.get("/stats").json()
        assert stats["segments"] == 2 and stats["dense"]["covered"] == 38
        # A write by another process (here: another store on the same folder) is seen too.
        other = SegmentStore(folder)
        other.delete(["3"])
        hits, answer = _fused(client, query)
        assert "3" not in hits and answer["fusion"]["dense_covered"] == 37
        # An explicit merge moves every document to a new segment: nothing is covered any
        # more, and fusion degrades to the sparse run (documented; rebuild with index-dense).
        other.merge()
        hits, answer = _fused(client, query)
        assert answer["fusion"]["dense_covered"] == 0
        assert all(s["dense"]["rank"] is None for s in hits.values())
        assert client.get("/stats").json()["dense"]["covered"] == 0
    # Rebuilt from the current snapshot and the current texts, the dense side covers
    # every live document the corpus has a text for.
    rows = [json.loads(line) for line in (fx.CRANFIELD / "corpus.jsonl").read_text().splitlines()]
    text_of = {str(r["_id"]): f"{r.get('title', '')} {r.get('text', '')}".strip() for r in rows}
    text_of.update({"1": "ornithopter flapping wing lift", "new-1": query})  # new-2: missing
    rebuilt = tmp_path / "dense2"
    summary = build_dense_side(
        folder, list(text_of), list(text_of.values()), rebuilt, encoder=dense_encoder
    )
    assert (summary["live_docs"], summary["embedded"], summary["not_in_corpus"]) == (40, 39, 1)
    side = DenseSide(rebuilt, encoder=dense_encoder)
    snap = SegmentStore(folder).snapshot()
    assert side.covered(snap).sum() == 39
    assert side.search(["ornithopter flapping wing lift"], 1, snap)[0].keys() == {"1"}


def test_plain_index_conversion_keeps_the_dense_side(source, dense_dir, tmp_path):
    """The first write converts a plain index in place; its base segment is the same."""
    folder = fx.fresh_copy(source, tmp_path / "ix")
    side = DenseSide(dense_dir)
    store = SegmentStore(folder)
    assert side.covered(store.snapshot()).sum() == 40
    store.delete(["5"])  # converts
    assert (folder / "segments").is_dir()
    assert side.covered(store.snapshot()).sum() == 39


def test_dense_folders_that_do_not_fit_are_refused(source, dense_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(dense_dir, bare)
    (bare / COVERAGE_FILE).unlink()
    with pytest.raises(SpireError, match="not built for a served index"):
        create_app(fx.fresh_copy(source, tmp_path / "ix"), dense=bare)
    other = tmp_path / "other"
    DenseIndex.load(dense_dir).save(other)  # same vectors, a new manifest
    shutil.copy(dense_dir / COVERAGE_FILE, other / COVERAGE_FILE)
    with pytest.raises(SpireError, match="another dense index"):
        DenseSide(other)
    with pytest.raises(SpireError, match="no such index folder"):
        DenseSide(tmp_path / "missing")
    result = CliRunner().invoke(
        serve_app, ["index-dense", str(source), str(fx.CRANFIELD), "--out", str(dense_dir)]
    )
    assert result.exit_code != 0 and "already exists" in str(result.exception)


def test_the_cranfield_loader_joins_texts_as_the_server_does():
    """index-dense embeds `load_corpus` texts; the server's adds join title and text alike."""
    from eval.data.datasets import load_corpus
    from serving.schemas import DocumentIn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = load_corpus(fx.CRANFIELD)
    row = json.loads((fx.CRANFIELD / "corpus.jsonl").read_text().splitlines()[0])
    doc = DocumentIn(id=str(row["_id"]), title=row.get("title", ""), text=row.get("text", ""))
    assert corpus.texts[0] == doc.full_text()
