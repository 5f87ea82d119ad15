"""Add to results_7e1c374.json the query vectors the code of 7e1c374 searched with."""

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, ".")
from retrieval.segmented_searcher import SegmentedSearcher  # noqa: E402
from spire.cli_serve import _store  # noqa: E402

from indexing import InvertedIndex  # noqa: E402
from retrieval import Searcher  # noqa: E402

out = Path(sys.argv[1])
results = json.loads((out / "results_7e1c374.json").read_text())
qids, texts = list(results["queries"]), list(results["queries"].values())
vectors = {}
for name in ("plain-inference-free", "plain-siamese"):
    enc = Searcher(InvertedIndex.load(out / name)).encoder
    vectors[name] = enc.encode_queries(texts)
with tempfile.TemporaryDirectory() as tmp:
    store = _store(Path(shutil.copytree(out / "segmented", Path(tmp) / "s")))
    vectors["segmented"] = SegmentedSearcher(store).encoder().encode_queries(texts)
results["query_vectors"] = {
    name: {q: [m[i].indices.tolist(), m[i].data.tolist()] for i, q in enumerate(qids)}
    for name, m in vectors.items()
}
(out / "results_7e1c374.json").write_text(json.dumps(results, indent=1))
print("done")
