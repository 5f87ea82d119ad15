"""spire index on a gzipped corpus (streamed, resumable) and spire reorder, end to end."""

from __future__ import annotations

import gzip
import json

from tests.spire.cli.test_cli_errors import assert_input_error


def gz_corpus(folder, n: int, cut: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"_id": f"d{i}", "text": f"wind tunnel test {i} " * 20}) + "\n"
                    for i in range(n))  # fmt: skip
    blob = gzip.compress(lines.encode())
    (folder / "corpus.jsonl.gz").write_bytes(blob[: len(blob) // 2] if cut else blob)
    return folder


def test_a_truncated_gzip_is_one_line_before_any_encoding(tmp_path, spire):
    source = gz_corpus(tmp_path / "cut", 400, cut=True)
    proc = spire("index", source, "--out", tmp_path / "out", "--mode", "inference-free")
    assert_input_error(proc, "corpus.jsonl.gz: unreadable after line", "truncated")
    assert not (tmp_path / "out").exists()


def test_index_a_gzipped_corpus_reordered_then_reorder_again(tmp_path, spire):
    source = gz_corpus(tmp_path / "ok", 6)
    out = tmp_path / "idx"
    proc = spire("index", source, "--out", out, "--mode", "inference-free", "--shard-docs", "4",
                 "--doc-max-length", "16", "--reorder", "bp", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["docs"] == 6 and summary["shards"] == 2 and summary["reorder"] == "bp"
    assert not (tmp_path / ".idx.shards").exists()
    proc = spire("reorder", out, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["docs"] == 6
    hits = json.loads(spire("search", out, "wind tunnel", "--json").stdout)["hits"]
    assert len(hits) == 6
