"""The HTTP server, end to end: a real uvicorn server on 127.0.0.1 and a real httpx client."""

from __future__ import annotations

import socket
import threading

import pytest
import spire_server_fixtures as fx  # registered by conftest.py

from retrieval import open_index
from serving.guard import Limits
from serving.server import create_app

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def source(tmp_path_factory, splade_tiny_path):
    return fx.small_index(tmp_path_factory.mktemp("server-index"))


@pytest.fixture(scope="module")
def server(source, tmp_path_factory):
    folder = fx.fresh_copy(source, tmp_path_factory.mktemp("served") / "ix")
    with fx.LiveServer(create_app(folder)) as live:
        live.folder = folder
        yield live


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c


# --------------------------------------------------------------------------- happy paths


def test_health_stats_and_openapi(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["docs"] >= 40
    stats = client.get("/stats").json()
    assert {"docs", "segments", "postings", "generation", "latency"} <= set(stats)
    assert stats["mode"] == "inference-free" and stats["segments"] >= 1
    schema = client.get("/openapi.json").json()
    assert {"/search", "/encode", "/documents", "/documents/{docid}", "/health", "/stats"} <= set(
        schema["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_search_matches_the_in_process_searcher(client, server):
    query = "boundary layer heat transfer"
    body = client.post("/search", json={"query": query, "k": 5}).json()
    hits = body["results"][0]["hits"]
    local = open_index(server.folder).search(query, 5)
    assert [(h["docid"], pytest.approx(h["score"])) for h in hits] == [
        (h.docid, h.score) for h in local
    ]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5] and body["took_ms"] > 0
    via_get = client.get("/search", params={"q": query, "k": 5}).json()
    assert [h["docid"] for h in via_get["results"][0]["hits"]] == [h["docid"] for h in hits]


def test_batch_search_and_explain(client):
    body = client.post(
        "/search", json={"queries": ["wing flutter", "shock wave"], "k": 3, "explain": True}
    ).json()
    assert [r["query"] for r in body["results"]] == ["wing flutter", "shock wave"]
    for result in body["results"]:
        for hit in result["hits"]:
            parts = hit["explanation"]
            assert parts and sum(p["score"] for p in parts) == pytest.approx(hit["score"], rel=1e-4)
            assert all(p["token"] in result["query"] for p in parts)


def test_encode_query_and_document(client):
    query = client.post("/encode", json={"text": "heat flow"}).json()
    assert query["kind"] == "query" and set(query["vector"]) == {"heat", "flow"}
    doc = client.post("/encode", json={"text": "heat flow", "kind": "document"}).json()
    assert doc["terms"] > 2 and all(w > 0 for w in doc["vector"].values())  # expansion terms


def test_add_replace_delete_round_trip(client):
    text = "zeppelin mooring mast aerodynamics"
    added = client.post("/documents", json={"documents": [{"id": "zz/1", "text": text}]}).json()
    assert added["added"] == 1 and added["replaced"] == 0
    hits = client.get("/search", params={"q": "zeppelin mooring"}).json()["results"][0]["hits"]
    assert hits[0]["docid"] == "zz/1"  # searchable as soon as the add is acknowledged
    again = client.post(
        "/documents", json={"documents": [{"id": "zz/1", "title": "Airship", "text": "hangar"}]}
    ).json()
    assert again == {"added": 0, "replaced": 1, "generation": again["generation"]}
    hits = client.get("/search", params={"q": "zeppelin mooring"}).json()["results"][0]["hits"]
    assert "zz/1" not in [h["docid"] for h in hits]  # the old text is gone
    assert client.delete("/documents/zz%2F1").json()["deleted"] is True
    gone = client.delete("/documents/zz%2F1")
    assert gone.status_code == 404 and "zz/1" in gone.json()["error"]["message"]


def test_concurrent_writers_read_their_writes(server):
    errors: list[str] = []

    def worker(n: int) -> None:
        with server.client() as c:
            for i in range(3):
                docid = f"conc-{n}-{i}"
                word = f"quasar{n}x{i}"
                r = c.post("/documents", json={"documents": [{"id": docid, "text": word}]})
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                hits = c.post("/search", json={"query": word, "k": 3}).json()["results"][0]
                if docid not in [h["docid"] for h in hits["hits"]]:
                    errors.append(f"{docid} not searchable after its ack")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    with server.client() as c:
        assert c.get("/stats").json()["commits"] >= 1


# --------------------------------------------------------------------------- bad input

LONG = "x " * 600
CASES = [
    ("POST", "/search", {"json": {"query": ""}}, 422, "body field 'query'"),
    ("POST", "/search", {"json": {"query": "   "}}, 422, "empty"),
    ("POST", "/search", {"json": {"query": LONG}}, 422, "at most 1000"),
    # k and ids: the words of spire.core.arguments and spire.core.ids, as in the CLI and Python
    ("POST", "/search", {"json": {"query": "a", "k": 0}}, 422, "'k': must be at least 1, not 0"),
    ("POST", "/search", {"json": {"query": "a", "k": 1001}}, 422, "'k': must be at most 1000"),
    ("POST", "/search", {"json": {"query": "a", "k": "10"}}, 422, "'k': must be an int, not str"),
    ("POST", "/search", {"json": {"query": "a", "k": 2.5}}, 422, "'k': must be an int, not float"),
    ("POST", "/search", {"json": {"query": 5}}, 422, "body field 'query'"),
    ("POST", "/search", {"json": {"query": "a", "topk": 3}}, 422, "'topk': unknown field"),
    ("POST", "/search", {"json": {}}, 422, "exactly one"),
    ("POST", "/search", {"json": {"query": "a", "queries": ["b"]}}, 422, "exactly one"),
    ("POST", "/search", {"json": {"queries": []}}, 422, "queries"),
    ("POST", "/search", {"json": ["a"]}, 422, "valid dictionary"),
    ("POST", "/search", {"content": b"{not json", "headers": JSON}, 400, "not valid JSON"),
    ("POST", "/search", {"content": b"", "headers": JSON}, 400, "empty body"),
    ("POST", "/search", {"content": b'{"query": "\xff\xfe"}', "headers": JSON}, 400, "UTF-8"),
    ("POST", "/search", {"content": b'{"query": "a"}'}, 415, "application/json"),
    ("POST", "/search", {"content": b"q=a", "headers": {"content-type": "text/plain"}}, 415, ""),
    ("POST", "/search", {"content": b"[" * 100_000, "headers": JSON}, 400, "not valid JSON"),
    ("GET", "/search", {"params": {"q": ""}}, 422, "q"),
    ("GET", "/search", {"params": {"q": "a", "k": "0"}}, 422, "k"),
    ("GET", "/search", {"params": {"q": "a", "k": "ten"}}, 422, "k"),
    ("GET", "/search", {"params": {"q": "a", "kk": "1"}}, 422, "unknown query parameter 'kk'"),
    ("GET", "/search", {}, 422, "q"),
    ("GET", "/search?q=%FF%FE", {}, 400, "UTF-8"),
    ("POST", "/encode", {"json": {"text": ""}}, 422, "text"),
    ("POST", "/encode", {"json": {"text": "a", "kind": "passage"}}, 422, "kind"),
    ("POST", "/documents", {"json": {"documents": []}}, 422, "documents"),
    ("POST", "/documents", {"json": {"documents": [{"id": "a"}]}}, 422, "no text"),
    ("POST", "/documents", {"json": {"documents": [{"id": " a", "text": "t"}]}}, 422, "whitesp"),
    ("POST", "/documents", {"json": {"documents": [{"id": "", "text": "t"}]}}, 422, "id"),
    ("POST", "/documents", {"json": {"documents": [{"id": "a", "text": 3}]}}, 422, "text"),
    (
        "POST",
        "/documents",
        {"json": {"documents": [{"id": "a", "text": "t"}, {"id": "a", "text": "u"}]}},
        422,
        "duplicate document id 'a'",
    ),
    ("DELETE", "/documents/" + "x" * 513, {}, 422, "docid: document id 'xxx"),
    ("DELETE", "/documents/a%09b", {}, 422, "must not contain control characters (U+0009)"),
    ("PUT", "/search", {"json": {"query": "a"}}, 405, "Method Not Allowed"),
    ("GET", "/nowhere", {}, 404, "Not Found"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "text"), CASES)
def test_malformed_requests_get_a_clear_4xx(client, method, path, kwargs, status, text):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    assert text.lower() in error["message"].lower()
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "body", [{"query": ""}, {"query": 5}, {"query": LONG * 2}, {"queries": ["a", ""]}]
)
def test_the_body_field_query_is_not_called_a_query_parameter(client, body):
    message = client.post("/search", json=body).json()["error"]["message"]
    assert "query parameter" not in message and "body field 'quer" in message


def test_oversized_bodies_are_refused_without_reading_them(client):
    big = b'{"query": "' + b"a" * (2 << 20) + b'"}'
    response = client.post("/search", content=big, headers=JSON)
    assert response.status_code == 413 and "limit" in response.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(40):
            yield b"a" * 65536

    response = client.post("/search", content=chunks(), headers=JSON)
    assert response.status_code == 413


# --------------------------------------------------------------------------- access


@pytest.fixture(scope="module")
def locked(source, tmp_path_factory):
    folder = fx.fresh_copy(source, tmp_path_factory.mktemp("locked") / "ix")
    app = create_app(folder, api_key="s3cret", read_only=True, limits=Limits(body_timeout_s=1))
    with fx.LiveServer(app) as live:
        yield live


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/search"), ("GET", "/search?q=a"), ("POST", "/encode"), ("GET", "/stats"),
     ("POST", "/documents"), ("DELETE", "/documents/a")],
)  # fmt: skip
def test_api_key_guards_every_endpoint_but_health(locked, method, path):
    with locked.client() as c:
        body = {"json": {"query": "a", "text": "a"}} if method == "POST" else {}
        missing = c.request(method, path, **body)
        assert (
            missing.status_code == 401 and "missing API key" in missing.json()["error"]["message"]
        )
        wrong = c.request(method, path, headers={"x-api-key": "nope"}, **body)
        assert wrong.status_code == 401 and "wrong API key" in wrong.json()["error"]["message"]


