"""A spire index in Milvus: the connection, the collection's schema and record, the export.

The collection holds one entity per live document: `id` (VARCHAR primary key), `vector`
(SPARSE_FLOAT_VECTOR, indexed with SPARSE_INVERTED_INDEX and inner product) and, when the
corpus is given, `text`. Vectors are float weights (each impact times its segment's scale,
what spire's own search scores with), never the uint8 codes. What spire needs to query it
(the encoder, the vocabulary size, the IDF's digest) is recorded in the collection's
`spire` property, and checked against the index that supplies the query encoder.

pymilvus is the optional `[milvus]` extra; a URI is a milvus-lite file (`x.db`, Milvus
embedded in this process) or a server (`http://host:19530`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from spire.core.errors import SpireError

from .manifest import EncoderInfo

FORMAT = "spire-milvus/1"
PROPERTY = "spire"
ID_FIELD, VECTOR_FIELD, TEXT_FIELD = "id", "vector", "text"
ALGORITHMS = ("DAAT_MAXSCORE", "DAAT_WAND", "TAAT_NAIVE")
MAX_VARCHAR = 65_535  # bytes, Milvus's largest VARCHAR
CONNECT_TIMEOUT_S = 10.0
RETRIES = 3


def check_collection_name(name: str) -> str:
    """Milvus's rule for collection names, checked before anything is sent."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,219}", name):
        raise SpireError(
            f"--collection {name!r}: letters, digits and underscores, not starting with a digit"
        )
    return name


