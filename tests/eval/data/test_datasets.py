"""Loading BEIR folders and jsonl corpora, and the one-line errors for bad input."""

from __future__ import annotations

import gzip
import json
import re
import warnings
from pathlib import Path

import pytest

from eval.data.datasets import load_corpus, load_dataset
from eval.data.jsonl import read_lines
from spire.core.errors import SpireError
from tests.conftest import shared_data, write_beir

CORPUS = [
    {"_id": "d1", "title": "Alpha", "text": "first document"},
    {"_id": "d2", "title": "", "text": "second document"},
    {"_id": 3, "title": "Gamma", "text": "third"},
    {"_id": "d4", "text": "no title at all"},
]
QUERIES = [
    {"_id": "q1", "text": "what is alpha"},
    {"_id": "q2", "text": "second?"},
    {"_id": "q3", "text": "never judged in test"},
    {"_id": 4, "text": "numeric id"},
]
QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "3", 0), ("4", "d4", 1)]


@pytest.fixture
def beir(tmp_path) -> Path:
    folder = write_beir(tmp_path / "toy", CORPUS, QUERIES, QRELS)
    write_beir(folder, CORPUS, QUERIES, [("q3", "d1", 1)], split="dev")
    return folder


def jsonl(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(SpireError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- good input


def test_load_beir_folder(beir):
    data = load_dataset(beir)
    assert data.name == "toy"
    assert data.split == "test"
    assert data.corpus.ids == ["d1", "d2", "3", "d4"]
    assert data.corpus.texts == [
        "Alpha first document",
        "second document",
        "Gamma third",
        "no title at all",
    ]
    assert len(data.corpus) == 4
    assert data.corpus.n_empty == 0
    # Only the queries judged in this split, in file order, with string ids.
    assert data.queries == {"q1": "what is alpha", "q2": "second?", "4": "numeric id"}
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "3": 0}, "4": {"d4": 1}}
    assert data.shares_id_space is True


def test_load_another_split(beir):
    data = load_dataset(beir, split="dev")
    assert data.split == "dev"
    assert data.queries == {"q3": "never judged in test"}
    assert data.qrels == {"q3": {"d1": 1}}


