"""The real CLI on bad input: exit code 2, one `error:` line on stderr, never a traceback.

The commands run through `spire.cli.main` in this process (the `spire` fixture,
tests/spire/cli/conftest.py); `test_a_child_process_exits_2_with_one_line` runs two of
them as `python -m spire`, as a shell would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from tests.conftest import write_beir
from tests.spire.cli.processes import spire_process

VOCAB = 30522


def assert_input_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2 and exactly one non-empty stderr line, starting with 'error:'; returns it."""
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert proc.stdout.strip() == "", proc.stdout  # nothing for a script to mis-parse
    return lines[0]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    """A cheap inference-free index over the real vocabulary, built from random vectors."""
    rng = np.random.default_rng(0)
    docs = sp.random(20, VOCAB, density=0.002, format="csr", dtype=np.float32, random_state=rng)
    idf = rng.uniform(0.5, 5.0, VOCAB).astype(np.float32)
    index = InvertedIndex.from_matrix(
        docs,
        [f"doc{i}" for i in range(20)],
        EncoderInfo(name="splade-tiny", mode="inference-free"),
        "uint8",
        idf=idf,
    )
    return index.save(tmp_path_factory.mktemp("cli") / "idx")


@pytest.fixture
def index_copy(index_dir, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(index_dir, tmp_path / "idx"))


@pytest.fixture
def beir(tmp_path) -> Path:
    corpus = [{"_id": f"d{i}", "title": "", "text": f"document number {i}"} for i in range(3)]
    return write_beir(tmp_path / "toy", corpus, [{"_id": "q1", "text": "x"}], [("q1", "d1", 1)])


# --------------------------------------------------------------------------- spire index


def test_index_missing_dataset_folder(tmp_path, spire):
    proc = spire("index", tmp_path / "absent", "--out", tmp_path / "out")
    assert_input_error(proc, "absent")
    assert not (tmp_path / "out").exists()


def test_index_malformed_corpus_line(beir, tmp_path, spire):
    corpus = beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text() + '{"_id": "d9", "text": \n')
    proc = spire("index", beir, "--out", tmp_path / "out")
    assert_input_error(proc, "corpus.jsonl:4", "malformed JSON")
    assert not (tmp_path / "out").exists()


def test_index_duplicate_doc_id(beir, tmp_path, spire):
    corpus = beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text() + json.dumps({"_id": "d1", "text": "again"}) + "\n")
    proc = spire("index", beir, "--out", tmp_path / "out")
    assert_input_error(proc, "corpus.jsonl:4", "duplicate", "'d1'", "line 2")


def test_index_unknown_model(beir, tmp_path, spire):
    proc = spire("index", beir, "--out", tmp_path / "out", "--model", "no-such-model-xyz")
    assert_input_error(proc, "unknown model", "no-such-model-xyz")
    assert not (tmp_path / "out").exists()


def test_index_unknown_model_with_json(beir, tmp_path, spire):
    proc = spire("index", beir, "-o", tmp_path / "out", "-m", "no-such-model-xyz", "--json")
    assert_input_error(proc, "no-such-model-xyz")


def test_index_refuses_an_existing_out_folder(beir, tmp_path, spire):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    proc = spire("index", beir, "--out", out)
    assert_input_error(proc, str(out), "--overwrite")
    assert (out / "keep.txt").read_text() == "precious"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


# --------------------------------------------------------------------------- spire search


def test_search_the_cheap_index_works(index_dir, spire):
    # The fixture is a valid index: the failures below come from the damage alone.
    proc = spire("search", index_dir, "document", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["query"] == "document"


def test_search_unknown_format_version(index_copy, spire):
    manifest = json.loads((index_copy / "manifest.json").read_text())
    manifest["format_version"] = 42
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    assert_input_error(spire("search", index_copy, "query"), "manifest.json", "42")


@pytest.mark.parametrize("name", ["doc_words.npy", "block_first.npy", "block_width.npy"])
def test_search_truncated_index_file(index_copy, name, spire):
    path = index_copy / "postings" / name
    path.write_bytes(path.read_bytes()[:-3])
    assert_input_error(spire("search", index_copy, "query"), name)


def test_search_corrupt_index_file(index_copy, spire):
    path = index_copy / "postings" / "impacts.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert_input_error(spire("search", index_copy, "query", "--json"), "impacts.npy", "sha256")


def test_search_missing_index_folder(tmp_path, spire):
    assert_input_error(spire("search", tmp_path / "nowhere", "query"), "nowhere")


def test_search_folder_that_is_not_an_index(tmp_path, spire):
    assert_input_error(spire("search", tmp_path, "query"), "manifest.json")


# --------------------------------------------------------------------------- spire eval


def test_eval_missing_split(beir, spire):
    assert_input_error(spire("eval", beir, "--split", "train"), "train.tsv", "available: test")


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args",
    [
        ("index", "somewhere", "--no-such-option"),
        ("search",),
        ("search", "idx", "q", "-k", "0"),
        ("index", "somewhere", "--out", "x", "--impact-dtype", "int4"),
        ("no-such-command",),
    ],
    ids=["unknown-option", "missing-args", "k-zero", "bad-choice", "unknown-command"],
)
def test_usage_errors_exit_2(args, spire):
    proc = spire(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--mode", "inference-free", "--lexical-weight", "-1"), "--lexical-weight"),
        (("--mode", "inference-free", "--lexical-weight", "nan"), "--lexical-weight"),
        (("--mode", "inference-free", "--lexical-weight", "inf"), "--lexical-weight"),
        (("--lexical-weight", "1"), "inference-free"),  # siamese queries are not tokens
    ],
    ids=["negative", "nan", "inf", "siamese"],
)
def test_bad_lexical_weight(beir, tmp_path, args, fragment, spire):
    assert_input_error(spire("index", beir, "--out", tmp_path / "idx", *args), fragment)
    assert_input_error(spire("eval", beir, *args), fragment)


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--out", "o", "--data", "d", "--threads", "-1"),
        ("eval", "d", "--threads", "-1"),
        ("eval", "d", "--idf", "training"),
        ("index", "d", "--out", "o", "--idf", "training"),
    ],
    ids=["train-threads", "eval-threads", "eval-idf", "index-idf"],
)
def test_threads_and_idf_options_check_their_values(args, spire):
    """--threads (train, eval) and --idf (eval, index) exist and refuse a bad value."""
    proc = spire(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert f"Invalid value for '{args[-2]}'" in proc.stderr, proc.stderr


def test_a_child_process_exits_2_with_one_line(tmp_path):
    """`python -m spire` as a shell runs it: input errors and usage errors exit 2 without a
    traceback, and nothing reaches stdout."""
    assert_input_error(spire_process("search", tmp_path / "nowhere", "query"), "nowhere")
    proc = spire_process("no-such-command")
    assert proc.returncode == 2 and proc.stderr.strip() and proc.stdout == ""
    assert "Traceback" not in proc.stderr
