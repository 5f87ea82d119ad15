"""Property-based fuzzing of the request models and of the live server's front door.

Whatever arrives, a request model either accepts it with its limits holding or rejects
it with a ValidationError; the server answers 2xx or a JSON 4xx, never a 5xx.
"""

from __future__ import annotations

import json

import pytest
import spire_server_fixtures as fx  # registered by conftest.py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from serving.dense_side import build_dense_side
from serving.schemas import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_K,
    MAX_QUERY_CHARS,
    MAX_WEIGHT,
    AddRequest,
    EncodeRequest,
    SearchRequest,
)
from serving.server import create_app

FIELDS = ["query", "queries", "k", "explain", "text", "kind", "documents", "id", "title", "x"]
FUSION_FIELDS = ["method", "sparse_weight", "dense_weight", "depth", "rrf_k"]
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=12,
)
# Mostly well-formed shapes with hostile values, so validation gets past the first field.
weights = st.floats() | st.integers(-5, 10**7) | scalars
fusion = st.fixed_dictionaries(
    {},
    optional={
        "method": st.sampled_from(["rrf", "minmax", "zscore", "RRF", "cosine"]) | scalars,
        "sparse_weight": weights,
        "dense_weight": weights,
        "depth": st.integers(-5, 1200) | scalars,
        "rrf_k": weights,
        "extra": scalars,
    },
) | st.dictionaries(st.sampled_from(FUSION_FIELDS) | st.text(max_size=5), scalars, max_size=4)
search_bodies = st.fixed_dictionaries(
    {},
    optional={
        "query": st.text(max_size=1200) | scalars,
        "queries": st.lists(st.text(max_size=30), max_size=70) | scalars,
        "k": st.integers(-5, 1200) | scalars,
        "explain": st.booleans() | scalars,
        "fusion": fusion | scalars,
        "extra": scalars,
    },
)
document = st.fixed_dictionaries(
    {"id": st.text(max_size=300) | scalars},
    optional={"text": st.text(max_size=50) | scalars, "title": st.text(max_size=20)},
)
add_bodies = st.fixed_dictionaries({"documents": st.lists(document, max_size=4) | scalars})
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=search_bodies | json_values)
def test_search_model_accepts_only_what_it_can_serve(body):
    try:
        request = SearchRequest.model_validate(body)
    except ValidationError:
        return
    assert 1 <= request.k <= MAX_K and isinstance(request.k, int)
    texts = request.texts()
    assert 1 <= len(texts) <= MAX_BATCH
    assert all(isinstance(t, str) and t.strip() and len(t) <= MAX_QUERY_CHARS for t in texts)
    fused = request.fusion
    assert request.k <= request.depth() <= MAX_DEPTH
    if fused is not None:
        assert fused.method in ("rrf", "minmax", "zscore")
        pair = (fused.sparse_weight, fused.dense_weight)
        assert all(isinstance(w, float) and 0 <= w <= MAX_WEIGHT for w in pair) and any(pair)
        assert fused.rrf_k is None or (fused.method == "rrf" and 0 <= fused.rrf_k <= MAX_WEIGHT)


@FAST
@given(body=add_bodies | json_values)
def test_add_model_accepts_only_clean_documents(body):
    try:
        request = AddRequest.model_validate(body)
    except ValidationError:
        return
    ids = [d.id for d in request.documents]
    assert len(set(ids)) == len(ids) and all(i.strip() == i and i for i in ids)
    assert all(d.full_text() for d in request.documents)


@FAST
@given(body=json_values | st.fixed_dictionaries({"text": st.text(), "kind": st.text()}))
def test_encode_model(body):
    try:
        request = EncodeRequest.model_validate(body)
    except ValidationError:
        return
    assert request.kind in ("query", "document") and request.text.strip()


# --------------------------------------------------------------------------- live server


@pytest.fixture(scope="module")
def server(tmp_path_factory, splade_tiny_path, dense_encoder):
    source = fx.small_index(tmp_path_factory.mktemp("fuzz-index"))
    folder = fx.fresh_copy(source, tmp_path_factory.mktemp("fuzz") / "ix")
    dense = tmp_path_factory.mktemp("fuzz-dense") / "dense"
    ids = [str(i) for i in range(1, 41)]  # what small_index holds; the texts do not matter
    build_dense_side(folder, ids, [f"document {i}" for i in ids], dense, encoder=dense_encoder)
    # read-only: fuzzed adds would only cost model time; the add model is fuzzed above.
    # With a dense side, so that fuzzed fusion requests that pass validation run for real.
    app = create_app(folder, read_only=True, dense=dense)
    with fx.LiveServer(app) as live, live.client() as client:
        yield client


def check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["status"] == response.status_code and error["message"]


HTTP = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HTTP
@given(body=search_bodies | json_values)
def test_server_search_never_fails_on_json(server, body):
    # json.dumps, not httpx's json=: it also sends NaN and Infinity, which Python reads
    raw = json.dumps(body).encode()
    check(server.post("/search", content=raw, headers={"content-type": "application/json"}))


@HTTP
@given(raw=st.binary(max_size=200), ctype=st.sampled_from(["application/json", "text/plain"]))
def test_server_survives_arbitrary_bytes(server, raw, ctype):
    for path in ("/search", "/encode", "/documents"):
        check(server.post(path, content=raw, headers={"content-type": ctype}))


@HTTP
@given(
    params=st.dictionaries(
        st.sampled_from(["q", "k", "explain", "fusion", "z"]),
        st.sampled_from(["rrf", "zscore"]) | st.text(max_size=40),
    )
)
def test_server_get_search_never_fails(server, params):
    check(server.get("/search", params=params))


@HTTP
@given(docid=st.text(min_size=1, max_size=40))
def test_server_delete_paths(server, docid):
    from urllib.parse import quote

    check(server.delete("/documents/" + quote(docid, safe="")))
