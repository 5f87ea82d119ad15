"""`spire eval` and `spire compare`: metrics of one system, or several side by side.

Registered on the main app by spire/cli/__init__.py."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError

from .milvus import UriOpt
from .options import (
    IDF_DEFAULT,
    DocTopKOpt,
    DtypeOpt,
    Fusion,
    Head,
    HeadOpt,
    IdenticalIds,
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
    ThreadsOpt,
    encoder_options,
)
from .output import err_console, print_json, print_table
from .sparsify import ActivationSparsityOpt, MoeOpt, check_eval_request, sparse_query_encoder


class Baseline(StrEnum):
    bm25 = "bm25"
    dense = "dense"


class Engine(StrEnum):
    spire = "spire"
    lucene = "lucene"
    milvus = "milvus"


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


DatasetArg = Annotated[
    str, typer.Argument(help="BEIR folder or ir_datasets id (e.g. beir/scifact/test).")
]
SplitOpt = Annotated[str, typer.Option(help="qrels split of a BEIR folder.")]
BaselineOpt = Annotated[
    Baseline | None, typer.Option(help="Evaluate a baseline instead of --model.")
]
EngineOpt = Annotated[
    Engine,
    typer.Option(
        help="lucene: search our vectors with Lucene impact search; milvus: in a Milvus "
        "collection (--uri; its collection spire_eval is replaced)."
    ),
]
HybridOpt = Annotated[
    str | None, typer.Option(help="Fuse systems, e.g. sparse+dense or bm25+dense.")
]
DepthOpt = Annotated[int, typer.Option("-k", min=1, help="Retrieval depth.")]
RunFileOpt = Annotated[Path | None, typer.Option(help="Write the TREC run here.")]
SaveIndexOpt = Annotated[Path | None, typer.Option(help="Also keep the index here.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace an existing --save-index.")]


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


def eval_cmd(
    dataset: DatasetArg,
    model: ModelOpt = "splade-tiny",
    mode: ModeOpt = Mode.siamese,
    split: SplitOpt = "test",
    baseline: BaselineOpt = None,
    engine: EngineOpt = Engine.spire,
    uri: UriOpt = None,
    hybrid: HybridOpt = None,
    fusion: FusionOpt = Fusion.rrf,
    weights: WeightsOpt = None,
    dense_model: DenseModelOpt = "all-MiniLM-L6-v2",
    k: DepthOpt = 1000,
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
    run_file: RunFileOpt = None,
    save_index: SaveIndexOpt = None,
    overwrite: OverwriteOpt = False,
    activation_sparsity: ActivationSparsityOpt = None,
    moe: MoeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Index a dataset's corpus, search its judged queries and report metrics."""
    from encoders.loading import torch_threads
    from eval.experiments.pipeline import evaluate

    if save_index is not None:
        ensure_replaceable(save_index, overwrite)
    if baseline is not None and hybrid is not None:
        raise SpireError("give --baseline or --hybrid, not both")
    system = baseline.value if baseline else ("hybrid" if hybrid else mode.value)
    options = {"hybrid_of": _hybrid_parts(hybrid, mode)} if hybrid else {}
    sparse = check_eval_request(activation_sparsity, moe, options.get("hybrid_of", (system,)))
    models = {"model": model, "dense_model": dense_model}
    with torch_threads(threads) as used, sparse_query_encoder(sparse, dataset, models) as chosen:
        report = evaluate(
            dataset, chosen["model"], mode.value, split, system=system, k=k,
            ignore_identical_ids=IDENTICAL[identical_ids], run_file=run_file,
            engine=engine.value, uri=uri, fusion=fusion.value, weights=_weights(weights),
            dense_model=chosen["dense_model"], impact_dtype=impact_dtype.value,
            save_index=save_index,
            overwrite=overwrite, show_progress=not json_out, doc_max_length=doc_max_length,
            query_max_length=query_max_length, idf_source=idf.value,
            **encoder_options(head, precision, doc_top_k, lexical_weight, lexical_stem),
            **options,
        )  # fmt: skip
    report.stats["threads"] = used
    _print_report(report, run_file, json_out)


def _print_report(report, run_file: Path | None, json_out: bool) -> None:
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
    from eval.experiments.pipeline import compare as compare_systems
    from eval.experiments.plots import bar_chart

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
