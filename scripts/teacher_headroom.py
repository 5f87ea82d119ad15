"""How much better than the student do its teachers rank? Measured on a train split only.

The untrained student (init model + IDF + the lexical term, as `spire train` builds it)
retrieves the top `--depth` of the whole corpus for each labelled training query; each
teacher re-ranks that list, and so does every weighted mix of min-max-normalised
teachers on a small grid. nDCG@10 of each ordering says whether distillation has
anything to teach (a mix above the student's own ordering) and which teacher weights to
use, without looking at a test split.

    .venv/bin/python scripts/teacher_headroom.py --data ../shared/data/scifact \
        --out runs/teacher-headroom

Teacher scores go through the training cache ($SPIRE_HOME/teacher-scores), so a second
run, and a training run over the same pairs, reuse them. Writes OUT/headroom.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from encoders.registry import spire_home
from eval.metrics import compute_metrics
from training import TrainConfig
from training.data import load_beir_train
from training.dataset import build_dev_set
from training.dev_eval import CORPUS_DEPTH, dev_run
from training.teachers import cached_scores, load_teacher, normalise

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEACHERS = ("dense:all-MiniLM-L6-v2", "splade:splade-tiny", "bm25", "student")
GRID = (0.0, 0.5, 1.0, 2.0)


def candidates(config: TrainConfig, data) -> tuple[list[str], list[list[str]], object]:
    """Query ids, the untrained student's top `depth` document ids for each (cut to the
    shortest list, so every query has as many), and the "student" teacher. The ranking is
    the dev evaluation's full-corpus search (training/dev_eval.py)."""
    teacher = load_teacher("student", data.doc_texts, config)
    every_query = build_dev_set(data, {})
    student = config.student
    run = dev_run(teacher.student, every_query, student.query_max_length, student.doc_max_length)
    qids = sorted(run)
    width = min(config.data.negatives_depth, *(len(run[q]) for q in qids))
    return qids, [list(run[q])[:width] for q in qids], teacher


def teacher_scores(specs, data, qids, ranked, student_teacher) -> dict[str, np.ndarray]:
    """spec -> (queries, width) scores of the ranked lists, min-max normalised per query."""
    row = {d: i for i, d in enumerate(data.doc_ids)}
    pairs = np.array([[i, row[d]] for i, docs in enumerate(ranked) for d in docs])
    texts = [data.queries[q] for q in qids]
    scores = {}
    for spec in specs:
        teacher = student_teacher if spec == "student" else load_teacher(spec, data.doc_texts)
        teacher.show_progress = True
        flat = cached_scores(teacher, texts, data.doc_texts, pairs, spire_home() / "teacher-scores")
        scores[spec] = normalise(flat.reshape(len(qids), -1))
    return scores


def grid(scores: dict[str, np.ndarray], qrels, qids, ranked) -> list[dict]:
    """nDCG@10 of every weighted mix on GRID, best first."""

    def ndcg(mixed: np.ndarray) -> float:
        run = {
            q: dict(zip(ranked[i], map(float, mixed[i]), strict=True)) for i, q in enumerate(qids)
        }
        return compute_metrics(qrels, run, ["nDCG@10"])["nDCG@10"]

    results = []
    for weights in itertools.product(GRID, repeat=len(scores)):
        if sum(weights):
            mixed = sum(w * s for w, s in zip(weights, scores.values(), strict=True))
            results.append(
                {"weights": dict(zip(scores, weights, strict=True)), "nDCG@10": ndcg(mixed)}
            )
    return sorted(results, key=lambda r: -r["nDCG@10"])


def alone(results: list[dict], spec: str) -> float:
    """nDCG@10 of `spec`'s order by itself."""
    weights = (r for r in results if sum(r["weights"].values()) == r["weights"][spec] > 0)
    return next(weights)["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--teachers", default=",".join(TEACHERS))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/teacher-headroom"))
    args = parser.parse_args()
    if not 1 <= args.depth <= CORPUS_DEPTH:
        parser.error(f"--depth must be between 1 and {CORPUS_DEPTH} (the dev search's depth)")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_beir_train(args.data, args.split)
    config = TrainConfig.from_dict(
        {
            "output": str(args.out / "unused"),
            "train_data": str(args.data),
            "negatives_depth": args.depth,
        }
    )
    qids, ranked, student_teacher = candidates(config, data)
    specs = args.teachers.split(",")
    scores = teacher_scores(specs, data, qids, ranked, student_teacher)
    results = grid(scores, data.qrels, qids, ranked)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "headroom.json").write_text(json.dumps(results, indent=1))
    print(f"{len(qids)} {args.split} queries, the untrained student's top {len(ranked[0])}:")
    for spec in specs:
        print(f"  {spec:28s} alone  nDCG@10 {alone(results, spec):.4f}")
    for r in results[:10]:
        print(f"  {r['nDCG@10']:.4f}  " + "  ".join(f"{k}={v:g}" for k, v in r["weights"].items()))


if __name__ == "__main__":
    main()
