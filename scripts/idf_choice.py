"""Which IDF should an inference-free model use on a collection it was not trained on:
its own idf.json (`--idf model`) or one fitted on the collection (`--idf corpus`)?

Measured on judged train queries only (SciFact's train split is the one here), with the
same documents and query texts and only the IDF table changed:

    .venv/bin/python scripts/idf_choice.py --model splade-tiny \
        --idf-from scifact,cranfield,cisi,vaswani,msmarco-dl19-subset,msmarco-dl19-dl20-pooled
    .venv/bin/python scripts/idf_choice.py --model models/m --idf-from model,scifact

Each `--idf-from` entry is a collection whose corpus the IDF is fitted on, or `model`
(the model folder's idf.json). The target's own name is what `--idf corpus` does.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from encoders import load_encoder
from eval.data.datasets import load_corpus, load_dataset
from eval.experiments.pipeline import report
from eval.experiments.systems import Systems

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--target", default="scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--idf-from", required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/idf-choice.json"))
    args = parser.parse_args()
    data = load_dataset(DATA / args.target, args.split)
    systems = Systems(data, model=args.model, show_progress=False)
    docs, _, seconds = systems.documents()
    encoder = load_encoder(args.model, "inference-free", idf_source="corpus")
    rows = []
    for source in args.idf_from.split(","):
        if source == "model":
            idf = load_encoder(args.model, "inference-free", idf_source="model").idf
            if idf is None:
                raise SystemExit(f"{args.model} has no idf.json")
        else:
            idf = encoder.fit_idf(load_corpus(DATA / source).texts)
        fitted = replace(systems, _results={}, _docs=(docs, idf, seconds))
        metrics = report(fitted.run("inference-free"), data).metrics
        rows.append({"idf_from": source, **metrics})
        print(f"{args.target} {args.split}, IDF of {source}: nDCG@10 {metrics['nDCG@10']:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"model": args.model, "target": args.target, "split": args.split, "rows": rows}
    args.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
