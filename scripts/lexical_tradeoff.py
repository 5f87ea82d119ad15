"""nDCG@10 against the weight of the lexical term (encoders/lexical.py), per collection
and model: what the term buys on SciFact and what it costs elsewhere.

Each model's learnt document vectors are encoded once per collection; every weight
reuses them (eval.experiments.systems.Systems.lexical_variant), so a sweep costs one encoding per
(model, collection). Query IDF is fitted on the evaluated corpus, as in
scripts/ablate_training.py. The lexical k1, b and avgdl are the model folder's
(lexical.json), else k1 0.9, b 0.4 and the SciFact corpus's mean length, as row (a+).

    .venv/bin/python scripts/lexical_tradeoff.py \\
        --models splade-tiny,runs/ablation/row-f --out runs/lexical-tradeoff

`scifact:train` is SciFact's *train* split: the dev yardstick the default weight was
chosen on (for splade-tiny it is unseen; a model trained on it has seen it). The test
columns are measurements, not a tuning target. Writes OUT/tradeoff.json, OUT/tradeoff.md
and OUT/tradeoff.png.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ablate_training import DATA, model_without_idf, scifact_avgdl

DATASETS = "scifact:train,scifact,cranfield,cisi,vaswani,msmarco-dl19-subset"


def lexical_params(model: str, args) -> dict:
    from encoders.lexical import load_lexical

    saved = load_lexical(model) if Path(model).is_dir() else None
    if saved is not None and saved.enabled:
        return {"k1": saved.k1, "b": saved.b, "avgdl": saved.avgdl}
    return {"k1": 0.9, "b": args.lexical_b, "avgdl": scifact_avgdl(args)}


def sweep(model: str, dataset: str, weights: list[float], args) -> dict[float, float]:
    """nDCG@10 at each lexical weight, from one encoding of the collection."""
    from eval.data.datasets import load_dataset
    from eval.experiments.pipeline import report
    from eval.experiments.systems import Systems

    name, _, split = dataset.partition(":")
    data = load_dataset(args.data / name, split or "test")
    params = lexical_params(model, args)
    with tempfile.TemporaryDirectory(prefix="spire-tradeoff-") as tmp:
        if Path(model).is_dir():
            model = model_without_idf(Path(model), Path(tmp))
        base = Systems(data, model=model, show_progress=not args.quiet)
        out = {}
        for w in weights:
            systems = base.lexical_variant(w, params if w > 0 else None)
            out[w] = report(systems.run("inference-free"), data).metrics["nDCG@10"]
    return out


def markdown(results: dict, weights: list[float]) -> str:
    head = ["model", "collection", *(f"w={w:g}" for w in weights)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, per_dataset in results.items():
        for dataset, scores in per_dataset.items():
            cells = [Path(model).name, dataset, *(f"{scores[str(w)]:.4f}" for w in weights)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict, weights: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(next(iter(results.values())))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets), 3.2), squeeze=False)
    axes = axes[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        for model, per_dataset in results.items():
            scores = per_dataset[dataset]
            ax.plot(weights, [scores[str(w)] for w in weights], marker="o", label=Path(model).name)
        first = next(iter(results.values()))[dataset][str(weights[0])]
        ax.axhline(first, color="grey", linestyle=":", linewidth=1)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("lexical weight")
    axes[0].set_ylabel("nDCG@10")
    axes[0].legend(fontsize=7)
    fig.suptitle("The lexical term: nDCG@10 by weight (dotted: first model, no term)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="splade-tiny,runs/ablation/row-f")
    parser.add_argument("--datasets", default=DATASETS, help="NAME or NAME:SPLIT, comma-separated")
    parser.add_argument("--weights", default="0,0.25,0.5,1,2")
    parser.add_argument("--lexical-b", type=float, default=0.4, help="models without lexical.json")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/lexical-tradeoff"))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for model in args.models.split(","):
        results[model] = {}
        for dataset in args.datasets.split(","):
            scores = sweep(model, dataset, weights, args)
            results[model][dataset] = {str(w): s for w, s in scores.items()}
            shown = " ".join(f"w={w:g}: {s:.4f}" for w, s in scores.items())
            print(f"{Path(model).name} {dataset}: {shown}", flush=True)
            (args.out / "tradeoff.json").write_text(json.dumps(results, indent=1))
    (args.out / "tradeoff.md").write_text(markdown(results, weights))
    plot(results, weights, args.out / "tradeoff.png")
    print(markdown(results, weights))


if __name__ == "__main__":
    main()
