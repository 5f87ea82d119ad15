"""End to end through the real CLI: eval the bundled Cranfield, keep its index, search it.

The commands run in this process (`spire.cli.main`, or the app for the module's one eval,
as the regressions run theirs), so the eval shares the session's Cranfield encoding
(eval/experiments/cache.py) instead of encoding it again; one search of the saved index
runs as `python -m spire`, as a shell would."""

from __future__ import annotations

import json
import shlex

import pytest

from tests.conftest import BUNDLED_CRANFIELD as CRANFIELD
from tests.conftest import LEXICAL
from tests.regression_commands import run_spire
from tests.spire.cli.processes import spire_process


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, splade_tiny_path):
    out = tmp_path_factory.mktemp("e2e")
    words = [
        "spire", "eval", str(CRANFIELD), "--model", "splade-tiny", "--mode", "inference-free",
        "--save-index", str(out / "index"), "--run-file", str(out / "run.trec"), "--json",
        "--threads", "1",
    ]  # fmt: skip
    return out, run_spire(shlex.join(words))


def test_eval_reports_metrics_and_stats(evaluated):
    _, report = evaluated
    assert report["n_docs"] == 1400 and report["n_queries"] == 225
    assert report["metrics"]["nDCG@10"] == pytest.approx(0.3466, abs=0.002)
    assert report["identical_ids_dropped"] is False  # Cranfield numbers queries separately
    assert 150 < report["postings_per_doc"] < 300
    assert report["postings_per_query"] > 5 and report["docs_per_second"] > 0
    assert report["index_bytes"] > 0 and report["impact_dtype"] == "uint8"
    assert report["threads"] == 1 and report["idf"] == "corpus"  # splade-tiny has no idf.json


def test_run_file_is_trec(evaluated):
    out, _ = evaluated
    lines = (out / "run.trec").read_text().splitlines()
    qid, q0, docid, rank, score, tag = lines[0].split()
    assert q0 == "Q0" and rank == "1" and float(score) > 0 and tag.startswith("spire-")
    assert len({line.split()[0] for line in lines}) == 225


def test_search_saved_index(evaluated, spire):
    out, _ = evaluated
    proc = spire("search", str(out / "index"), "slipstream wing lift", "-k", "3", "--json",
                 "--corpus", str(CRANFIELD))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"] > 0
    assert "slipstream" in hits[0]["text"]
    table = spire_process("search", out / "index", "slipstream wing lift", "-k", "3")
    assert table.returncode == 0 and hits[0]["docid"] in table.stdout


def test_a_query_matching_only_word_pieces_is_reported(evaluated, spire):
    out, _ = evaluated
    nonsense = spire("search", str(out / "index"), "xqzvw blorptangle", "--json")
    assert nonsense.returncode == 0, nonsense.stderr
    assert "word pieces only" in json.loads(nonsense.stdout)["note"]
    assert "note: no word of the query" in spire("search", str(out / "index"), "xqzvw").stderr
    words = json.loads(spire("search", str(out / "index"), "wing lift", "--json").stdout)
    assert "note" not in words and len(words["hits"]) == 10


def test_a_punctuation_query_has_no_hits(evaluated, spire):
    out, _ = evaluated
    proc = spire("search", str(out / "index"), "?!... --", "--json")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["hits"] == [] and "no word to search for" in answer["note"]


def test_a_blank_query_is_refused(evaluated, spire):
    """It exited 0 with no hits (issue 22); spire.core.arguments refuses it on every surface."""
    out, _ = evaluated
    proc = spire("search", str(out / "index"), "   ", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "error: query: must not be empty or only whitespace"


def test_index_command_on_jsonl(tmp_path, splade_tiny_path, spire):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        '{"id": "a", "contents": "wind tunnel tests of a delta wing"}\n'
        '{"id": "b", "contents": "boundary layer heat transfer"}\n'
        '{"id": "c", "contents": ""}\n'
    )
    proc = spire("index", str(corpus), "--out", str(tmp_path / "idx"), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["docs"] == 3 and summary["empty_docs"] == 1
    assert summary["compression"] == "bitpack" and summary["disk_bytes"] > 0
    assert proc.stderr.count("warning:") == 1
    found = spire("search", str(tmp_path / "idx"), "heat transfer", "--json", "-k", "5")
    assert json.loads(found.stdout)["hits"][0]["docid"] == "b"
    # --no-compress writes plain doc ids; the hits are the same.
    proc = spire("index", str(corpus), "--out", str(tmp_path / "plain"), "--no-compress",
                 "--json")  # fmt: skip
    assert json.loads(proc.stdout)["compression"] == "none"
    assert (tmp_path / "plain" / "postings" / "doc_ids.npy").is_file()
    plain = spire("search", str(tmp_path / "plain"), "heat transfer", "--json", "-k", "5")
    assert json.loads(plain.stdout)["hits"] == json.loads(found.stdout)["hits"]


def test_index_with_a_lexical_model_folder(tmp_path, lexical_model_path, spire):
    from encoders import load_encoder
    from encoders.lexical import Lexical, lexical_weights
    from indexing import InvertedIndex

    texts = {"a": "wind tunnel tests of a delta wing " * 50 + "plum", "b": "heat heat transfer"}
    corpus = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": i, "contents": t}) + "\n" for i, t in texts.items()]
    corpus.write_text("".join(lines))
    model = ("--model", str(lexical_model_path), "--mode", "inference-free")
    proc = spire("index", str(corpus), "--out", str(tmp_path / "idx"), *model,
                 "--impact-dtype", "float32", "--doc-max-length", "32")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["encoder"]["lexical"] == LEXICAL
    query = "delta wing heat transfer plum"
    found = json.loads(spire("search", str(tmp_path / "idx"), query, "--json").stdout)["hits"]
    # Every score is the query times the learned vector plus the lexical term.
    idf = InvertedIndex.load(tmp_path / "idx").idf
    enc = load_encoder(str(lexical_model_path), "inference-free", idf=idf, lexical_weight=0,
                       doc_max_length=32)  # fmt: skip
    docs = enc.encode_documents(list(texts.values()))
    docs += lexical_weights(enc.tokenizer, list(texts.values()), Lexical(**LEXICAL))
    scores = (enc.encode_queries([query]) @ docs.T).toarray()[0]
    assert {h["docid"]: h["score"] for h in found} == pytest.approx(
        dict(zip(texts, scores.tolist(), strict=True)), rel=1e-5
    )
    # --lexical-stem overrides the folder's stem classes, and the index records it.
    proc = spire("index", str(corpus), "--out", str(tmp_path / "exact"), *model,
                 "--lexical-stem", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    recorded = json.loads((tmp_path / "exact" / "manifest.json").read_text())["encoder"]
    assert recorded["lexical"] == {**LEXICAL, "stem_class_max": 0}
    # --lexical-weight 0 turns the folder's term off; nothing is recorded then.
    proc = spire("index", str(corpus), "--out", str(tmp_path / "off"), *model,
                 "--lexical-weight", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "lexical" not in json.loads((tmp_path / "off" / "manifest.json").read_text())["encoder"]
