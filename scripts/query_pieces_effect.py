"""The effect of not searching punctuation pieces (encoders/inference_free.py) on every
judged collection: each inference-free run twice, with the rule and without it.

    .venv/bin/python scripts/query_pieces_effect.py \
        --datasets scifact,cranfield,cisi,vaswani,msmarco-dl19-subset,msmarco-dl19-dl20-pooled

Documents are encoded once per collection; only the query side differs between the two
runs. Also counts the queries none of whose words is one vocabulary piece with postings
(the case `spire search` reports).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

import encoders.inference_free as inference_free
from encoders import load_encoder
from eval.data.datasets import load_dataset
from eval.experiments.pipeline import report
from eval.experiments.systems import Systems

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def every_piece(tokenizer) -> np.ndarray:
    return np.ones(len(tokenizer), dtype=bool)


def ndcg(systems: Systems, rule: bool) -> dict[str, float]:
    inference_free.worded_pieces = RULE if rule else every_piece
    return report(replace(systems, _results={}).run("inference-free"), systems.data).metrics


def no_whole_word(systems: Systems, model: str) -> int:
    encoder = load_encoder(model, "inference-free")
    docs = systems.documents()[0]
    indexed = np.diff(docs.tocsc().indptr) > 0
    return sum(
        not indexed[encoder.whole_words(text)].any() for text in systems.data.queries.values()
    )


RULE = inference_free.worded_pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--split", default="test")
    parser.add_argument("--lexical-weights", default="0,1", help="'model': its own lexical.json")
    parser.add_argument("--out", type=Path, default=Path("runs/query-pieces.json"))
    args = parser.parse_args()
    rows = []
    for name in args.datasets.split(","):
        data = load_dataset(DATA / name, args.split)
        systems = Systems(data, model=args.model, show_progress=False)
        missing = no_whole_word(systems, args.model)
        for weight in args.lexical_weights.split(","):
            variant = systems if weight == "model" else systems.lexical_variant(float(weight))
            before, after = ndcg(variant, rule=False), ndcg(variant, rule=True)
            rows.append(
                {"dataset": name, "split": args.split, "lexical_weight": weight,
                 "without_rule": before, "with_rule": after,
                 "delta_ndcg10": after["nDCG@10"] - before["nDCG@10"],
                 "queries": len(data.queries),
                 "queries_no_whole_word": missing}
            )  # fmt: skip
            row = rows[-1]
            print(
                f"{name} {args.split} lexical={weight}: nDCG@10 {before['nDCG@10']:.4f} -> "
                f"{after['nDCG@10']:.4f} ({row['delta_ndcg10']:+.4f}); "
                f"{row['queries_no_whole_word']}/{row['queries']} queries without a whole word",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
