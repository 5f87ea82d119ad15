"""evaluate(): corpus -> encoder -> index -> searcher -> run -> metrics, for any system."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.data.datasets import Dataset, load_dataset
from eval.metrics import DEFAULT_MEASURES, compute_metrics
from indexing import InvertedIndex
from spire.core.artefacts import ensure_replaceable

from .systems import SystemResult, Systems, canonical, search_sparse


@dataclass
class Report:
    dataset: str
    split: str
    system: str
    n_queries: int
    metrics: dict[str, float]
    identical_ids_dropped: bool
    stats: dict = field(default_factory=dict)  # index size, postings, timings, ...
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Flat: the stats sit beside the metrics, for --json consumers."""
        out = asdict(self)
        return {**out.pop("stats"), **out}


def evaluate(
    dataset: str | Path | Dataset,
    model: str = "splade-tiny",
    mode: str = "siamese",
    split: str = "test",
    *,
    system: str | None = None,
    k: int = 1000,
    ignore_identical_ids: bool | None = None,
    run_file: str | Path | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    **options,
) -> Report:
    """Evaluate one system (default: the sparse `model` in `mode`) on a dataset's judged
    queries. `options` go to `Systems` (engine, dense_model, fusion, weights, hybrid_of,
    impact_dtype, save_index, overwrite, show_progress) or to the encoder.

    `ignore_identical_ids=None` follows BEIR (drop a hit whose id is the query's id)
    unless the dataset's query and doc ids are separate numberings.
    """
    name = canonical(system or mode)
    if options.get("save_index") is not None:  # before hours of encoding, not after
        ensure_replaceable(options["save_index"], options.get("overwrite", False))
    if name in ("siamese", "inference-free", "hybrid"):
        from encoders import load_encoder

        load_encoder(model, "inference-free")  # fail fast on an unknown model
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, split)
    systems = _systems(data, model, k, options)
    return report(systems.run(name), data, ignore_identical_ids, run_file, measures)


def compare(
    dataset: str | Path | Dataset,
    systems: Sequence[str],
    split: str = "test",
    *,
    model: str = "splade-tiny",
    k: int = 1000,
    ignore_identical_ids: bool | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    **options,
) -> list[Report]:
    """Evaluate several systems on one dataset, sharing encodings and runs between them."""
    names = [canonical(s) for s in systems]
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, split)
    shared = _systems(data, model, k, options)
    return [report(shared.run(n), data, ignore_identical_ids, None, measures) for n in names]


def _systems(data: Dataset, model: str, k: int, options: dict) -> Systems:
    known = set(Systems.__dataclass_fields__) - {"data", "model", "k", "encoder_options"}
    system_options = {key: options.pop(key) for key in list(options) if key in known}
    return Systems(data, model=model, k=k, encoder_options=options, **system_options)


def report(
    result: SystemResult,
    data: Dataset,
    ignore_identical_ids: bool | None = None,
    run_file: str | Path | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> Report:
    """Score a system's run on the dataset's qrels (and write it as a TREC file)."""
    drop = data.shares_id_space if ignore_identical_ids is None else ignore_identical_ids
    run = result.run.without_identical_ids() if drop else result.run
    if run_file is not None:
        run.save_trec(run_file, tag=f"spire-{result.system}")
    return Report(
        dataset=data.name,
        split=data.split,
        system=result.system,
        n_queries=len(data.queries),
        metrics=compute_metrics(data.qrels, run, measures),
        identical_ids_dropped=drop,
        stats=dict(result.stats),
        notes=list(data.notes),
    )


def evaluate_index(
    index: InvertedIndex,
    data: Dataset,
    encoder=None,
    *,
    k: int = 1000,
    ignore_identical_ids: bool | None = None,
    run_file: str | Path | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> Report:
    """Search a built index with the dataset's judged queries and score the run."""
    if encoder is None:
        from retrieval import Searcher

        encoder = Searcher(index).encoder
    result = search_sparse(index, encoder, data, k)
    return report(result, data, ignore_identical_ids, run_file, measures)
