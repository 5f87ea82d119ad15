"""Indexing at scale: the streamed, resumable build behind `spire index`, and `spire
reorder`. Registered on the main app by spire/cli/__init__.py."""

from __future__ import annotations

import resource
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer

from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError

from .options import JsonOpt
from .output import print_json, print_table

REORDERS = ("none", "bp")
ReorderOpt = Annotated[
    str,
    typer.Option(
        "--reorder",
        help="Renumber documents after indexing: bp (recursive graph bisection: similar "
        "documents get nearby numbers, for block-max search) or none.",
    ),
]


def streamed_build(source: str, out: Path, encoder, impact_dtype: str, compression: str,
                   shard_docs: int, reorder: str):  # fmt: skip
    """(index, summary fields) of a local corpus streamed through resumable shards; an
    ir_datasets id is loaded whole. The caller saves the index."""
    from eval.data.datasets import corpus_file, iter_corpus, load_corpus
    from indexing import build_index
    from indexing.streaming import stream_index

    if reorder not in REORDERS:
        raise SpireError(f"--reorder: {reorder!r} is not one of {', '.join(REORDERS)}")
    path = corpus_file(source)
    if path is None:
        corpus = load_corpus(source)
        built = build_index(corpus.ids, corpus.texts, encoder, impact_dtype,
                            compression=compression)  # fmt: skip
        fields = {"empty_docs": corpus.n_empty, "truncated_docs": encoder.stats.truncated}
    else:
        stat = path.stat()
        key = {"path": str(path.resolve()), "bytes": stat.st_size, "mtime": stat.st_mtime}
        # One reading pass first: a bad line, a repeated id or a truncated gzip is reported
        # before any encoding (and the progress bar gets its total).
        total = sum(1 for _ in iter_corpus(path))
        records = ((doc_id, text) for _, doc_id, text in iter_corpus(path))
        built, stats = stream_index(
            records, out, encoder, key, total=total, impact_dtype=impact_dtype,
            compression=compression, shard_docs=shard_docs,
        )  # fmt: skip
        if stats.empty:
            warnings.warn(f"{path}: {stats.empty} document(s) have no text; indexed empty",
                          stacklevel=2)  # fmt: skip
        fields = {
            "empty_docs": stats.empty,
            "truncated_docs": stats.truncated,
            "resumed_docs": stats.resumed_docs,
            "shards": stats.shards,
            "encode_seconds": stats.encode_seconds,
            "assemble_seconds": stats.assemble_seconds,
        }
    if reorder == "bp":
        built, report = _reorder(built)
        fields |= report
    return built, fields


def _reorder(index):
    from indexing.reorder import reorder as bp

    reordered, report = bp(index, show_progress=True)
    return reordered, {
        "reorder": "bp",
        "reorder_seconds": report.seconds,
        "log2_gap_before": report.log_gap_before,
        "log2_gap_after": report.log_gap_after,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reorder(
    index_dir: Annotated[Path, typer.Argument(help="Index folder written by `spire index`.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: replace INDEX).")
    ] = None,
    iterations: Annotated[int, typer.Option(min=1, help="Swap rounds per split.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Renumber an index's documents by recursive graph bisection (same scores; ties may
    come in another order)."""
    from indexing import InvertedIndex
    from indexing.manifest import Manifest
    from indexing.reorder import reorder as bp
    from retrieval.warm import warm_folder

    target = out or index_dir
    if out is not None:
        ensure_replaceable(out, False)
    if (index_dir / "segments").is_dir() or not (index_dir / "manifest.json").is_file():
        raise SpireError(
            f"{index_dir}: not a plain index folder (a segmented index, after spire add, "
            "is reordered once merged: spire merge)"
        )
    Manifest.read(index_dir)  # a clear error for a damaged or foreign folder
    start = time.perf_counter()
    index = InvertedIndex.load(index_dir)
    reordered, report = bp(index, iterations=iterations, show_progress=not json_out)
    reordered.save(target, overwrite=out is None)
    warm_folder(target)
    summary = {
        "index": str(target),
        "docs": reordered.n_docs,
        "postings": reordered.n_postings,
        "reorder_seconds": report.seconds,
        "total_seconds": time.perf_counter() - start,
        "depth": report.depth,
        "log2_gap_before": report.log_gap_before,
        "log2_gap_after": report.log_gap_after,
        "peak_rss_mb": peak_rss_mb(),
    }
    if json_out:
        print_json(summary)
    else:
        print_table(f"reorder {target}", ["field", "value"], list(summary.items()))
