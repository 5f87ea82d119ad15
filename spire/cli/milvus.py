"""The Milvus side of `spire export --to milvus`, `spire search --engine milvus` and
`spire serve --backend milvus`: their shared options and the work behind them.

The library side is indexing/milvus.py (export), retrieval/milvus_search.py (search)
and serving/milvus_backend.py (the HTTP backend); this module only parses and prints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from spire.core.errors import SpireError

UriOpt = Annotated[
    str | None,
    typer.Option(
        help="Milvus: a milvus-lite file (x.db, embedded) or a server, http://host:19530."
    ),
]
CollectionOpt = Annotated[str, typer.Option(help="Milvus collection name.")]


def need_uri(uri: str | None, flag: str) -> str:
    if not uri:
        raise SpireError(f"{flag} milvus needs --uri (a milvus-lite file or http://host:19530)")
    return uri


def export_to_milvus(
    index_dir: Path,
    uri: str,
    collection: str,
    overwrite: bool,
    corpus: str | None,
    algorithm: str,
    show_progress: bool,
) -> dict:
    """Export an index folder's live documents into a Milvus collection."""
    from indexing.milvus_export import export_folder

    if not index_dir.is_dir():
        raise SpireError(f"{index_dir}: no such index folder")
    texts = None
    if corpus is not None:
        from eval.data.datasets import load_corpus

        with warnings.catch_warnings():  # empty documents matter when indexing, not here
            warnings.simplefilter("ignore")
            loaded = load_corpus(corpus)
        texts = dict(zip(loaded.ids, loaded.texts, strict=True))
    return export_folder(
        str(index_dir), uri, collection, texts=texts, overwrite=overwrite,
        algorithm=algorithm, show_progress=show_progress,
    )  # fmt: skip


def search_milvus(index_dir: Path, uri: str, collection: str, query: str, k: int) -> list:
    """One query, encoded by the index folder's encoder, searched in the collection."""
    from retrieval.milvus_search import open_milvus

    if not index_dir.is_dir():
        raise SpireError(f"{index_dir}: no such index folder")
    local, remote = open_milvus(index_dir, uri, collection)
    encoder = local.encoder_for(local.snapshot())
    return remote.search(encoder.encode_queries([query]), k)[0]
