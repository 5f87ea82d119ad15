"""`spire index ... --engine ray`: encode a corpus on a Ray cluster, shard by shard, into
the same index the single-process build writes.

1. The driver checks the ids and texts, loads the encoder (for the vocabulary, the
   EncoderInfo and, inference-free, the IDF fitted on the whole corpus) and cuts the
   corpus into shards along the encoder's own batch plan (documents sorted by token
   length, then token-budget batches): a shard is a run of whole batches, so each worker
   computes exactly what the single-process build computes. The plan costs the driver
   one tokenisation pass over the corpus.
2. A work folder beside the output (`OUT.ray-work/`) is a segmented index
   (indexing/incremental/) with float32 impacts, so no quantisation happens until the
   end. A shard is done when its documents are in it.
3. Ray Data runs `map_batches(ShardEncoder) on N actors` over the shards not done:
   one actor per model replica, each loading the model once. As each shard's vectors
   arrive the driver commits them as one segment (atomic: a segment is committed whole
   or not at all), so a worker that dies loses only its shard in flight; Ray retries it
   on a new actor once, and a rerun of the same command resumes from the committed shards.
4. The segments are merged in corpus order and quantised once, with one scale, exactly as
   `InvertedIndex.from_matrix` does for the local build; the index is saved atomically
   and the work folder removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from encoders.batching import batch_plan
from spire.core.arguments import check_encoder, check_texts
from spire.core.errors import SpireError
from spire.core.files import write_text_atomic
from spire.core.ids import check_ids

from .. import query_weights
from ..inverted_index import DEFAULT_COMPRESSION, InvertedIndex
from ..manifest import EncoderInfo
from .actors import ShardEncoder, connect_ray

JOB_FILE = "ray-job.json"


@dataclass(frozen=True)
class RayOptions:
    address: str = "local"  # local | auto | ray://HOST:PORT
    num_workers: int = 2  # actors, one model replica each
    gpus_per_worker: float = 0.0
    threads_per_worker: int = 1  # torch threads in each actor
    shard_docs: int = 10_000  # documents per shard (at least num_workers shards)
    retries: int = 1  # times a shard is retried on a new actor after its worker died


def shard_plan(encoder, texts: Sequence[str], shard_docs: int, min_shards: int) -> list[list[int]]:
    """Shards of the corpus (ascending text indices) made of whole batches of the
    encoder's own batch plan (encoders.batching.batch_plan), about `shard_docs` each and
    at least `min_shards` where the batches allow: each worker then runs exactly the
    batches the single-process build runs, so the vectors are bit-identical to it."""
    side = getattr(encoder, "document_encoder", encoder)  # inference-free: its doc model
    batches, empty = batch_plan(side.tokenizer, texts, side.doc_max_length, side.tokens_per_batch)
    size = max(1, min(shard_docs, -(-len(texts) // max(min_shards, 1))))
    shards: list[list[int]] = [[]]
    for batch in batches:
        if len(shards[-1]) >= size:
            shards.append([])
        shards[-1].extend(batch)
    shards[-1].extend(empty)  # empty rows: no batch, the same in any shard
    return [sorted(shard) for shard in shards if shard]


def _digest(values: Sequence[str]) -> str:
    h = hashlib.sha256()
    for v in values:
        h.update(v.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def build_index_ray(
    docids: Sequence[str],
    texts: Sequence[str],
    encoder,
    model: str,
    out: str | Path,
    options: RayOptions,
    *,
    encoder_options: dict | None = None,
    impact_dtype: str = "uint8",
    compression: str = DEFAULT_COMPRESSION,
    overwrite: bool = False,
    show_progress: bool = True,
) -> tuple[InvertedIndex, dict]:
    """Encode on Ray and write the index to `out` (an existing one only with `overwrite`);
    returns the index and what the run did (shards encoded and resumed, seconds)."""
    docids = check_ids(docids, "docids")
    texts = check_texts(texts, len(docids))
    check_encoder(encoder)
    out = Path(out)
    idf = query_weights(encoder, texts)  # None: the model encodes queries
    info = EncoderInfo.of(encoder)
    shards = shard_plan(encoder, texts, options.shard_docs, options.num_workers)
    job = {
        "model": model, "encoder": info.to_dict(), "encoder_options": encoder_options or {},
        "ids_sha256": _digest(docids), "texts_sha256": _digest(texts),
        "shards_sha256": _digest([",".join(map(str, shard)) for shard in shards]),
    }  # fmt: skip
    work = out.with_name(out.name + ".ray-work")
    side = getattr(encoder, "document_encoder", encoder)  # what writes the vectors
    store = _work_store(work, job, info, side.vocab_size, idf)
    snap = store.snapshot()
    pending = [i for i, shard in enumerate(shards) if not snap.contains(docids[shard[0]])]
    start = time.perf_counter()
    cpu_seconds = 0.0
    if pending:
        worker_options = {**(encoder_options or {}), **info.load_options(), "idf": idf}
        cpu_seconds = _encode_shards(store, docids, texts, shards, pending, model, info.mode,
                       worker_options, options, show_progress)  # fmt: skip
    index = _final_index(store, docids, info, impact_dtype, idf, compression)
    seconds = time.perf_counter() - start
    index.save(out, overwrite=overwrite)
    shutil.rmtree(work, ignore_errors=True)
    return index, {
        "engine": "ray", "ray_address": options.address, "workers": options.num_workers,
        "shards": len(shards), "shards_encoded": len(pending),
        "shards_resumed": len(shards) - len(pending), "ray_seconds": seconds,
        "worker_cpu_seconds": cpu_seconds,
    }  # fmt: skip


def _work_store(work: Path, job: dict, info: EncoderInfo, vocab_size: int, idf):
    """The work folder of this job: resumed if it holds the same job, else created."""
    from ..incremental import SegmentStore

    job_path = work / JOB_FILE
    if work.exists():
        try:
            same = json.loads(job_path.read_text(encoding="utf-8")) == json.loads(json.dumps(job))
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            raise SpireError(
                f"{work}: work folder of another --engine ray job (other corpus, model or "
                "shards); remove it to start again"
            )
        return SegmentStore(work)
    store = SegmentStore.create(work, info, vocab_size, "float32", idf)
    write_text_atomic(job_path, json.dumps(job))
    return store


def _encode_shards(store, docids, texts, shards, pending, model, mode, worker_options,
                   options: RayOptions, show_progress: bool) -> float:  # fmt: skip
    """Run the pending shards through Ray Data and commit each as one segment; returns the
    CPU seconds the workers spent encoding them."""
    import logging

    import ray.data

    connect_ray(options.address, max(options.num_workers * options.threads_per_worker, 1))
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own progress bar instead
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"shard": i, "texts": [texts[j] for j in shards[i]]} for i in pending]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    retries = options.retries  # the actor is restarted and its shard retried this often
    encoded = dataset.map_batches(
        ShardEncoder,
        fn_constructor_kwargs={
            "model": model, "mode": mode, "options": worker_options,
            "threads": options.threads_per_worker, "gpus": options.gpus_per_worker,
        },
        batch_size=1, compute=ray.data.ActorPoolStrategy(size=options.num_workers),
        num_cpus=options.threads_per_worker, num_gpus=options.gpus_per_worker or None,
        ray_remote_args_fn=lambda: {"max_restarts": retries, "max_task_retries": retries},
    )  # fmt: skip
    vocab = store.snapshot().vocab_size
    total = sum(len(shards[i]) for i in pending)
    bar = tqdm(total=total, desc="ray encoding", unit="doc", disable=not show_progress)
    done, cpu_seconds = 0, 0.0
    try:
        for row in encoded.iter_rows():
            members = shards[int(row["shard"])]
            matrix = sp.csr_matrix(
                (np.frombuffer(row["data"], np.float32), np.frombuffer(row["indices"], np.int32),
                 np.frombuffer(row["indptr"], np.int64)), shape=(len(members), vocab),
            )  # fmt: skip
            store.add([docids[j] for j in members], matrix)  # one segment, committed whole
            done += 1
            cpu_seconds += float(row["cpu_s"])
            bar.update(len(members))
    except Exception as exc:
        if isinstance(exc, SpireError):
            raise
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise SpireError(
            f"Ray encoding failed after {done} of {len(pending)} shards were committed "
            f"({type(exc).__name__}: {text}); run the same command again to resume"
        ) from None
    finally:
        bar.close()
    return cpu_seconds


def _final_index(store, docids, info, impact_dtype, idf, compression) -> InvertedIndex:
    """Every committed segment, in corpus order, quantised once as the local build does."""
    from ..incremental.merge import gather

    snap = store.snapshot()
    ids, matrix, _ = gather(list(snap.segments))
    if len(ids) != len(docids):
        raise SpireError(f"{store.root}: holds {len(ids)} documents, the corpus {len(docids)}")
    position = {docid: i for i, docid in enumerate(ids)}
    order = np.fromiter((position[d] for d in docids), dtype=np.int64, count=len(docids))
    return InvertedIndex.from_matrix(
        matrix[order], list(docids), info, impact_dtype, idf=idf, compression=compression
    )


__all__ = ["RayOptions", "build_index_ray", "shard_plan"]
