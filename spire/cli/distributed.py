"""`spire index ... --engine ray`: its options, and the call into indexing/distributed/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import choices

IndexEngine = choices("IndexEngine", ("local", "ray"))
IndexEngineOpt = Annotated[
    IndexEngine,
    typer.Option(
        help="ray: encode on a Ray cluster, one model replica per worker (docs/scaling.md)."
    ),
]
RayAddressOpt = Annotated[
    str,
    typer.Option(
        help="--engine ray: local (start one here), auto (the running one) or ray://HOST:PORT."
    ),
]
NumWorkersOpt = Annotated[int, typer.Option(min=1, help="--engine ray: workers (model replicas).")]
GpusOpt = Annotated[float, typer.Option(min=0, help="--engine ray: GPUs per worker (0: CPU).")]
ShardDocsOpt = Annotated[
    int, typer.Option(min=1, help="Documents per resumable shard (ray: one segment each).")
]


def build_with_ray(corpus, encoder, model: str, out: Path, options: dict, **settings):
    """Encode `corpus` on Ray and save the index at `out`; (index, what the run did)."""
    from indexing.distributed import RayOptions, build_index_ray

    ray = RayOptions(
        address=settings.pop("ray_address"), num_workers=settings.pop("num_workers"),
        gpus_per_worker=settings.pop("gpus_per_worker"), shard_docs=settings.pop("shard_docs"),
    )  # fmt: skip
    return build_index_ray(
        corpus.ids, corpus.texts, encoder, model, out, ray, encoder_options=options, **settings
    )
