"""`spire eval --engine milvus`: the sparse run searched in milvus-lite (a real Milvus),
scored like spire's own, with the share of identical top-10s reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip(
    "pymilvus", reason="the [milvus] extra (pymilvus, milvus-lite) is not installed"
)

from eval.experiments.pipeline import report  # noqa: E402


def test_eval_engine_milvus_matches_spire(shared_systems, tmp_path):
    spire = shared_systems("cranfield")  # its document vectors are the session's shared ones
    milvus = replace(spire, engine="milvus", uri=str(tmp_path / "eval.db"), _results={})
    ours = report(spire.run("inference-free"), spire.data)
    theirs = report(milvus.run("inference-free"), milvus.data)
    assert theirs.stats["engine"] == "milvus"
    assert theirs.stats["top10_identical_to_spire"] >= 0.99
    assert abs(theirs.metrics["nDCG@10"] - ours.metrics["nDCG@10"]) <= 0.002
