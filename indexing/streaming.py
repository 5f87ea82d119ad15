"""Streaming, resumable indexing: a corpus of any size in bounded memory.

Documents arrive as an iterator of (id, text) (eval/data/stream.py reads a BEIR folder
or a .jsonl(.gz) file line by line). Every `shard_docs` documents are encoded and
written, whole or not at all, as one shard under the hidden folder `.<out>.shards/`
beside the target: their float weights (CSR), ids and, for an inference-free index
that fits its IDF on the corpus, their document frequencies. An interrupted job (a
crash, Ctrl-C, a truncated gzip) keeps its shards; the same command run again checks
that the job is the same (source, model, vocabulary, options: `job.json`), skips the
documents its shards hold, and encodes the rest. Only then is the index assembled:
one scale for the whole corpus (the largest weight, as `InvertedIndex.from_matrix`
takes it), each shard quantised and its postings copied into place term by term, so
memory holds the final postings (5 bytes each) and one shard, never the corpus as
floats. The index is written by `InvertedIndex.save` (staging folder, rename: nothing
half-written under the target name), and the shards are removed after it.

The result equals `build_index` of the same documents: same postings, same scale, same
IDF (tests/indexing/test_streaming.py).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.core.errors import SpireError
from spire.core.files import write_text_atomic

from .inverted_index import DEFAULT_COMPRESSION, InvertedIndex
from .manifest import EncoderInfo
from .quantize import impacts_at, scale_for

SHARD_DOCS = 4096
JOB_FILE = "job.json"
SHARD_ARRAYS = ("data", "indices", "indptr")


@dataclass
class StreamStats:
    """What a streamed build did: documents, how many came from an earlier run's
    shards, the seconds spent encoding (this run) and assembling, truncated documents."""

    docs: int = 0
    resumed_docs: int = 0
    shards: int = 0
    encode_seconds: float = 0.0
    assemble_seconds: float = 0.0
    truncated: int = 0
    empty: int = 0  # documents with no text (indexed empty)


def shards_folder(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.shards"


def job_description(encoder, source: dict, shard_docs: int, impact_dtype: str) -> dict:
    """What must match for a resume: the source, the model and vocabulary, the options."""
    return {
        "source": source,
        "encoder": EncoderInfo.of(encoder).to_dict(),
        "vocab_size": int(encoder.vocab_size),
        "fits_idf": _fits_idf(encoder),
        "shard_docs": int(shard_docs),
        "impact_dtype": impact_dtype,
    }


def _fits_idf(encoder) -> bool:
    """Does the index fit its query weights on the corpus (an inference-free encoder
    without a table of its own)? A model query side has none to fit."""
    return encoder.idf is None and hasattr(encoder, "fit_idf_counts")


def _open_job(folder: Path, job: dict) -> None:
    """Start a job folder, or check that the one there is this job's."""
    path = folder / JOB_FILE
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(job, indent=1))
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpireError(f"{path}: unreadable ({exc}); remove {folder} to start over") from None
    differ = [key for key in job if old.get(key) != job[key]]
    if differ:
        what = "; ".join(f"{k}: was {old.get(k)!r}, now {job[k]!r}" for k in differ)
        raise SpireError(
            f"{folder}: an interrupted index job with other settings ({what}); "
            f"refusing to resume it: run the same command, or remove {folder} to start over"
        )


def _done_shards(folder: Path) -> list[Path]:
    """The complete shards, in order (a shard folder exists only once whole)."""
    shards = sorted(folder.glob("shard-*[0-9]"))
    for i, shard in enumerate(shards):
        if shard.name != f"shard-{i:06d}":
            raise SpireError(f"{folder}: shard {shard.name} out of sequence; remove {folder}")
    return shards


def _write_shard(folder: Path, number: int, ids: list[str], docs: sp.csr_matrix, df) -> None:
    staging = folder / f".staging-{number:06d}"
    try:
        _write_shard_files(folder, staging, number, ids, docs, df)
    except OSError as exc:  # a full disk, say: the shards already written stay
        shutil.rmtree(staging, ignore_errors=True)
        raise SpireError(
            f"{folder}: could not write shard {number} ({exc.strerror or exc}); the "
            f"{number} shard(s) before it are kept, and the same command resumes"
        ) from None


