"""The page without a browser: pages rendered on the server (JavaScript off), grading's
key, same-origin and input checks, path traversal, and start-up errors of `spire serve`.
Real uvicorn servers over the session's Cranfield collection (conftest.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spire_server_fixtures as fx  # registered by tests/serving/conftest.py

from eval.data.run import Run, ranked
from serving.server import create_app
from serving.ui import UiOptions
from spire.core.errors import SpireError

REPO = Path(__file__).resolve().parents[3]
KEY = "http-test-key"


@pytest.fixture(scope="module")
def servers(ui_collection, tmp_path_factory):
    """An open server (no key) with a judgments file, and one that needs a key."""
    grades = tmp_path_factory.mktemp("grades") / "grades.qrels"
    options = UiOptions(qrels=ui_collection["dataset"], judgments=grades)
    with (
        fx.LiveServer(create_app(ui_collection["index"], read_only=True, ui=options)) as open_,
        fx.LiveServer(create_app(ui_collection["index"], read_only=True, api_key=KEY,
                                 ui=UiOptions(qrels=ui_collection["dataset"]))) as keyed,
    ):  # fmt: skip
        yield {"open": open_, "keyed": keyed, "grades": grades, **ui_collection}


def no_traceback(response) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_pages_render_without_javascript(servers):
    with servers["open"].client() as client:
        page = client.get("/ui", params={"q": "boundary layer transition", "k": 5})
        assert page.status_code == 200 and page.text.count('<li class="hit"') == 5
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<mark>" in page.text and 'class="term ' in page.text
        for path in ("/ui/compare?q=flutter", "/ui/eval", "/ui?q=", "/ui?qid=nope", "/ui?k=0&q=x"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            no_traceback(answer)
        assert "Type a query above" in client.get("/ui?q=").text
        assert "no query" in client.get("/ui?qid=nope").text.lower()
        assert "k must be a whole number" in client.get("/ui?k=0&q=x").text
        assert "Nothing to compare with" in client.get("/ui/compare?q=flutter").text


def test_queries_are_escaped_in_pages_and_links(servers):
    hostile = '"><script>alert(1)</script><a href="javascript:alert(2)">x</a>'
    with servers["open"].client() as client:
        page = client.get("/ui", params={"q": hostile}).text
    assert "<script>alert(1)" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;script&gt;" in page  # the attribute value is closed by nothing


def grade(server, body, **headers):
    with server.client() as client:
        return client.post("/ui/grade", json=body, headers=headers)


def test_grading_needs_the_same_origin_and_the_key(servers, ui_collection):
    qid = sorted(fx_queries(ui_collection))[0]
    body = {"qid": qid, "docid": "1", "grade": 2}
    server = servers["open"]
    assert grade(server, body).status_code == 403  # no Origin
    assert grade(server, body, origin="http://evil.example").status_code == 403
    assert (
        grade(server, body, origin=server.url, **{"sec-fetch-site": "cross-site"}).status_code
        == 403
    )
    ok = grade(server, body, origin=server.url)
    assert ok.status_code == 200 and ok.json()["grade"] == 2
    assert servers["grades"].read_text().splitlines()[-1] == f"{qid} 0 1 2"
    keyed = servers["keyed"]
    assert grade(keyed, body, origin=keyed.url).status_code == 401
    answer = grade(keyed, body, origin=keyed.url, **{"x-api-key": KEY})
    assert answer.status_code == 409 and "--judgments" in answer.json()["error"]["message"]


def fx_queries(ui_collection) -> list[str]:
    from eval.data.datasets import load_dataset

    return list(load_dataset(ui_collection["dataset"]).queries)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"qid": "no-such-query", "docid": "1", "grade": 1}, 404, "no query"),
        ({"qid": "QID", "docid": "no-such-doc", "grade": 1}, 404, "no document"),
        ({"qid": "QID", "docid": "1", "grade": 4}, 422, "grade"),
        ({"qid": "QID", "docid": "1", "grade": -1}, 422, "grade"),
        ({"qid": "QID", "docid": "1", "grade": "2"}, 422, "grade"),
        ({"qid": "QID", "docid": "1"}, 422, "grade"),
        ({"qid": "QID", "docid": "1", "grade": 1, "extra": 1}, 422, "extra"),
    ],
)
def test_bad_grades_get_a_4xx_with_a_message(servers, ui_collection, body, status, words):
    qid = sorted(fx_queries(ui_collection))[0]
    body = {k: (qid if v == "QID" else v) for k, v in body.items()}
    answer = grade(servers["open"], body, origin=servers["open"].url)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]
    no_traceback(answer)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/..%2F..%2Fserver.py",
        "/ui/static/%2e%2e/%2e%2e/server.py",
        "/ui/static/../../pyproject.toml",
        "/ui/static/ui.js%00.py",
        "/ui/static/templates%2Fbase.html",
        "/ui/part/..%2Fstatic",
        "/ui/part/search%2F..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_is_refused(servers, path):
    with servers["open"].client() as client:
        answer = client.get(path)
    assert answer.status_code == 404, (path, answer.status_code)
    assert "import" not in answer.text and "[project]" not in answer.text
    no_traceback(answer)


def test_static_files_and_the_page_need_no_key_but_views_do(servers):
    with servers["keyed"].client() as client:
        assert client.get("/ui/static/ui.js").status_code == 200
        shell = client.get("/ui", params={"q": "flutter"})
        assert shell.status_code == 200 and '<li class="hit"' not in shell.text
        assert client.get("/ui/part/search", params={"q": "flutter"}).status_code == 401
        part = client.get("/ui/part/search", params={"q": "flutter"}, headers={"x-api-key": KEY})
        assert part.status_code == 200 and '<li class="hit"' in part.text


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"compare": "no/such/index"}, "--compare no/such/index: no such index folder"),
        ({"compare": "query-terms=0"}, "--compare query-terms=0: N must be"),
        ({"compare": "fusion"}, "--compare fusion: fusion needs a dense side"),
        ({"compare": "fusion=sum"}, "unknown fusion method 'sum'"),
        ({"judgments": "no/such/dir/grades.qrels", "qrels": "DATASET"}, "no such folder"),
        ({"judgments": "grades.qrels"}, "--judgments needs --qrels"),
        ({"qrels": "no/such/dataset"}, "--qrels no/such/dataset: no such dataset folder"),
        ({"qrels": "DATASET", "split": "train"}, "no such split"),
        ({"runs": (Path("no/such.run"),)}, "--runs no/such.run: no such file"),
        ({"runs": (Path("a.run"),), "compare": "query-terms=2"}, "--compare or --runs"),
    ],
)
def test_bad_start_up_options_are_refused_in_one_line(ui_collection, options, words):
    options = {k: ui_collection["dataset"] if v == "DATASET" else v for k, v in options.items()}
    options = {k: Path(v) if k in ("qrels", "judgments") else v for k, v in options.items()}
    with pytest.raises(SpireError) as caught:
        create_app(ui_collection["index"], read_only=True, ui=UiOptions(**options))
    assert words in str(caught.value) and "\n" not in str(caught.value)


def run_spire(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "spire", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_bad_paths_at_start_up_get_one_line_and_exit_2(ui_collection):
    done = run_spire("serve", "no/such/index", "--qrels", str(ui_collection["dataset"]))
    assert (done.returncode, done.stderr) == (2, "error: no/such/index: no such index folder\n")
    done = run_spire("serve", str(ui_collection["index"]), "--qrels", "no/such/dataset")
    assert done.returncode == 2
    assert done.stderr == "error: --qrels no/such/dataset: no such dataset folder (a BEIR folder)\n"


def test_run_files_are_compared_and_evaluated_as_spire_eval_does(ui_collection, tmp_path):
    """--runs: the evaluation view scores TREC run files; spire eval's own run file gives
    spire eval's numbers. B is that run with each query's top 10 in reverse order."""
    run = Run.load_trec(ui_collection["run"])
    reversed_top = {}
    for qid, docs in run.items():
        order = ranked(docs)
        top = [d for d, _ in order[:10]][::-1] + [d for d, _ in order[10:]]
        reversed_top[qid] = {d: float(len(top) - i) for i, d in enumerate(top)}
    run_b = Run(reversed_top).save_trec(tmp_path / "reversed.run")
    options = UiOptions(qrels=ui_collection["dataset"], runs=(ui_collection["run"], run_b))
    with fx.LiveServer(create_app(ui_collection["index"], read_only=True, ui=options)) as server:
        with server.client() as client:
            page = client.get("/ui/eval").text
            compare = client.get("/ui/compare", params={"qid": "1", "k": 10}).text
            free_text = client.get("/ui/compare", params={"q": "flutter"}).text
    means = re.findall(r'<tr class="mean" data-system="(a|b)">.*?data-value="([^"]+)"', page)
    metrics = ui_collection["report"]["metrics"]
    assert float(dict(means)["a"]) == pytest.approx(metrics["nDCG@10"], abs=1e-12)
    assert float(dict(means)["b"]) < float(dict(means)["a"])  # the worst first: worse
    assert 'data-overlap="10"' in compare and "▼9" in compare  # A's 1st is B's 10th
    assert "run files (--runs): pick a dataset query" in free_text


@pytest.fixture(scope="module")
def fused_server(tmp_path_factory, splade_tiny_path, minilm_path):
    """The 40-document index the server tests share, with a dense side; B = fused (rrf)."""
    from serving.dense_side import build_dense_side

    source = fx.small_index(tmp_path_factory.mktemp("ui-fusion-index"))
    corpus = fx.CRANFIELD / "corpus.jsonl"
    texts = {json.loads(line)["_id"]: line for line in corpus.read_text().splitlines()}
    ids = list(texts)[:40]
    docs = [json.loads(texts[i]) for i in ids]
    dense = tmp_path_factory.mktemp("ui-dense") / "dense"
    build_dense_side(source, ids, [f"{d['title']} {d['text']}".strip() for d in docs], dense)
    options = UiOptions(qrels=fx.CRANFIELD, compare="fusion=rrf")
    app = create_app(source, read_only=True, dense=dense, ui=options)
    with fx.LiveServer(app) as server:
        yield server


def test_fusion_shows_each_side_and_the_fused_score(fused_server):
    with fused_server.client() as client:
        page = client.get("/ui", params={"q": "boundary layer heat transfer", "fusion": "rrf"})
        compare = client.get("/ui/compare", params={"q": "boundary layer heat transfer"})
    assert page.status_code == 200 and page.text.count('<table class="fusion">') == 10
    fused = re.findall(r'<tr class="fused"><td>fused</td><td>(\d+)</td>', page.text)
    assert fused == [str(r) for r in range(1, 11)]
    assert "fused by rrf with the dense side" in page.text
    assert "B: fused (rrf)" in compare.text and 'data-overlap="' in compare.text
