"""Start-up cost: a one-query `spire search` on an inference-free index loads the
tokenizer and the IDF, never torch or transformers (scripts/bench_startup.py times it)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path

from tests.conftest import BUNDLED_CRANFIELD

REPO = Path(__file__).resolve().parents[2]


def test_search_on_an_inference_free_index_imports_no_torch(tmp_path, inference_free_encoder):
    from eval.data.datasets import load_corpus
    from indexing import build_index

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = load_corpus(BUNDLED_CRANFIELD)
    encoder = copy.copy(inference_free_encoder)  # its own IDF; loading cached the tokenizer
    index = build_index(corpus.ids[:30], corpus.texts[:30], encoder, show_progress=False)
    folder = index.save(tmp_path / "ix")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "spire", "search", str(folder),
         "slipstream wing", "-k", "3", "--json"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["hits"]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"numba", "tokenizers"} <= imported  # the list holds what the search used
    heavy = sorted(m for m in imported if m.split(".")[0] in ("torch", "transformers"))
    assert not heavy, heavy[:5]