def connect(uri: str, timeout: float = CONNECT_TIMEOUT_S):
    """A MilvusClient for `uri`, or one line naming it (within `timeout` seconds)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise SpireError("Milvus needs the [milvus] extra: pip install 'spire[milvus]'") from None
    try:
        return MilvusClient(uri=uri, timeout=timeout)
    except Exception as exc:  # pymilvus raises MilvusException, grpc and OS errors alike
        raise SpireError(f"--uri {uri}: cannot reach Milvus ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300]


def record_for(encoder: EncoderInfo, vocab_size: int, idf: np.ndarray | None, **extra) -> dict:
    """What the collection records of the index it was exported from."""
    return {
        "format": FORMAT,
        "encoder": encoder.to_dict(),
        "vocab_size": int(vocab_size),
        "idf_sha256": idf_digest(idf),
        **extra,
    }


def idf_digest(idf: np.ndarray | None) -> str | None:
    if idf is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(idf, dtype=np.float32).tobytes()).hexdigest()


def read_record(client, collection: str, uri: str) -> dict:
    """The collection's spire record; a missing collection or foreign one is one line."""
    if not client.has_collection(collection):
        raise SpireError(f"--uri {uri}: no collection {collection!r} (spire export --to milvus)")
    properties = client.describe_collection(collection).get("properties", {})
    try:
        record = json.loads(properties[PROPERTY])
    except (KeyError, TypeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise SpireError(f"--uri {uri}: collection {collection!r} was not written by spire export")
    return record


def check_compatible(record: dict, encoder: EncoderInfo, vocab_size: int, where: str) -> None:
    """Refuse to query a collection with another vocabulary or encoder than the index's."""
    theirs = record.get("encoder", {})
    if record.get("vocab_size") != vocab_size:
        raise SpireError(
            f"{where}: its vectors have dimension {record.get('vocab_size')} but the "
            f"index's vocabulary has {vocab_size} terms; export this index again"
        )
    if (theirs.get("name"), theirs.get("mode")) != (encoder.name, encoder.mode):
        raise SpireError(
            f"{where}: exported from {theirs.get('name')} ({theirs.get('mode')}) but the "
            f"index uses {encoder.name} ({encoder.mode}); the query vectors would not match"
        )


TRANSIENT = {"ConnectError", "MilvusUnavailableException", "SchemaMismatchRetryableException"}
TRANSIENT_CODES = (1, 8)  # pymilvus ErrorCode: UNEXPECTED_ERROR (server hiccups), RATE_LIMIT


def _transient(exc: BaseException) -> bool:
    """A failure worth another try (connection, rate limit), not bad data."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & (TRANSIENT | {"RpcError"}) or isinstance(exc, OSError | TimeoutError):
        return True
    return "MilvusException" in names and getattr(exc, "code", None) in TRANSIENT_CODES


def with_retries(action: Callable[[], Any], what: str, retries: int = RETRIES) -> Any:
    """Run `action`, retrying a transient failure with backoff; any failure is one line."""
    for attempt in range(retries + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == retries or not _transient(exc):
                tries = f" after {attempt + 1} tries" if attempt else ""
                raise SpireError(f"{what} failed{tries}: {_first_line(exc)}") from None
            time.sleep(0.5 * 2**attempt)
    return None  # unreachable


def sparse_rows(matrix: sp.csr_matrix, lo: int, hi: int) -> list[dict[int, float]]:
    """Rows lo..hi as Milvus sparse vectors ({term: weight}, zeros dropped)."""
    out = []
    for row in range(lo, hi):
        a, b = matrix.indptr[row], matrix.indptr[row + 1]
        weights = matrix.data[a:b]
        keep = weights != 0
        out.append(
            dict(zip(matrix.indices[a:b][keep].tolist(), weights[keep].tolist(), strict=True))
        )
    return out


def _schema(client, id_bytes: int, with_text: bool):
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=max(id_bytes, 1))
    schema.add_field(VECTOR_FIELD, DataType.SPARSE_FLOAT_VECTOR)
    if with_text:
        schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=MAX_VARCHAR)
    return schema


def _clip_utf8(text: str, limit: int = MAX_VARCHAR) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore")


def export_matrix(
    client,
    uri: str,
    collection: str,
    ids: Sequence[str],
    matrix: sp.csr_matrix,
    record: dict,
    *,
    texts: Sequence[str] | None = None,
    overwrite: bool = False,
    algorithm: str = "DAAT_MAXSCORE",
    batch_docs: int = 2000,
    show_progress: bool = True,
) -> dict:
    """Create `collection` and insert every row of `matrix` (float weights) under its id.

    The rows go into a staging collection that is renamed over the old one only once all
    of them are in, so a failed export leaves any existing collection as it was."""
    check_collection_name(collection)
    if algorithm not in ALGORITHMS:
        raise SpireError(f"--algorithm {algorithm}: choose one of {', '.join(ALGORITHMS)}")
    if matrix.nnz and float(matrix.data.min()) < 0:
        raise SpireError("the index has negative weights, which Milvus refuses")
    # Milvus refuses an empty vector; such a document matches no query in spire either.
    nonempty = np.flatnonzero(np.diff(matrix.indptr) > 0)
    skipped = len(ids) - nonempty.size
    if skipped:
        ids, matrix = [ids[i] for i in nonempty], matrix[nonempty]
        texts = None if texts is None else [texts[i] for i in nonempty]
    exists = client.has_collection(collection)
    if exists and not overwrite:
        raise SpireError(f"--uri {uri}: collection {collection!r} exists; give --overwrite")
    if exists:
        read_record(client, collection, uri)  # replace only a collection spire wrote
    staging = f"{collection}__spire_staging"
    if client.has_collection(staging):
        client.drop_collection(staging)  # left by an export that died
    id_bytes = max((len(i.encode("utf-8")) for i in ids), default=1)
    index_params = client.prepare_index_params()
    index_params.add_index(
        field_name=VECTOR_FIELD,
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="IP",
        params={"inverted_index_algo": algorithm},
    )
    client.create_collection(
        staging, schema=_schema(client, id_bytes, texts is not None), index_params=index_params
    )
    start = time.perf_counter()
    for rows in tqdm(
        _batches(ids, matrix, texts, batch_docs),
        total=-(-len(ids) // batch_docs),
        desc=f"milvus {collection}",
        unit="batch",
        disable=not show_progress,
    ):
        with_retries(lambda rows=rows: client.insert(staging, rows), f"inserting into {uri}")
    with_retries(lambda: client.flush(staging), f"flushing {uri}")
    seconds = time.perf_counter() - start
    client.alter_collection_properties(staging, properties={PROPERTY: json.dumps(record)})
    if exists:
        client.drop_collection(collection)
    client.rename_collection(staging, collection)
    client.load_collection(collection)
    return {
        "docs": len(ids),
        "empty_docs_skipped": skipped,
        "insert_seconds": seconds,
        "docs_per_second": len(ids) / max(seconds, 1e-9),
    }


def _batches(
    ids: Sequence[str], matrix: sp.csr_matrix, texts: Sequence[str] | None, size: int
) -> Iterator[list[dict]]:
    for lo in range(0, len(ids), size):
        hi = min(lo + size, len(ids))
        rows = [
            {ID_FIELD: docid, VECTOR_FIELD: vector}
            for docid, vector in zip(ids[lo:hi], sparse_rows(matrix, lo, hi), strict=True)
        ]
        if texts is not None:
            for row, text in zip(rows, texts[lo:hi], strict=True):
                row[TEXT_FIELD] = _clip_utf8(text)
        yield rows
