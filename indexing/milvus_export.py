"""`spire export --to milvus`: an index folder's live documents into a Milvus collection.

Kept apart from indexing/milvus.py (connection, record, insert), which retrieval reads:
gathering a segmented index's documents uses the incremental writer's merge code.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .incremental.merge import gather
from .incremental.reader import SegmentReader
from .milvus import connect, export_matrix, record_for


def export_folder(
    index_dir: str,
    uri: str,
    collection: str,
    *,
    texts: dict[str, str] | None = None,
    **options,
) -> dict:
    """Export the live documents of an index folder (plain or segmented) to Milvus, with
    the weights spire scores them by (each segment's impacts times its own scale)."""
    snap = SegmentReader(index_dir).snapshot()
    if snap.segments:
        ids, matrix, _ = gather(list(snap.segments))
    else:
        ids, matrix = [], sp.csr_matrix((0, snap.vocab_size), dtype=np.float32)
    record = record_for(snap.encoder, snap.vocab_size, snap.idf, n_docs=len(ids))
    client = connect(uri)
    ordered = None if texts is None else [texts.get(i, "") for i in ids]
    summary = export_matrix(client, uri, collection, ids, matrix, record, texts=ordered, **options)
    return {"collection": collection, "uri": uri, **summary}
