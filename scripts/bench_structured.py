"""Query-encoding speed of MiniLM with structured pruning (whole feed-forward neurons and
attention heads removed, so the matrices shrink) against the dense model, one thread,
in one process (docs/sparsity.md).

    python scripts/bench_structured.py        # rows: docs/sparsity/structured_speed.jsonl
    python scripts/bench_structured.py --only "magnitude@0.5/ffn"

Speed depends on the shapes only, not on which units a method keeps, so the units are
chosen by magnitude (no calibration needed); nDCG@10 of a structured model is measured
by `scripts/sparsity_report.py encoder` (its structured rows). The pruned and the dense
model alternate query by query (sparsity_report.measure_speed), so the load of other
processes hits both alike; the ratio is the result, not the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.sparsity_report import (  # noqa: E402
    DATA,
    append,
    config_key,
    done_keys,
    measure_speed,
    pruned_copy,
)

# (method, sparsity, nm, structured, head_sparsity, recover)
CONFIGS = [
    ("dense", 0.0, None, None, None, 0),
    ("magnitude", 0.3, None, "ffn", None, 0),
    ("magnitude", 0.5, None, "ffn", None, 0),
    ("magnitude", 0.3, None, "both", 0.25, 0),
    ("magnitude", 0.5, None, "both", 0.5, 0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/sparsity/structured_speed.jsonl")
    parser.add_argument("--queries", type=int, default=100, help="Cranfield queries timed")
    parser.add_argument("--only", nargs="+", help="run only these configurations (keys)")
    args = parser.parse_args()
    import torch

    from encoders.dense import load_dense_encoder
    from encoders.loading import load_base_model, load_tokenizer
    from eval.data.datasets import load_dataset
    from sparsity.storage import save_pruned

    torch.set_num_threads(1)
    data = load_dataset(DATA / "cranfield")
    queries = list(data.queries.values())[: args.queries]
    docs = data.corpus.texts[:200]
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    dense = load_base_model("all-MiniLM-L6-v2")
    reference = load_dense_encoder("all-MiniLM-L6-v2")
    skip = done_keys(args.out, args.only)
    for cfg in CONFIGS:
        if config_key(cfg) in skip:
            continue
        net, _, _ = pruned_copy(dense, cfg, None)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "m"
            save_pruned(net, folder, {"method": cfg[0]}, tokenizer.save_pretrained)
            pruned = load_dense_encoder(str(folder))
            row = {"config": config_key(cfg), "structured": cfg[3], "head_sparsity": cfg[4],
                   "params": sum(p.numel() for p in net.parameters()),
                   "load_average": round(os.getloadavg()[0], 1), "queries": len(queries),
                   **measure_speed(reference, pruned, queries, docs)}  # fmt: skip
        append(args.out, row)


if __name__ == "__main__":
    main()