def _write_shard_files(folder, staging, number, ids, docs, df) -> None:
    final = folder / f"shard-{number:06d}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in SHARD_ARRAYS:
        np.save(staging / f"{name}.npy", getattr(docs, name), allow_pickle=False)
    if df is not None:
        np.save(staging / "df.npy", df, allow_pickle=False)
    peak = float(docs.data.max()) if docs.nnz else 0.0
    meta = {"docs": len(ids), "peak": peak, "nnz": int(docs.nnz)}
    (staging / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    staging.rename(final)  # the shard exists whole or not at all


def _read_shard(shard: Path, vocab: int) -> tuple[sp.csr_matrix, dict]:
    meta = json.loads((shard / "meta.json").read_text(encoding="utf-8"))
    arrays = [np.load(shard / f"{n}.npy", allow_pickle=False) for n in SHARD_ARRAYS]
    return sp.csr_matrix(tuple(arrays), shape=(meta["docs"], vocab)), meta


def _batches(records: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _skip_done(records: Iterator[tuple[str, str]], shards: list[Path], seen: set[str]) -> None:
    """Consume the documents the shards hold, checking that they are the same ids."""
    for shard in shards:
        ids = json.loads((shard / "ids.json").read_text(encoding="utf-8"))
        for want in ids:
            got = next(records, None)
            if got is None or got[0] != want:
                found = "the end of the corpus" if got is None else repr(got[0])
                raise SpireError(
                    f"{shard}: the corpus changed since this job began (expected document "
                    f"{want!r}, found {found}); remove {shard.parent} to start over"
                )
            seen.add(want)


def _check_new_ids(batch: list[tuple[str, str]], seen: set[str]) -> None:
    for doc_id, _ in batch:
        if doc_id in seen:
            raise SpireError(f"duplicate document id {doc_id!r}")
        seen.add(doc_id)


def encode_shards(
    records: Iterable[tuple[str, str]],
    out: str | Path,
    encoder,
    job: dict,
    total: int | None = None,
    show_progress: bool = True,
) -> StreamStats:
    """Encode every document not yet in a shard of `out`'s job folder."""
    from tqdm.auto import tqdm

    folder = shards_folder(out)
    _open_job(folder, job)
    shards = _done_shards(folder)
    stats = StreamStats(shards=len(shards))
    records = iter(records)
    seen: set[str] = set()
    _skip_done(records, shards, seen)
    stats.resumed_docs = len(seen)
    fits_idf = job["fits_idf"]
    with tqdm(total=total, initial=len(seen), unit="doc", desc="indexing",
              disable=not show_progress, smoothing=0.05) as bar:  # fmt: skip
        for batch in _batches(records, job["shard_docs"]):
            _check_new_ids(batch, seen)
            start = time.perf_counter()
            texts = [text for _, text in batch]
            stats.empty += sum(1 for text in texts if not text.strip())
            docs = sp.csr_matrix(encoder.encode_documents(texts), dtype=np.float32)
            docs.sum_duplicates()
            stats.truncated += int(getattr(encoder.stats, "truncated", 0) or 0)
            df = _document_frequencies(encoder, texts) if fits_idf else None
            _write_shard(folder, stats.shards, [i for i, _ in batch], docs, df)
            stats.encode_seconds += time.perf_counter() - start
            stats.shards += 1
            bar.update(len(batch))
    stats.docs = len(seen)
    if not stats.docs:
        raise SpireError("no documents")
    return stats


def _document_frequencies(encoder, texts: list[str]) -> np.ndarray:
    from encoders.idf import document_frequencies

    return document_frequencies(encoder.tokenizer, texts, encoder.doc_max_length)


def assemble(
    out: str | Path,
    encoder,
    impact_dtype: str = "uint8",
    compression: str = DEFAULT_COMPRESSION,
) -> InvertedIndex:
    """The index of every shard of `out`'s job: one scale, postings copied into place."""
    folder = shards_folder(out)
    shards = _done_shards(folder)
    metas = [json.loads((s / "meta.json").read_text(encoding="utf-8")) for s in shards]
    vocab = int(encoder.vocab_size)
    scale = scale_for(max((m["peak"] for m in metas), default=0.0), impact_dtype)
    counts = np.zeros(vocab, dtype=np.int64)
    docids: list[str] = []
    df = np.zeros(vocab, dtype=np.int64)
    for shard in shards:  # pass 1: postings per term (after quantisation), ids, df
        docs, _ = _read_shard(shard, vocab)
        kept = docs.indices[impacts_at(docs.data, impact_dtype, scale) > 0]
        counts += np.bincount(kept, minlength=vocab)
        docids += json.loads((shard / "ids.json").read_text(encoding="utf-8"))
        if (shard / "df.npy").is_file():
            df += np.load(shard / "df.npy", allow_pickle=False)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    doc_ids = np.empty(int(indptr[-1]), dtype=np.int32)
    impacts = np.empty(int(indptr[-1]), dtype=impacts_at(np.zeros(0), impact_dtype, 1.0).dtype)
    written = indptr[:-1].copy()
    offset = 0
    for shard in shards:  # pass 2: each shard's postings after the earlier shards'
        docs, meta = _read_shard(shard, vocab)
        _place(docs, impact_dtype, scale, offset, written, doc_ids, impacts)
        offset += meta["docs"]
    idf = encoder.idf
    if _fits_idf(encoder):
        idf = encoder.fit_idf_counts(df, len(docids))
    index = InvertedIndex(
        indptr=indptr, doc_ids=doc_ids, impacts=impacts, scale=scale, docids=docids,
        encoder=EncoderInfo.of(encoder), idf=None if idf is None else idf.astype(np.float32),
    )  # fmt: skip
    return index.with_compression(compression)


def _place(docs, impact_dtype, scale, offset, written, doc_ids, impacts) -> None:
    """Copy one shard's postings (documents offset + row) to each term's next free
    positions; terms advance in `written`."""
    csc = sp.csc_matrix(docs)
    csc.sort_indices()
    quantised = impacts_at(csc.data, impact_dtype, scale)
    keep = quantised > 0
    terms = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))[keep]
    rows = csc.indices[keep].astype(np.int64) + offset
    per_term = np.bincount(terms, minlength=csc.shape[1])
    starts = np.repeat(written, per_term)
    rank = np.arange(terms.size) - np.repeat(np.cumsum(per_term) - per_term, per_term)
    doc_ids[starts + rank] = rows
    impacts[starts + rank] = quantised[keep]
    written += per_term


