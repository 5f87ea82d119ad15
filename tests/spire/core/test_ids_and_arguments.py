"""One id rule (spire.core.ids) and one argument check layer (spire.core.arguments), on
every surface: the Python API, the CLI (index, add, delete, search) and the incremental
store. The HTTP side and the agreement of all three: tests/serving/test_cross_surface.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

import spire
from indexing import EncoderInfo, InvertedIndex
from indexing.incremental import SegmentStore, WriteBatch
from spire.cli import app
from spire.core.errors import ArgumentError, SpireError
from spire.core.ids import MAX_ID_BYTES, as_id, check_ids, id_problem
from tests.conftest import REPO, write_beir

TEXTS = ["wing lift at low speed", "boundary layer flow", "heat transfer in jets"]


@pytest.mark.parametrize(
    ("docid", "problem"),
    [
        ("", "must not be empty"),
        (" x", "must not start or end with whitespace"),
        ("x\t", "must not start or end with whitespace"),
        ("a\nb", "control characters (U+000A)"),
        ("a\tb", "control characters (U+0009)"),
        ("a\x7fb", "control characters (U+007F)"),
        ("a\u2028b", "control characters (U+2028)"),
        ("a\ud800b", "control characters (U+D800)"),
        ("x" * (MAX_ID_BYTES + 1), f"at most {MAX_ID_BYTES} bytes"),
        ("é" * (MAX_ID_BYTES // 2 + 1), f"at most {MAX_ID_BYTES} bytes"),
    ],
)
def test_the_id_rule_refuses(docid, problem):
    assert problem in id_problem(docid)
    with pytest.raises(ArgumentError, match="^where: document id ") as info:
        as_id(docid, "where")
    assert problem in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "docid", ["d1", "PMID:5", "文書", "a b", 'quote"and\\slash', "x" * MAX_ID_BYTES, "é" * 256]
)
def test_the_id_rule_accepts(docid):
    assert id_problem(docid) == "" and as_id(docid) == docid


def test_ints_become_str_and_other_types_are_refused():
    assert as_id(7) == "7" and as_id(np.int64(-3)) == "-3"
    for value in (True, 1.5, None, b"d1", ["d1"]):
        with pytest.raises(ArgumentError, match="must be a str"):
            as_id(value)
    with pytest.raises(ArgumentError, match=r"^ids\[2\]: duplicate document id 'a' \(first at 0\)"):
        check_ids(["a", "b", "a"])
    with pytest.raises(ArgumentError, match="^ids: must be a list of document ids, not str"):
        check_ids("ab")


# --------------------------------------------------------------------------- Python API


def test_build_index_with_int_ids_saves_and_reloads(inference_free_encoder, tmp_path):
    """It built and saved, then could not load ("expected a JSON list of document ids")."""
    index = spire.build_index([1, 2, 3], TEXTS, inference_free_encoder, show_progress=False)
    index.save(tmp_path / "idx")
    loaded = spire.InvertedIndex.load(tmp_path / "idx")
    assert loaded.docids == ["1", "2", "3"]
    assert spire.Searcher(loaded).search("wing lift", k=1)[0].docid == "1"


@pytest.mark.parametrize(
    ("docids", "texts", "encoder", "message"),
    [
        (["a", "b", "a"], TEXTS, "enc", r"^docids\[2\]: duplicate document id 'a'"),
        (["a", "", "c"], TEXTS, "enc", r"^docids\[1\]: document id '' must not be empty"),
        (["a", "b\nc", "d"], TEXTS, "enc", r"^docids\[1\]: .*control characters \(U\+000A\)"),
        ("abc", TEXTS, "enc", "^docids: must be a list of document ids, not str"),
        (["a", "b", "c"], [TEXTS[0], None, TEXTS[2]], "enc", r"^texts\[1\]: must be a str"),
        (["a", "b", "c"], TEXTS[:2], "enc", "^texts: 2 texts for 3 ids"),
        (["a", "b", "c"], TEXTS, None, "^encoder: must be a sparse encoder"),
    ],
)
def test_build_index_refuses_bad_arguments_before_encoding(
    inference_free_encoder, docids, texts, encoder, message
):
    enc = inference_free_encoder if encoder == "enc" else encoder
    calls = enc.stats.texts if enc is not None else None
    with pytest.raises(ArgumentError, match=message):
        spire.build_index(docids, texts, enc, show_progress=False)
    if enc is not None:
        assert enc.stats.texts == calls  # refused before any encoding work


def test_from_matrix_refuses_duplicate_ids():
    matrix = sp.csr_matrix(np.eye(3, 8, dtype=np.float32))
    info = EncoderInfo(name="splade-tiny", mode="siamese")
    with pytest.raises(ArgumentError, match="duplicate document id 'x'"):
        InvertedIndex.from_matrix(matrix, ["x", "y", "x"], info)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, inference_free_encoder) -> Path:
    ids = ["d0", "d1", "d2"]
    built = spire.build_index(ids, TEXTS, inference_free_encoder, show_progress=False)
    return built.save(tmp_path_factory.mktemp("ids") / "idx")


def test_searcher_construction_refuses_what_is_not_an_index(index_dir):
    for bad in (None, "a/path", index_dir):
        with pytest.raises(ArgumentError, match="^index: must be an InvertedIndex .*load"):
            spire.Searcher(bad)


@pytest.mark.parametrize(
    ("query", "k", "message"),
    [
        ("wing", 0, "^k: must be at least 1, not 0$"),
        ("wing", -1, "^k: must be at least 1, not -1$"),
        ("wing", "3", "^k: must be an int, not str$"),
        ("wing", True, "^k: must be an int, not bool$"),
        ("wing", 2.0, "^k: must be an int, not float$"),
        (None, 3, "^query: must be a str, not NoneType$"),
        ("", 3, "^query: must not be empty or only whitespace$"),
        (" \t\n", 3, "^query: must not be empty or only whitespace$"),
    ],
)
def test_search_arguments(index_dir, query, k, message):
    from retrieval import open_index

    searchers = [spire.Searcher(InvertedIndex.load(index_dir)), open_index(index_dir)]
    for searcher in searchers:
        with pytest.raises(ArgumentError, match=message):
            searcher.search(query, k=k)
        with pytest.raises(ArgumentError, match=message.replace("^query", r"^queries\['1'\]")):
            searcher.batch_search(["wing", query], k=k)


def test_the_store_applies_the_id_rule(index_dir, tmp_path):
    import shutil

    store = SegmentStore(shutil.copytree(index_dir, tmp_path / "idx"))
    vectors = sp.csr_matrix((1, store.snapshot().vocab_size), dtype=np.float32)
    for bad in ("", "a\nb", "x" * 600):
        with pytest.raises(ArgumentError, match=r"^ids\[0\]: document id"):
            store.add([bad], vectors)
    assert store.add([5], vectors).results[0].ids == ["5"]
    assert WriteBatch().delete(["legacy\tid"]).ops[0][1] == ["legacy\tid"]  # removable


# --------------------------------------------------------------------------- CLI


def tree_digest(path: Path) -> dict[str, str]:
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def corpus_with(tmp_path: Path, bad: dict) -> Path:
    corpus = [{"_id": "d0", "text": "wing lift"}, bad, {"_id": "d9", "text": "flow"}]
    return write_beir(tmp_path / "toy", corpus, [{"_id": "q1", "text": "x"}], [("q1", "d0", 1)])


BAD_IDS = [
    ({"_id": "", "text": "a"}, "document id '' must not be empty"),
    ({"_id": "a\nb", "text": "a"}, "control characters (U+000A)"),
    ({"_id": "x" * 5000, "text": "a"}, f"at most {MAX_ID_BYTES} bytes"),
]


@pytest.mark.parametrize(("bad", "problem"), BAD_IDS, ids=["empty", "newline", "long"])
def test_cli_index_refuses_ids_the_server_would_refuse(tmp_path, bad, problem):
    folder = corpus_with(tmp_path, bad)
    result = CliRunner().invoke(app, ["index", str(folder), "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, SpireError), result.output
    assert str(result.exception).startswith(f"{folder / 'corpus.jsonl'}:2: ")
    assert problem in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_cli_add_names_the_file_and_line_and_changes_nothing(index_dir, tmp_path):
    import shutil

    idx = Path(shutil.copytree(index_dir, tmp_path / "idx"))
    before = tree_digest(idx)
    folder = corpus_with(tmp_path, {"_id": "", "text": "an empty id"})
    result = CliRunner().invoke(app, ["add", str(idx), str(folder)])
    assert isinstance(result.exception, SpireError), result.output
    assert str(result.exception) == f"{folder / 'corpus.jsonl'}:2: document id '' must not be empty"
    assert tree_digest(idx) == before


def test_cli_delete_checks_each_line(index_dir, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("d0\n\nbad\tid\n")
    result = CliRunner().invoke(app, ["delete", str(index_dir), str(ids)])
    assert isinstance(result.exception, SpireError), result.output
    assert str(result.exception).startswith(f"{ids}:3: document id 'bad\\tid' must not contain")
    assert SegmentStore(index_dir).snapshot().n_docs == 3


@pytest.mark.parametrize("query", ["", "   "])
def test_cli_search_refuses_a_blank_query_in_one_line(index_dir, query):
    """It exited 0 with "0 hit(s)"."""
    env = {k: v for k, v in os.environ.items() if k != "SPIRE_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "spire", "search", str(index_dir), query],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: query: must not be empty or only whitespace"
    assert proc.stdout == ""


def test_the_readme_states_the_rules():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"{MAX_ID_BYTES} bytes" in readme and "--overwrite" in readme
