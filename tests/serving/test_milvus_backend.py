"""spire's HTTP API in front of a Milvus collection (milvus-lite, a real Milvus embedded):
the same hits and explanations as the index folder's own server, read-only."""

from __future__ import annotations

import pytest
import spire_server_fixtures as fx  # registered by conftest.py

pytest.importorskip(
    "pymilvus", reason="the [milvus] extra (pymilvus, milvus-lite) is not installed"
)

from indexing.milvus_export import export_folder  # noqa: E402
from retrieval import open_index  # noqa: E402
from serving.milvus_backend import MilvusBackend  # noqa: E402
from serving.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, splade_tiny_path):
    folder = fx.small_index(tmp_path_factory.mktemp("milvus-index"))
    uri = str(tmp_path_factory.mktemp("milvus") / "lite.db")
    export_folder(str(folder), uri, "served", show_progress=False)
    backend = MilvusBackend(folder, uri, "served")
    with fx.LiveServer(create_app(folder, backend=backend, read_only=True)) as live:
        live.folder = folder
        yield live


def test_search_and_explain_match_the_index(server):
    query = "boundary layer heat transfer"
    with server.client() as client:
        body = client.post("/search", json={"query": query, "k": 5, "explain": True}).json()
        stats = client.get("/stats").json()
        refused = client.post("/documents", json={"documents": [{"id": "x", "text": "y"}]})
    hits = body["results"][0]["hits"]
    local = open_index(server.folder).search(query, 5)
    assert [h["docid"] for h in hits] == [h.docid for h in local]
    assert [h["score"] for h in hits] == pytest.approx([h.score for h in local], rel=1e-5)
    for hit in hits:
        parts = sum(c["score"] for c in hit["explanation"])
        assert parts == pytest.approx(hit["score"], rel=1e-4)
    assert stats["docs"] == 40 and stats["read_only"] is True
    assert refused.status_code == 403
