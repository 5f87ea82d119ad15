"""CLI commands for serving and incremental indexing: serve, add, delete, merge, reidf,
index-dense.

Registered on the main `spire` app by spire/cli/__init__.py; each raises SpireError on bad input
(exit 2, one line), like every other command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spire.core.errors import SpireError
from spire.core.ids import as_id

from .milvus import CollectionOpt, UriOpt, need_uri
from .options import JsonOpt, choices
from .output import err_console, print_json, print_table

serve_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)

ServeBackend = choices("ServeBackend", ("index", "milvus"))
IndexArg = Annotated[Path, typer.Argument(help="Index folder (plain or segmented).")]


def _report(title: str, summary: dict, json_out: bool) -> None:
    if json_out:
        print_json(summary)
    else:
        print_table(title, ["field", "value"], list(summary.items()))


def _store(index_dir: Path):
    from indexing.incremental import SegmentStore

    if not index_dir.is_dir():
        raise SpireError(f"{index_dir}: no such index folder")
    return SegmentStore(index_dir)


# `spire serve`'s options, named once so that its signature reads as a list of them.
HostOpt = Annotated[str, typer.Option(help="Address to bind; loopback by default.")]
PortOpt = Annotated[int, typer.Option(min=1, max=65535)]
WorkersOpt = Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")]
ApiKeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        help="Environment variable holding the API key every endpoint but /health then requires."
    ),
]
ReadOnlyOpt = Annotated[bool, typer.Option(help="Refuse POST/DELETE /documents.")]
LogLevelOpt = Annotated[str, typer.Option(help="uvicorn log level.")]
DenseOpt = Annotated[
    Path | None,
    typer.Option(
        help="Dense index built by `spire index-dense` for this index: enables fusion in /search."
    ),
]
QrelsOpt = Annotated[
    Path | None,
    typer.Option(
        help="BEIR folder the index was built from: texts, queries and qrels "
        "for the page at /ui (snippets, evaluation)."
    ),
]
SplitOpt = Annotated[str, typer.Option(help="qrels split of --qrels.")]
JudgmentsOpt = Annotated[
    Path | None, typer.Option(help="TREC qrels file the page's grades (0-3) are appended to.")
]
CompareOpt = Annotated[
    str | None,
    typer.Option(
        help="Second system for the page's compare and evaluation views: "
        "an index folder, fusion[=METHOD] (needs --dense) or query-terms=N."
    ),
]
RunsOpt = Annotated[
    str | None,
    typer.Option(
        help="One or two TREC run files (comma-separated) that the compare and "
        "evaluation views show instead of live systems."
    ),
]
BackendOpt = Annotated[
    ServeBackend,
    typer.Option(
        help="What answers searches: the index folder itself, or a Milvus collection "
        "exported from it (spire export --to milvus; read-only, one worker)."
    ),
]


@serve_app.command()
def serve(
    index_dir: IndexArg,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8080,
    workers: WorkersOpt = 1,
    api_key_env: ApiKeyEnvOpt = None,
    read_only: ReadOnlyOpt = False,
    log_level: LogLevelOpt = "warning",
    dense: DenseOpt = None,
    qrels: QrelsOpt = None,
    split: SplitOpt = "test",
    judgments: JudgmentsOpt = None,
    compare: CompareOpt = None,
    runs: RunsOpt = None,
    backend: BackendOpt = "index",
    uri: UriOpt = None,
    collection: CollectionOpt = "spire",
) -> None:
    """Serve an index over HTTP (search, encode, add and delete documents, stats), with a
    search, compare and evaluation page at /ui."""
    if not index_dir.is_dir():
        raise SpireError(f"{index_dir}: no such index folder")
    if dense is not None and not dense.is_dir():
        raise SpireError(f"--dense {dense}: no such dense index folder")
    if qrels is not None and not qrels.is_dir():
        raise SpireError(f"--qrels {qrels}: no such dataset folder (a BEIR folder)")
    from serving.serve import serve as run_server  # after the cheap checks: it loads numba
    from serving.ui import UiOptions

    run_files = tuple(Path(p.strip()) for p in runs.split(",") if p.strip()) if runs else ()
    ui = UiOptions(qrels=qrels, split=split, judgments=judgments, compare=compare, runs=run_files)
    remote = None
    if backend == "milvus":
        from serving.milvus_backend import MilvusBackend

        remote = MilvusBackend(index_dir, need_uri(uri, "--backend"), collection)
        read_only = True
    message = f"serving {index_dir} on http://{host}:{port} (OpenAPI at /docs, page at /ui)"
    run_server(
        index_dir, host, port, workers, api_key_env, read_only, log_level, dense,
        on_ready=lambda: err_console.print(message, soft_wrap=True, markup=False), ui=ui,
        backend=remote,
    )  # fmt: skip


@serve_app.command("index-dense")
def index_dense(
    index_dir: IndexArg,
    corpus: Annotated[
        str, typer.Argument(help="The texts the index was built from: jsonl or BEIR folder.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dense index folder to write.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Dense bi-encoder (registry name, folder, id).")
    ] = "all-MiniLM-L6-v2",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Embed an index's live documents into a dense index for `spire serve --dense`.

    It covers the documents live now; documents added, replaced or merged later are
    fused on their sparse score alone until this is run again."""
    import time
    import warnings

    from eval.data.datasets import load_corpus
    from serving.dense_side import build_dense_side

    _store(index_dir)  # a clear error for a missing or broken index folder
    with warnings.catch_warnings():  # empty documents: the sparse index already has them
        warnings.simplefilter("ignore")
        loaded = load_corpus(corpus)
    start = time.perf_counter()
    summary = build_dense_side(
        index_dir, loaded.ids, loaded.texts, out, model,
        overwrite=overwrite, show_progress=not json_out,
    )  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - start, 3)
    _report(f"index-dense {index_dir}", summary, json_out)


