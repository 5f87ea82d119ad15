"""Ablation of the training recipe (issue 5): rows (a)-(f), each trained on SciFact's train
split only, then evaluated with eval.experiments.pipeline.evaluate on the test split of each
collection.

    (a)  splade-tiny as is             (c) (b) + FLOPS (plain, on idf * w)
    (a+) (a) + the lexical term,       (d) (b) + IDF-aware FLOPS
         untrained                     (e) (d) + heterogeneous ensemble distillation (KL)
    (b)  contrastive only (InfoNCE)    (f) full recipe: (e) + the lexical term
                                       (g) (f) + pseudo-queries from the corpora
                                       (h) (g) with generated pseudo-queries

Rows (b)-(e) have no lexical term, so they measure the paper's parts alone; (a+) and (f)
add it (encoders/lexical.py). The defaults (250 steps, lr 2e-5, documents at 256
tokens, 3 negatives when distilling) were chosen on 100 held-out *train* queries
(docs/training.md); the ablation then trains on every train query.

    .venv/bin/python scripts/ablate_training.py --threads 2 --out runs/ablation
    .venv/bin/python scripts/ablate_training.py --steps 3 --max-queries 32 \
        --datasets cisi --out /tmp/ablation-smoke          # a smoke test

Writes OUT/ablation.json and OUT/ablation.md (a markdown table: nDCG@10, average
postings per document and per query, training time). `--reuse` keeps rows already
trained with the same configuration. Query IDF for evaluation: a row that learns its
IDF uses its idf.json; the others use IDF fitted on the evaluated corpus, as row (a)
does, so rows differ only in their document encoder (`--eval-idf model` changes that).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from training import TrainConfig, train
from training.config import flatten, parse_set_fields

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEACHERS = {"dense:all-MiniLM-L6-v2": 1.0, "splade:splade-tiny": 1.0, "bm25": 0.5}
ROWS = {
    "a": "splade-tiny as is",
    "a+": "(a) + the lexical term (saturated tf of the document's word pieces), no training",
    "b": "contrastive only (InfoNCE, in-batch + BM25 hard negatives)",
    "c": "(b) + FLOPS on the matched vector idf*w, quadratic warm-up",
    "d": "(b) + IDF-aware FLOPS (FLOPS on w, IDF in the matching)",
    "e": "(d) + ensemble distillation (KL; MiniLM + splade-tiny + BM25, min-max, x30)",
    "f": "full recipe: (e) + the lexical term",
    "g": "(f) + pseudo-queries from every corpus in ../shared/data (domain adaptation)",
    "h": "(g) with queries written by SmolLM2-135M instead of sentences (doc2query)",
}
# Row (g) adapts to the collections it is evaluated on through their corpora only (no
# queries, no qrels): sentence pseudo-queries, graded by the same teachers.
ADAPT_CORPORA = ("scifact", "cisi", "cranfield", "vaswani", "msmarco-dl19-subset")


def _from(row: str, first: str) -> bool:
    """Whether `row` comes at or after `first` in the table (each row adds to the last)."""
    order = list(ROWS)
    return order.index(row) >= order.index(first)


def row_config(row: str, args: argparse.Namespace) -> dict:
    """The TrainConfig fields of a row: each row adds one idea to the one before."""
    base = dict(
        output=str(args.out / f"row-{row}"),
        train_data=str(args.data / "scifact"),
        student="inference-free",
        init_model="splade-tiny",
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=min(100, args.steps // 10),
        doc_max_length=args.doc_max_length,
        query_max_length=64,
        negatives=1,
        negatives_from="bm25",
        max_queries=args.max_queries,
        dev_queries=args.dev_queries,
        dev_mode=args.dev_mode,
        dev_doc_max_length=args.dev_doc_max_length,
        eval_every=args.eval_every,
        doc_regularizer="none",
        lexical_weight=0.0,  # rows (b)-(e) measure the paper's parts alone
        flops_d_lambda=args.flops_lambda,
        flops_d_warmup=max(1, args.steps // 3),
        seed=args.seed,
        threads=args.threads,
        show_progress=not args.quiet,
        overwrite=True,
    )
    if row == "c":
        base.update(doc_regularizer="flops")
    if _from(row, "d"):
        base.update(doc_regularizer="idf-flops")
    if _from(row, "e"):
        base.update(teachers=args.teachers, kl_weight=1.0, negatives=args.distill_negatives)
    if _from(row, "f"):
        base.update(
            lexical_weight=args.lexical_weight,
            lexical_b=args.lexical_b,
            lexical_stem_class_max=args.lexical_stem,
        )
    if _from(row, "g"):
        # About 2,000 pseudo-queries join the 809 labelled ones: twice the steps, so the
        # labelled queries are seen about as often as in (f).
        steps = 2 * args.steps
        base.update(
            pseudo_queries_from=[str(args.data / name) for name in ADAPT_CORPORA],
            pseudo_max_docs=args.pseudo_docs,
            pseudo_query_kind="generated" if row == "h" else args.pseudo_kind,
            steps=steps,
            warmup_steps=min(100, steps // 10),
            flops_d_warmup=max(1, steps // 3),
        )
    base.update(parse_set_fields(args.set))
    return base


def train_row(row: str, args: argparse.Namespace) -> tuple[str, dict]:
    """The row's model (name or folder) and its training record."""
    if row in ("a", "a+"):
        setting = {"lexical_weight": args.lexical_weight, "lexical_b": args.lexical_b}
        if args.lexical_stem:  # absent from the records of runs before stemming
            setting["lexical_stem_class_max"] = args.lexical_stem
        record = {"train_seconds": 0.0, "wall_seconds": 0.0, "steps": 0, "setting": setting}
        saved = args.out / f"row-{row}.json"
        if args.reuse and saved.is_file():
            old = json.loads(saved.read_text())
            if row == "a" or old.get("setting") == setting:
                return "splade-tiny", old
        return "splade-tiny", record
    fields = row_config(row, args)
    output = Path(fields["output"])
    done = output / "training_config.json"
    if args.reuse and done.is_file():
        saved = flatten(json.loads(done.read_text())["config"])
        # The saved config is complete; the row sets only some fields (the rest default).
        skip = ("show_progress", "overwrite", "output", "threads")  # moved folders, other CPUs
        asked = {k: v for k, v in fields.items() if k not in skip}
        if all(saved.get(k) == v for k, v in asked.items()):
            return str(output), json.loads((args.out / f"row-{row}.json").read_text())
    start = time.perf_counter()
    result = train(TrainConfig.from_dict(fields))
    record = {
        "train_seconds": round(result.seconds - result.dev_seconds, 1),
        "dev_seconds": round(result.dev_seconds, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "steps": result.steps,
        "learn_idf": fields.get("learn_idf", False),
    }
    (args.out / f"row-{row}.json").write_text(json.dumps(record))
    return str(output), record


def evaluate_row(row: str, model: str, learnt_idf: bool, dataset: str, args) -> dict:
    from eval.experiments.pipeline import evaluate

    # Trained rows carry their lexical term in lexical.json; the untrained rows set it,
    # (a+) with the avgdl row (f) gets: the mean length of its training corpus.
    lexical = {"a": 0.0, "a+": args.lexical_weight}.get(row)
    params = None
    if row == "a+":
        params = {
            "b": args.lexical_b,
            "avgdl": scifact_avgdl(args),
            "stem_class_max": args.lexical_stem,
        }
    report = evaluate(
        args.data / dataset, model=model, mode="inference-free", split="test",
        show_progress=not args.quiet, lexical_weight=lexical, lexical_params=params,
        idf_source="model" if learnt_idf else args.eval_idf,
    )  # fmt: skip
    return {
        "nDCG@10": report.metrics["nDCG@10"],
        "doc_postings": report.stats["postings_per_doc"],
        "query_postings": report.stats["postings_per_query"],
    }


def scifact_avgdl(args) -> float:
    from encoders.lexical import mean_length
    from encoders.loading import load_tokenizer
    from eval.data.datasets import load_corpus

    return mean_length(load_tokenizer("splade-tiny"), load_corpus(args.data / "scifact").texts)


def markdown(results: dict, args: argparse.Namespace) -> str:
    head = ["row", "recipe", "steps", "train s"]
    for d in args.datasets:
        head += [f"{d} nDCG@10", f"{d} doc postings", f"{d} query postings"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, entry in results.items():
        cells = [f"({row})", ROWS[row], str(entry["steps"]), f"{entry['train_seconds']:.0f}"]
        for d in args.datasets:
            m = entry["eval"].get(d)
            if m is None:  # not evaluated there (--datasets of an earlier run)
                cells += ["–"] * 3
                continue
            cells += [f"{m['nDCG@10']:.4f}", f"{m['doc_postings']:.1f}"]
            cells.append(f"{m['query_postings']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--doc-max-length", type=int, default=256)
    parser.add_argument("--flops-lambda", type=float, default=1e-3)
    parser.add_argument("--lexical-weight", type=float, default=1.0, help="rows (a+)-(f); 0: off")
    parser.add_argument("--lexical-b", type=float, default=0.4, help="rows (a+) and (f)")
    parser.add_argument(
        "--lexical-stem", type=int, default=4, help="rows (a+), (f)-(h): stem class max; 0: off"
    )
    parser.add_argument("--distill-negatives", type=int, default=3)
    parser.add_argument(
        "--teachers",
        type=json.loads,
        default=TEACHERS,
        help="rows (e)-(h), a JSON object of spec -> weight (default: %(default)s)",
    )
    parser.add_argument("--pseudo-docs", type=int, default=400, help="rows (g), (h): per corpus")
    parser.add_argument(
        "--pseudo-kind", default="sentence", help="row (g): sentence, ict, ... (h: generated)"
    )
    parser.add_argument("--max-queries", type=int, default=0, help="0: every train query")
    parser.add_argument(
        "--dev-queries", type=int, default=0, help="held out of train (0: train on all)"
    )
    parser.add_argument("--eval-every", type=int, default=0, help="dev nDCG@10 every N steps")
    parser.add_argument("--dev-mode", choices=["corpus", "pool"], default="corpus")
    parser.add_argument(
        "--dev-doc-max-length",
        type=int,
        default=256,
        help="dev documents' length: 256, as the test evaluation encodes (encoders' default)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="rows (b)-(h): any TrainConfig field (VALUE as JSON), as spire train --set",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--rows", default="a,a+,b,c,d,e,f")
    parser.add_argument("--datasets", default="scifact,cranfield,cisi")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--eval-idf", choices=["corpus", "model"], default="corpus")
    parser.add_argument("--reuse", action="store_true", help="keep rows already trained")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    args.datasets = [d for d in args.datasets.split(",") if d]  # "": train only (dev probes)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for row in args.rows.split(","):
        if row not in ROWS:
            parser.error(f"unknown row {row!r}; rows are {', '.join(ROWS)}")
        model, record = train_row(row, args)
        learnt = bool(record.get("learn_idf"))
        done = record.get("eval", {}) if args.reuse else {}
        record["eval"] = dict(done)  # earlier runs' datasets are kept
        for d in args.datasets:
            if d not in done:
                record["eval"][d] = evaluate_row(row, model, learnt, d, args)
        results[row] = record
        (args.out / f"row-{row}.json").write_text(json.dumps(record))  # for --reuse
        (args.out / "ablation.json").write_text(json.dumps(results, indent=1))
        print(f"row ({row}) done: {json.dumps(record)}", flush=True)
    table = markdown(results, args)
    (args.out / "ablation.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