def stream_index(
    records: Iterable[tuple[str, str]],
    out: str | Path,
    encoder,
    source: dict,
    *,
    total: int | None = None,
    impact_dtype: str = "uint8",
    compression: str = DEFAULT_COMPRESSION,
    shard_docs: int = SHARD_DOCS,
    show_progress: bool = True,
) -> tuple[InvertedIndex, StreamStats]:
    """Encode (resuming an interrupted job of the same settings) and assemble the index;
    the caller saves it, then calls `discard_shards(out)`."""
    job = job_description(encoder, source, shard_docs, impact_dtype)
    stats = encode_shards(records, out, encoder, job, total, show_progress)
    start = time.perf_counter()
    index = assemble(out, encoder, impact_dtype, compression)
    stats.assemble_seconds = time.perf_counter() - start
    return index, stats


def save_streamed(index: InvertedIndex, out: str | Path, overwrite: bool = False) -> None:
    """Save the assembled index (whole or not at all), then drop the job's shards; a
    failed write keeps them, so the same command assembles again without encoding."""
    try:
        index.save(out, overwrite=overwrite)
    except OSError as exc:
        raise SpireError(
            f"{out}: could not write the index ({exc.strerror or exc}); nothing was "
            f"written under that name, and the shards in {shards_folder(out)} are kept"
        ) from None
    discard_shards(out)


def discard_shards(out: str | Path) -> None:
    shutil.rmtree(shards_folder(out), ignore_errors=True)