@serve_app.command()
def add(
    index_dir: IndexArg,
    docs: Annotated[str, typer.Argument(help="Documents: a jsonl file or a BEIR folder.")],
    json_out: JsonOpt = False,
) -> None:
    """Encode documents and add them as one new segment (same id: replaced)."""
    import time

    from eval.data.datasets import load_corpus
    from retrieval import open_index

    store = _store(index_dir)
    corpus = load_corpus(docs)
    start = time.perf_counter()
    encoder = open_index(store).encoder
    vectors = encoder.encode_documents(corpus.texts, show_progress=not json_out)
    result = store.add(corpus.ids, vectors)
    replaced = result.results[0].count
    snap = store.snapshot()
    summary = {
        "index": str(index_dir),
        "added": len(corpus.ids) - replaced,
        "replaced": replaced,
        "segment": result.segment,
        "generation": result.generation,
        "docs": snap.n_docs,
        "segments": len(snap.segments),
        "seconds": round(time.perf_counter() - start, 3),
    }
    _report(f"add {docs}", summary, json_out)


def read_ids(path: Path) -> list[str]:
    """One document id per line (stripped, and checked by spire.core.ids, naming the line);
    blank lines are skipped."""
    from eval.data.jsonl import read_lines

    return [as_id(line.strip(), f"{path}:{lineno}") for lineno, line in read_lines(path)]


@serve_app.command()
def delete(
    index_dir: IndexArg,
    ids_file: Annotated[Path, typer.Argument(help="Text file with one document id per line.")],
    json_out: JsonOpt = False,
) -> None:
    """Delete documents by id (a tombstone each; a merge reclaims the space)."""
    store = _store(index_dir)
    ids = read_ids(ids_file)
    if not ids:
        raise SpireError(f"{ids_file}: no document ids")
    result = store.delete(ids)
    found = result.results[0].found
    missing = [docid for docid, ok in zip(ids, found, strict=True) if not ok]
    summary = {
        "index": str(index_dir),
        "deleted": sum(found),
        "not_found": len(missing),
        "first_not_found": missing[:5],
        "generation": result.generation,
        "docs": store.snapshot().n_docs,
    }
    _report(f"delete {ids_file}", summary, json_out)


@serve_app.command()
def merge(
    index_dir: IndexArg,
    auto: Annotated[
        bool, typer.Option(help="Only the merges the background policy would run.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Merge segments and drop deleted documents (by default into one segment)."""
    from indexing.incremental import MergePolicy, maybe_merge

    store = _store(index_dir)
    before = store.snapshot()
    merges = maybe_merge(store, MergePolicy()) if auto else int(store.merge().committed)
    after = store.snapshot()
    summary = {
        "index": str(index_dir),
        "merges": merges,
        "segments_before": len(before.segments),
        "segments_after": len(after.segments),
        "deleted_dropped": before.n_deleted - after.n_deleted,
        "docs": after.n_docs,
        "generation": after.generation,
    }
    _report(f"merge {index_dir}", summary, json_out)


@serve_app.command()
def reidf(
    index_dir: IndexArg,
    corpus: Annotated[str, typer.Argument(help="The collection's texts: jsonl or BEIR folder.")],
    json_out: JsonOpt = False,
) -> None:
    """Recompute an inference-free index's query IDF from the collection's texts.

    The IDF is fixed when the index is created, so scores do not drift as documents are
    added; run this when the collection has changed enough to want new weights."""
    from encoders import load_encoder
    from eval.data.datasets import load_corpus

    store = _store(index_dir)
    snap = store.snapshot()
    if snap.encoder.mode != "inference-free":
        raise SpireError(f"{index_dir}: a {snap.encoder.mode} index has no IDF table")
    loaded = load_corpus(corpus)
    info = snap.encoder
    encoder = load_encoder(
        info.name, info.mode, idf=snap.idf, **info.load_options()
    )  # tokenizer only: fit_idf never runs the model
    result = store.set_idf(encoder.fit_idf(loaded.texts))
    live = set(snap.live_ids())
    summary = {
        "index": str(index_dir),
        "corpus_docs": len(loaded.ids),
        "indexed_docs": len(live),
        "corpus_docs_not_indexed": sum(1 for i in loaded.ids if i not in live),
        "generation": result.generation,
    }
    _report(f"reidf {index_dir}", summary, json_out)
