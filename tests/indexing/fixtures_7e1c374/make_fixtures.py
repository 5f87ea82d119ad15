"""Index folders written by the code of commit 7e1c374, and what that code found in them."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, ".")
from eval.datasets import load_corpus  # noqa: E402
from retrieval.segmented_searcher import SegmentedSearcher  # noqa: E402
from spire.cli_serve import _store  # noqa: E402

from encoders import load_encoder  # noqa: E402
from indexing import InvertedIndex, build_index  # noqa: E402
from indexing.dense_index import DenseIndex  # noqa: E402
from retrieval import Searcher  # noqa: E402

out = Path(sys.argv[1])
out.mkdir(parents=True)
corpus = load_corpus("spire/data/cranfield")
ids, texts = corpus.ids[:60], corpus.texts[:60]
lines = [json.loads(x) for x in open("spire/data/cranfield/queries.jsonl")][:5]
queries = {q["_id"]: q["text"] for q in lines}


def hits(found):
    return {q: [[h.docid, float(h.score)] for h in found[q]] for q in found}


results = {"queries": queries}
for mode in ("inference-free", "siamese"):
    enc = load_encoder("splade-tiny", mode)
    build_index(ids[:40], texts[:40], enc, show_progress=False).save(out / f"plain-{mode}")
    index = InvertedIndex.load(out / f"plain-{mode}")
    results[f"plain-{mode}"] = hits(Searcher(index, enc).batch_search(queries, k=10))
shutil.copytree(out / "plain-inference-free", out / "segmented")
store = _store(out / "segmented")
enc = SegmentedSearcher(store).encoder()
store.add(ids[40:60], enc.encode_documents(texts[40:60]))
store.delete(ids[:3])
results["segmented"] = hits(SegmentedSearcher(store).batch_search(queries, k=10))
rng = np.random.default_rng(7)
vectors = rng.standard_normal((40, 16)).astype(np.float32)
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
DenseIndex.build(ids[:40], vectors, "random-16").save(out / "dense")
qv = rng.standard_normal((3, 16)).astype(np.float32)
qv /= np.linalg.norm(qv, axis=1, keepdims=True)
scores, rows = DenseIndex.load(out / "dense").search(qv, 5)
results["dense"] = {"queries": qv.tolist(), "rows": rows.tolist(), "scores": scores.tolist()}
(out / "results_7e1c374.json").write_text(json.dumps(results, indent=1))
print("done")
