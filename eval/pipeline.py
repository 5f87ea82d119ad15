"""evaluate(): corpus -> encoder -> index -> searcher -> run -> metrics, with timings."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from encoders import load_encoder
from indexing import InvertedIndex, build_index
from retrieval import Searcher

from .datasets import Dataset, load_dataset
from .metrics import DEFAULT_MEASURES, compute_metrics
from .run import Run


@dataclass
class Report:
    dataset: str
    split: str
    model: str
    mode: str
    n_docs: int
    n_queries: int
    metrics: dict[str, float]
    index_bytes: int
    impact_dtype: str
    postings_per_doc: float
    postings_per_query: float
    encode_seconds: float
    docs_per_second: float
    search_ms_per_query: float
    identical_ids_dropped: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(
    dataset: str | Path | Dataset,
    model: str = "splade-tiny",
    mode: str = "siamese",
    split: str = "test",
    *,
    k: int = 1000,
    ignore_identical_ids: bool | None = None,
    impact_dtype: str = "uint8",
    save_index: str | Path | None = None,
    overwrite: bool = False,
    run_file: str | Path | None = None,
    show_progress: bool = True,
    measures=DEFAULT_MEASURES,
    **encoder_options,
) -> Report:
    """Index a dataset's corpus with `model`, search its judged queries, score the run.

    `ignore_identical_ids=None` follows BEIR (drop a hit whose id is the query's id)
    unless the dataset's query and doc ids are separate numberings.
    """
    encoder = load_encoder(model, mode, **encoder_options)  # fail fast on an unknown model
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, split)
    start = time.perf_counter()
    index = build_index(
        data.corpus.ids, data.corpus.texts, encoder, impact_dtype, show_progress=show_progress
    )
    encode_seconds = time.perf_counter() - start
    if save_index is not None:
        index.save(save_index, overwrite=overwrite)
        index = InvertedIndex.load(save_index)
    report = evaluate_index(
        index,
        data,
        encoder,
        k=k,
        ignore_identical_ids=ignore_identical_ids,
        run_file=run_file,
        show_progress=show_progress,
        measures=measures,
    )
    report.encode_seconds = encode_seconds
    report.docs_per_second = index.n_docs / max(encode_seconds, 1e-9)
    return report


def evaluate_index(
    index: InvertedIndex,
    data: Dataset,
    encoder=None,
    *,
    k: int = 1000,
    ignore_identical_ids: bool | None = None,
    run_file: str | Path | None = None,
    show_progress: bool = False,
    measures=DEFAULT_MEASURES,
) -> Report:
    """Search a built index with the dataset's judged queries and score the run."""
    searcher = Searcher(index, encoder)
    run, search_seconds, query_postings = _search(searcher, data, k, show_progress)
    drop = data.shares_id_space if ignore_identical_ids is None else ignore_identical_ids
    if drop:
        run = run.without_identical_ids()
    info = index.encoder
    if run_file is not None:
        run.save_trec(run_file, tag=f"spire-{Path(info.name).name}-{info.mode}")
    n_queries = len(data.queries)
    return Report(
        dataset=data.name,
        split=data.split,
        model=info.name,
        mode=info.mode,
        n_docs=index.n_docs,
        n_queries=n_queries,
        metrics=compute_metrics(data.qrels, run, measures),
        index_bytes=index.nbytes(),
        impact_dtype=index.impact_dtype,
        postings_per_doc=index.postings_per_doc(),
        postings_per_query=query_postings,
        encode_seconds=0.0,
        docs_per_second=0.0,
        search_ms_per_query=1000 * search_seconds / max(n_queries, 1),
        identical_ids_dropped=drop,
        notes=list(data.notes),
    )


def _search(
    searcher: Searcher, data: Dataset, k: int, show_progress: bool
) -> tuple[Run, float, float]:
    """Run every judged query; the time covers query encoding and scoring."""
    start = time.perf_counter()
    vectors = searcher.encoder.encode_queries(list(data.queries.values()))
    hits = searcher.search_vectors(vectors, k, show_progress=show_progress)
    seconds = time.perf_counter() - start
    run = Run.from_hits(dict(zip(data.queries.keys(), hits, strict=True)))
    return run, seconds, vectors.nnz / max(vectors.shape[0], 1)
