"""`spire index`, `spire search` and `spire export`: build, query and export an index.

Registered on the main app by spire/cli/__init__.py."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from spire.core.arguments import check_query
from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError

from .distributed import (
    GpusOpt,
    IndexEngineOpt,
    NumWorkersOpt,
    RayAddressOpt,
    ShardDocsOpt,
    build_with_ray,
)
from .milvus import CollectionOpt, UriOpt, export_to_milvus, need_uri, search_milvus
from .options import (
    IDF_DEFAULT,
    DocTopKOpt,
    DtypeOpt,
    Head,
    HeadOpt,
    IdfOpt,
    ImpactDtype,
    JsonOpt,
    LexicalStemOpt,
    LexicalWeightOpt,
    Mode,
    ModelOpt,
    ModeOpt,
    Precision,
    PrecisionOpt,
    choices,
    encoder_options,
)
from .output import err_console, print_json, print_table
from .scale import ReorderOpt, streamed_build

SourceArg = Annotated[str, typer.Argument(help="BEIR folder, corpus jsonl or ir_datasets id.")]
IndexOutOpt = Annotated[Path, typer.Option("--out", "-o", help="Index folder to write.")]
CompressOpt = Annotated[
    bool,
    typer.Option(
        "--compress/--no-compress",
        help="Bit-pack the doc ids (~2 bytes a posting instead of ~5; same results).",
    ),
]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace an existing index folder.")]

SearchEngine = choices("SearchEngine", ("spire", "milvus"))


def index(
    source: SourceArg,
    out: IndexOutOpt,
    model: ModelOpt = "splade-tiny",
    mode: ModeOpt = Mode.siamese,
    impact_dtype: DtypeOpt = ImpactDtype.uint8,
    doc_max_length: int = 256,
    query_max_length: int = 64,
    head: HeadOpt = Head.auto,
    precision: PrecisionOpt = Precision.fp32,
    doc_top_k: DocTopKOpt = None,
    lexical_weight: LexicalWeightOpt = None,
    lexical_stem: LexicalStemOpt = None,
    idf: IdfOpt = IDF_DEFAULT,
    compress: CompressOpt = True,
    overwrite: OverwriteOpt = False,
    engine: IndexEngineOpt = "local",
    ray_address: RayAddressOpt = "local",
    num_workers: NumWorkersOpt = 2,
    gpus_per_worker: GpusOpt = 0.0,
    shard_docs: ShardDocsOpt = 10_000,
    reorder: ReorderOpt = "none",
    json_out: JsonOpt = False,
) -> None:
    """Encode a corpus (locally: streamed, resumable) or on Ray, and write an index folder."""
    ensure_replaceable(out, overwrite)  # before torch, the corpus and the model load
    import time

    from encoders import load_encoder
    from eval.data.datasets import load_corpus
    from indexing.streaming import save_streamed
    from retrieval.warm import warm_folder

    corpus = load_corpus(source) if engine == "ray" else None  # local: streamed
    options = dict(
        doc_max_length=doc_max_length, query_max_length=query_max_length, idf_source=idf.value,
        **encoder_options(head, precision, doc_top_k, lexical_weight, lexical_stem),
    )  # fmt: skip
    encoder = load_encoder(model, mode.value, **options)
    start = time.perf_counter()
    compression = "bitpack" if compress else "none"
    ray_run = {}
    if engine == "ray":
        built, ray_run = build_with_ray(
            corpus, encoder, model, out, options, impact_dtype=impact_dtype.value,
            compression=compression, overwrite=overwrite, show_progress=not json_out,
            ray_address=ray_address, num_workers=num_workers, gpus_per_worker=gpus_per_worker,
            shard_docs=shard_docs,
        )  # fmt: skip
    else:
        built, ray_run = streamed_build(source, out, encoder, impact_dtype.value, compression,
                                        shard_docs, reorder)  # fmt: skip
        save_streamed(built, out, overwrite)
    seconds = time.perf_counter() - start
    warm_folder(out)  # the search kernels compile now, not in the first search
    summary = {**_index_summary(out, built, corpus, encoder, seconds, mode), **ray_run}
    if json_out:
        print_json(summary)
    else:
        print_table(f"index {out}", ["field", "value"], list(summary.items()))


def _index_summary(out: Path, built, corpus, encoder, seconds: float, mode: Mode) -> dict:
    """What `spire index` reports: sizes in memory and on disk, and the speed."""
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "index": str(out),
        "docs": built.n_docs,
        "empty_docs": corpus.n_empty if corpus else 0,  # streamed: its own count follows
        "truncated_docs": encoder.stats.truncated,
        "postings": built.n_postings,
        "postings_per_doc": built.postings_per_doc(),
        "bytes": built.nbytes(),
        "disk_bytes": disk,
        "disk_bytes_per_posting": disk / max(built.n_postings, 1),
        "compression": built.compression,
        "impact_dtype": built.impact_dtype,
        **({"idf": encoder.idf_from} if mode == Mode.inference_free else {}),
        "seconds": seconds,
        "docs_per_second": built.n_docs / max(seconds, 1e-9),
    }


def search(
    index_dir: Annotated[Path, typer.Argument(help="Index folder written by `spire index`.")],
    query: Annotated[str, typer.Argument(help="Query text.")],
    k: Annotated[int, typer.Option("-k", min=1, help="Number of hits.")] = 10,
    corpus: Annotated[str | None, typer.Option(help="Corpus to show hit texts from.")] = None,
    engine: Annotated[
        SearchEngine,
        typer.Option(help="milvus: the collection exported from this index (--uri)."),
    ] = "spire",
    uri: UriOpt = None,
    collection: CollectionOpt = "spire",
    json_out: JsonOpt = False,
) -> None:
    """Search an index (or the Milvus collection exported from it) for one query."""
    from eval.data.datasets import load_corpus
    from retrieval import open_index

    check_query(query)  # before the index or the encoder is loaded
    if engine == "milvus":
        hits = search_milvus(index_dir, need_uri(uri, "--engine"), collection, query, k)
        note = None
    else:
        searcher = open_index(index_dir)  # plain or segmented folders
        hits = searcher.search(query, k)
        note = _word_note(searcher, query)
    texts = {}
    if corpus is not None:
        with warnings.catch_warnings():  # empty documents matter when indexing, not here
            warnings.simplefilter("ignore")
            loaded = load_corpus(corpus)
        texts = dict(zip(loaded.ids, loaded.texts, strict=True))
    rows = [
        {
            "rank": r,
            "docid": h.docid,
            "score": h.score,
            **({"text": texts.get(h.docid, "")[:100]} if texts else {}),
        }
        for r, h in enumerate(hits, start=1)
    ]
    if json_out:
        print_json({"query": query, "hits": rows, **({"note": note} if note else {})})
    else:
        print_table(
            f"{query!r}: {len(hits)} hit(s)",
            list(rows[0]) if rows else ["rank"],
            [list(r.values()) for r in rows],
        )
        if note:
            err_console.print(f"note: {note}")


def _word_note(searcher, query: str) -> str | None:
    """Why an inference-free query's hits may surprise a BM25 user: it has nothing to
    search for, or none of its words is one indexed piece (docs/encoding.md#query-pieces)."""
    import numpy as np

    snap = searcher.snapshot()
    encoder = searcher.encoder_for(snap)
    if encoder.mode != "inference-free":
        return None
    if encoder.encode_queries([query]).nnz == 0:
        return "the query has no word to search for (no letter or digit)"
    words = encoder.whole_words(query)
    if any(np.diff(s.segment.index.indptr)[words].any() for s in snap.segments):
        return None
    return "no word of the query is in the index whole; its hits match word pieces only"


def export(
    index_dir: Annotated[Path, typer.Argument(help="Index folder written by `spire index`.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to write.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", "--to", help="lucene-jsonvector, opensearch or milvus.")
    ] = "lucene-jsonvector",
    uri: UriOpt = None,
    collection: CollectionOpt = "spire",
    corpus: Annotated[
        str | None, typer.Option(help="milvus: also store each document's text from here.")
    ] = None,
    algorithm: Annotated[
        str, typer.Option(help="milvus: inverted_index_algo (DAAT_MAXSCORE, DAAT_WAND).")
    ] = "DAAT_MAXSCORE",
    field: Annotated[str, typer.Option(help="OpenSearch rank_features field.")] = (
        "sparse_embedding"
    ),
    index_name: Annotated[str, typer.Option(help="OpenSearch index name.")] = "spire",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Export document vectors for Anserini/Lucene or OpenSearch (with idf.json), or into
    a Milvus collection (--to milvus --uri URI)."""
    from encoders.loading import load_tokenizer
    from indexing.export import export_index
    from indexing.incremental import SegmentStore, as_index

    if fmt == "milvus":
        summary = export_to_milvus(
            index_dir, need_uri(uri, "--to"), collection, overwrite, corpus, algorithm,
            show_progress=not json_out,
        )  # fmt: skip
        if json_out:
            print_json(summary)
        else:
            print_table(f"export {index_dir}", ["field", "value"], list(summary.items()))
        return
    if out is None:
        raise SpireError(f"--format {fmt} needs --out")
    ensure_replaceable(out, overwrite)
    index = as_index(SegmentStore(index_dir).snapshot())  # plain or segmented folders
    written = export_index(
        index,
        load_tokenizer(index.encoder.name),
        out,
        fmt,
        overwrite=overwrite,
        field=field,
        index_name=index_name,
    )
    files = sorted(p.name for p in written.iterdir())
    if json_out:
        print_json({"out": str(written), "format": fmt, "files": files, "docs": index.n_docs})
    else:
        err_console.print(f"{fmt}: {index.n_docs} docs written to {written} ({', '.join(files)})")