def test_api_key_accepted_and_read_only_refuses_writes(locked):
    with locked.client() as c:
        assert c.get("/health").status_code == 200  # no key needed
        ok = c.post("/search", json={"query": "wing"}, headers={"x-api-key": "s3cret"})
        assert ok.status_code == 200
        bearer = c.get("/stats", headers={"authorization": "Bearer s3cret"})
        assert bearer.status_code == 200 and bearer.json()["read_only"] is True
        write = c.post(
            "/documents",
            json={"documents": [{"id": "a", "text": "b"}]},
            headers={"x-api-key": "s3cret"},
        )
        assert write.status_code == 403 and "read-only" in write.json()["error"]["message"]


def test_docs_and_schema_need_no_key_and_declare_it(locked):
    with locked.client() as c:
        schema = c.get("/openapi.json")
        assert schema.status_code == 200
        schemes = schema.json()["components"]["securitySchemes"]
        assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        assert schemes["BearerAuth"]["scheme"] == "bearer"
        assert (
            schema.json()["security"] and schema.json()["paths"]["/health"]["get"]["security"] == []
        )
        page = c.get("/docs")
        assert page.status_code == 200 and "/openapi.json" in page.text
        assert "needs internet access" in page.text  # the CDN: said on the page itself


def test_no_security_scheme_without_a_key(client):
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_a_body_shorter_than_its_content_length_gets_408(locked):
    """The read times out (1 s here) instead of holding the connection open forever."""
    with socket.create_connection(("127.0.0.1", locked.port), timeout=15) as sock:
        sock.sendall(
            b"POST /search HTTP/1.1\r\nHost: t\r\nX-API-Key: s3cret\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"query": "wi'
        )
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after the 408
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408") and b"request body not received" in reply