def test_gzipped_files_in_a_beir_folder(beir):
    for name in ("corpus.jsonl", "queries.jsonl"):
        path = beir / name
        (beir / f"{name}.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    data = load_dataset(beir)
    assert data.corpus.ids == ["d1", "d2", "3", "d4"]
    assert set(data.queries) == {"q1", "q2", "4"}


def test_trec_style_qrels(tmp_path):
    folder = write_beir(tmp_path / "trec", CORPUS, QUERIES, [])
    (folder / "qrels" / "test.tsv").write_text("q1 0 d1 1\nq2 0 d2 2\n")
    assert load_dataset(folder).qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n" + jsonl({"id": "a", "contents": "x"}) + "  \n" + jsonl({"id": "b"}))
    with pytest.warns(UserWarning):
        corpus = load_corpus(path)
    assert corpus.ids == ["a", "b"]


def test_load_corpus_plain_jsonl_with_id_and_contents(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(
        jsonl({"id": "a", "contents": "hello world"}, {"id": 7, "contents": "bye", "title": "T"})
    )
    corpus = load_corpus(path)
    assert corpus.ids == ["a", "7"]
    assert corpus.texts == ["hello world", "T bye"]


def test_load_corpus_jsonl_gz(tmp_path):
    path = tmp_path / "docs.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(jsonl({"id": "a", "contents": "hello"}, {"id": "b", "contents": "wörld"}))
    corpus = load_corpus(path)
    assert corpus.ids == ["a", "b"]
    assert corpus.texts == ["hello", "wörld"]


def test_load_corpus_of_a_beir_folder(beir):
    assert load_corpus(beir).ids == ["d1", "d2", "3", "d4"]
    assert load_corpus(str(beir)).texts[0] == "Alpha first document"


def test_documents_without_text_load_empty_with_one_warning(tmp_path):
    corpus = [
        {"_id": "a", "title": "", "text": ""},
        {"_id": "b", "text": "has text"},
        {"_id": "c"},
        {"_id": "d", "title": "  ", "text": " "},
    ]
    folder = write_beir(tmp_path / "gaps", corpus, [{"_id": "q", "text": "x"}], [("q", "b", 1)])
    with pytest.warns(UserWarning) as record:
        data = load_dataset(folder)
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert len(messages) == 1
    assert "3 document(s)" in messages[0]
    assert "corpus.jsonl" in messages[0]
    assert data.corpus.ids == ["a", "b", "c", "d"]
    assert data.corpus.texts == ["", "has text", "", ""]
    assert data.corpus.n_empty == 3


def test_no_warning_when_every_document_has_text(beir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset(beir)


# --------------------------------------------------------------------------- shares_id_space


@pytest.mark.parametrize(
    ("name", "shares"),
    [("cranfield", False), ("cisi", False), ("vaswani", False), ("scifact", True)],
)
def test_shares_id_space_of_the_real_collections(name, shares):
    folder = shared_data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cranfield has empty documents
        data = load_dataset(folder)
    assert data.shares_id_space is shares
    assert data.queries and data.qrels


def test_shares_id_space_of_the_bundled_cranfield():
    from tests.conftest import BUNDLED_CRANFIELD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_dataset(BUNDLED_CRANFIELD).shares_id_space is False


def test_neutral_beir_folder_shares_its_id_space(tmp_path):
    corpus = [{"_id": "1", "text": "one"}, {"_id": "2", "text": "two"}]
    queries = [{"_id": "1", "text": "q one"}, {"_id": "2", "text": "q two"}]
    # Query 1 judges doc 1 non-relevant: an equal id alone proves nothing.
    folder = write_beir(tmp_path / "neutral", corpus, queries, [("1", "2", 1), ("1", "1", 0)])
    assert load_dataset(folder).shares_id_space is True


def test_relevant_doc_with_the_query_id_means_separate_id_spaces(tmp_path):
    corpus = [{"_id": "1", "text": "one"}, {"_id": "2", "text": "two"}]
    queries = [{"_id": "1", "text": "q one"}, {"_id": "2", "text": "q two"}]
    folder = write_beir(tmp_path / "neutral", corpus, queries, [("1", "2", 1), ("2", "2", 1)])
    assert load_dataset(folder).shares_id_space is False


def test_folder_name_containing_a_collection_name_as_a_substring(tmp_path):
    corpus = [{"_id": "d1", "text": "one"}]
    queries = [{"_id": "q1", "text": "q one"}]
    folder = write_beir(tmp_path / "precision-medicine", corpus, queries, [("q1", "d1", 1)])
    assert load_dataset(folder).shares_id_space is True


# --------------------------------------------------------------------------- bad input


def test_missing_dataset_folder(tmp_path):
    message = error_of(load_dataset, tmp_path / "absent")
    assert "absent" in message


def test_missing_corpus_path(tmp_path):
    assert "absent.jsonl" in error_of(load_corpus, tmp_path / "absent.jsonl")


def test_a_single_file_is_not_a_dataset(beir):
    message = error_of(load_dataset, beir / "corpus.jsonl")
    assert "corpus.jsonl" in message
    assert "BEIR folder" in message


@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl"])
def test_missing_file_in_a_beir_folder(beir, name):
    (beir / name).unlink()
    message = error_of(load_dataset, beir)
    assert str(beir / name) in message
    assert "no such file" in message


def test_missing_corpus_in_a_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "corpus.jsonl" in error_of(load_corpus, tmp_path / "empty")


def test_missing_split_lists_the_available_ones(beir):
    message = error_of(load_dataset, beir, split="train")
    assert "train.tsv" in message
    assert "available: dev, test" in message


def test_missing_qrels_folder(tmp_path, beir):
    for path in (beir / "qrels").iterdir():
        path.unlink()
    (beir / "qrels").rmdir()
    message = error_of(load_dataset, beir)
    assert "test.tsv" in message
    assert "none" in message


def write_corpus(beir: Path, *lines) -> Path:
    path = beir / "corpus.jsonl"
    path.write_text(jsonl(*lines))
    return path


def test_malformed_json_line(beir):
    write_corpus(beir, {"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}, '{"_id": "c", ')
    message = error_of(load_dataset, beir)
    assert re.search(r"corpus\.jsonl:3\b", message), message
    assert "malformed JSON" in message


def test_malformed_json_line_in_queries(beir):
    (beir / "queries.jsonl").write_text(jsonl({"_id": "q1", "text": "x"}, "not json"))
    assert re.search(r"queries\.jsonl:2\b", error_of(load_dataset, beir))


@pytest.mark.parametrize("line", ['["a", "b"]', '"just a string"', "42", "null"])
def test_a_json_line_that_is_not_an_object(beir, line):
    write_corpus(beir, {"_id": "a", "text": "x"}, line)
    message = error_of(load_dataset, beir)
    assert re.search(r"corpus\.jsonl:2\b", message), message
    assert "object" in message


def test_missing_id_field(beir):
    write_corpus(beir, {"_id": "a", "text": "x"}, {"text": "no id here"})
    message = error_of(load_dataset, beir)
    assert re.search(r"corpus\.jsonl:2\b", message), message
    assert "_id" in message


def test_missing_query_text(beir):
    (beir / "queries.jsonl").write_text(jsonl({"_id": "q1"}))
    message = error_of(load_dataset, beir)
    assert re.search(r"queries\.jsonl:1\b", message), message
    assert "text" in message


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, 1.5])
def test_id_of_the_wrong_type(beir, value):
    write_corpus(beir, {"_id": "a", "text": "x"}, {"_id": value, "text": "y"})
    message = error_of(load_dataset, beir)
    assert re.search(r"corpus\.jsonl:2\b", message), message


def test_text_of_the_wrong_type(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(jsonl({"id": "a", "contents": ["x"]}))
    message = error_of(load_corpus, path)
    assert "c.jsonl:1" in message
    assert "contents" in message


def test_duplicate_doc_id_names_both_lines(beir):
    write_corpus(
        beir,
        {"_id": "a", "text": "x"},
        {"_id": "b", "text": "y"},
        {"_id": "c", "text": "z"},
        {"_id": "b", "text": "again"},
    )
    message = error_of(load_dataset, beir)
    assert re.search(r"corpus\.jsonl:4\b", message), message
    assert "'b'" in message
    assert "line 2" in message


def test_duplicate_doc_id_int_and_string(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(jsonl({"id": 5, "contents": "x"}, {"id": "5", "contents": "y"}))
    message = error_of(load_corpus, path)
    assert "c.jsonl:2" in message
    assert "line 1" in message


def test_invalid_utf8(beir):
    path = beir / "corpus.jsonl"
    path.write_bytes(
        b'{"_id": "a", "text": "fine"}\n{"_id": "b", "text": "caf\xe9"}\n{"_id": "c"}\n'
    )
    message = error_of(load_dataset, beir)
    assert re.search(r"corpus\.jsonl:2\b", message), message
    assert "UTF-8" in message


def test_invalid_utf8_in_gzipped_corpus(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a", "contents": "x"}\n\xff\xfe\n'))
    assert "c.jsonl.gz:2" in error_of(load_corpus, path)


def test_empty_corpus(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n\n")
    message = error_of(load_corpus, path)
    assert "c.jsonl" in message
    assert "no documents" in message


@pytest.mark.parametrize(
    ("line", "reason"),
    [("q1\td1", "expected"), ("q1\td1\t1\t2\t3", "expected"), ("q1\td1\thigh", "not a number")],
)
def test_qrels_with_a_malformed_line(beir, line, reason):
    qrels = beir / "qrels" / "test.tsv"
    qrels.write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t1\n{line}\n")
    message = error_of(load_dataset, beir)
    assert re.search(r"test\.tsv:3\b", message), message
    assert reason in message


def test_qrels_naming_an_unknown_query(beir):
    qrels = beir / "qrels" / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq-unknown\td1\t1\n")
    message = error_of(load_dataset, beir)
    assert "test.tsv" in message
    assert "'q-unknown'" in message
    assert "queries.jsonl" in message


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    """Corpus, queries and qrels files saved by an editor that writes a BOM still load."""
    folder = write_beir(tmp_path / "bom", CORPUS, QUERIES, QRELS)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = load_dataset(folder, "test")
    assert data.corpus.ids == ["d1", "d2", "3", "d4"]
    assert "q1" in data.queries and data.qrels["q1"] == {"d1": 1}
    ids = tmp_path / "ids.txt"  # `spire delete` reads its ids file with the same reader
    ids.write_bytes(b"\xef\xbb\xbfd1\nd2\n")
    assert [line.strip() for _, line in read_lines(ids)] == ["d1", "d2"]
