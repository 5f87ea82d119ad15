"""The CLI, the Python API and the HTTP server give the same answer for the same input.

Hypothesis draws document ids, queries and k values; each is given to all three
surfaces (the real CLI through typer's runner, the public Python API, and a real uvicorn
server through a real client), each over its own copy of one small index. They must
agree on accepting or refusing, refuse in the same words, and, when they accept, return
the same hits (added documents included: each copy receives the same adds).
"""

from __future__ import annotations

import json
import math

import pytest
import spire_server_fixtures as fx  # registered by conftest.py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from indexing.incremental import MergePolicy, SegmentStore
from retrieval import open_index
from serving.server import create_app
from spire.cli import app
from spire.core.errors import SpireError
from spire.core.ids import MAX_ID_BYTES, id_problem

TEXT = "wing lift and boundary layer flow"


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory, splade_tiny_path):
    source = fx.small_index(tmp_path_factory.mktemp("cross-index"))
    root = tmp_path_factory.mktemp("cross")
    cli_dir, py_dir, http_dir = (fx.fresh_copy(source, root / n) for n in ("cli", "py", "http"))
    # The CLI and Python copies never merge; a background merge re-quantises segments
    # (scores move in the 4th digit), so the server's merger is held off here.
    never = MergePolicy(small_docs=1, fanout=10**9, max_deleted_fraction=1.0)
    app_ = create_app(http_dir, merge_policy=never)
    with fx.LiveServer(app_) as live, live.client() as client:
        store = SegmentStore(py_dir)
        yield {
            "cli": cli_dir,
            "py": open_index(store),
            "store": store,
            "http": client,
            "root": root,
        }


def cli(*args: str) -> tuple[bool, object]:
    """(accepted, parsed --json output or the refusal message)."""
    result = CliRunner().invoke(app, [*map(str, args)])
    if result.exit_code == 0:
        return True, json.loads(result.stdout)
    if isinstance(result.exception, SpireError):
        return False, str(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)  # a usage error
    return False, result.output


def http(client, method: str, path: str, body: dict) -> tuple[bool, object]:
    response = client.request(method, path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        return True, response.json()
    assert response.status_code in (400, 422), response.text
    return False, response.json()["error"]["message"]


def python(call) -> tuple[bool, object]:
    try:
        return True, call()
    except SpireError as exc:  # ArgumentError included
        return False, str(exc)


# --------------------------------------------------------------------------- document ids

hostile = st.sampled_from(["", " ", " x", "x ", "a\nb", "a\tb", "a\rb", "a\x00b", "a\u2028b"])
long_ids = st.sampled_from(["x" * MAX_ID_BYTES, "x" * (MAX_ID_BYTES + 1), "é" * 257, "é" * 256])
# an int becomes its str; a bool or a float is refused
numbers = st.integers(-(10**6), 10**6) | st.booleans() | st.floats(-1e6, 1e6)
doc_ids = st.text(min_size=1, max_size=12) | hostile | long_ids | numbers


def add_everywhere(surfaces, docid, n: int) -> dict[str, tuple[bool, object]]:
    jsonl = surfaces["root"] / f"add-{n}.jsonl"
    jsonl.write_text(json.dumps({"_id": docid, "text": TEXT}) + "\n", encoding="utf-8")
    store: SegmentStore = surfaces["store"]
    vectors = surfaces["py"].encoder.encode_documents([TEXT])
    return {
        "cli": cli("add", surfaces["cli"], jsonl, "--json"),
        "py": python(lambda: store.add([docid], vectors)),
        "http": http(
            surfaces["http"], "POST", "/documents", {"documents": [{"id": docid, "text": TEXT}]}
        ),
    }


_added = iter(range(10**6))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(docid=doc_ids)
def test_document_ids_get_one_answer(surfaces, docid):
    answers = add_everywhere(surfaces, docid, next(_added))
    accepted = {name: ok for name, (ok, _) in answers.items()}
    assert len(set(accepted.values())) == 1, (docid, answers)
    if isinstance(docid, bool | float):
        problem = f"must be a str, not {type(docid).__name__}"
    else:
        problem = id_problem(str(docid))
    assert accepted["py"] == (problem == ""), (docid, answers)
    for ok, message in answers.values():
        if not ok:
            assert problem in message and "\n" not in message, (docid, message)
    if accepted["py"]:  # the same document under the same id everywhere: search agrees
        check_search(surfaces, TEXT, 5)


# --------------------------------------------------------------------------- queries and k

queries = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", " ", "\t\n", "wing lift", "flow", "xqzvw", "?!", "-k", "--json"]
)
ks = st.integers(-2, 15)


def search_everywhere(surfaces, query: str, k: int) -> dict[str, tuple[bool, object]]:
    def hits(rows) -> list[tuple[str, float]]:
        return [(row["docid"], row["score"]) for row in rows]

    found = {
        "cli": cli("search", surfaces["cli"], "-k", k, "--json", "--", query),
        "py": python(lambda: [(h.docid, h.score) for h in surfaces["py"].search(query, k)]),
        "http": http(surfaces["http"], "POST", "/search", {"query": query, "k": k}),
    }
    for name, (ok, out) in found.items():
        if ok and name == "cli":
            found[name] = (ok, hits(out["hits"]))
        elif ok and name == "http":
            found[name] = (ok, hits(out["results"][0]["hits"]))
    return found


def check_search(surfaces, query: str, k: int) -> None:
    found = search_everywhere(surfaces, query, k)
    accepted = {name: ok for name, (ok, _) in found.items()}
    assert len(set(accepted.values())) == 1, (query, k, found)
    if not accepted["py"]:
        message = found["py"][1]
        assert message.split(": ", 1)[1] in found["http"][1], found
        if k >= 1:  # k < 1 is typer's usage error on the CLI, before spire runs
            assert found["cli"][1] == message, found
        return
    reference = found["py"][1]
    for name in ("cli", "http"):
        got = found[name][1]
        assert [d for d, _ in got] == [d for d, _ in reference], (name, query, found)
        pairs = zip(got, reference, strict=True)
        assert all(math.isclose(a, b, rel_tol=1e-6) for (_, a), (_, b) in pairs)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=queries, k=ks)
def test_queries_and_k_get_one_answer(surfaces, query, k):
    check_search(surfaces, query, k)
