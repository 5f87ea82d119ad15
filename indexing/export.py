"""Move document vectors to other engines: Anserini's JsonVectorCollection and OpenSearch
bulk NDJSON with a rank_features field (plus the idf.json its inference-free analyzer reads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.core.artefacts import atomic_folder
from spire.core.errors import SpireError

from .inverted_index import InvertedIndex
from .quantize import quantize

FORMATS = ("lucene-jsonvector", "opensearch")


def integer_documents(index: InvertedIndex) -> tuple[sp.csr_matrix, float]:
    """Doc x vocab matrix of integer impacts and its scale; float indexes become uint8."""
    impacts, scale = index.impacts, index.scale
    if index.impact_dtype == "float32":
        impacts, extra = quantize(np.asarray(impacts) * scale, "uint8")
        scale = extra
    csc = sp.csc_matrix(
        (np.asarray(impacts).astype(np.int32), index.all_doc_ids(), index.indptr),
        shape=(index.n_docs, index.vocab_size),
    )
    csc.eliminate_zeros()
    return csc.tocsr(), scale


def _rows_as_dicts(matrix: sp.csr_matrix, vocab: list[str], cast) -> Iterator[dict]:
    for row in range(matrix.shape[0]):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        yield {
            vocab[t]: cast(w)
            for t, w in zip(matrix.indices[lo:hi], matrix.data[lo:hi], strict=True)
        }


def id_to_token(tokenizer, size: int) -> list[str]:
    vocab = [""] * size
    for token, i in tokenizer.get_vocab().items():
        if i < size:
            vocab[i] = token
    return vocab


def export_index(
    index: InvertedIndex,
    tokenizer,
    out: str | Path,
    fmt: str,
    overwrite: bool = False,
    field: str = "sparse_embedding",
    index_name: str = "spire",
) -> Path:
    """Write `out/` atomically in format `fmt`, with an export.json that records the scale."""
    if fmt not in FORMATS:
        raise SpireError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    vocab = id_to_token(tokenizer, index.vocab_size)
    with atomic_folder(out, overwrite=overwrite) as tmp:
        if fmt == "lucene-jsonvector":
            meta = _write_jsonvector(index, vocab, tmp)
        else:
            meta = _write_opensearch(index, vocab, tmp, field, index_name, tokenizer)
        meta.update(format=fmt, encoder=index.encoder.__dict__, n_docs=index.n_docs)
        (tmp / "export.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def _write_jsonvector(index: InvertedIndex, vocab: list[str], folder: Path) -> dict:
    docs, scale = integer_documents(index)
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as f:
        for docid, vector in zip(index.docids, _rows_as_dicts(docs, vocab, int), strict=True):
            f.write(
                json.dumps({"id": docid, "contents": "", "vector": vector}, ensure_ascii=False)
                + "\n"
            )
    return {"impact_scale": scale, "note": "weight ~= integer impact * impact_scale"}


def _write_opensearch(
    index: InvertedIndex, vocab: list[str], folder: Path, field: str, index_name: str, tokenizer
) -> dict:
    docs = index.to_matrix()
    with open(folder / "bulk.ndjson", "w", encoding="utf-8") as f:
        for docid, vector in zip(index.docids, _rows_as_dicts(docs, vocab, float), strict=True):
            f.write(json.dumps({"index": {"_index": index_name, "_id": docid}}) + "\n")
            f.write(json.dumps({field: vector}, ensure_ascii=False) + "\n")
    mapping = {"mappings": {"properties": {field: {"type": "rank_features"}}}}
    (folder / "mapping.json").write_text(json.dumps(mapping, indent=2), encoding="utf-8")
    if index.idf is not None:
        from encoders.idf import save_idf_json

        save_idf_json(index.idf, tokenizer, folder / "idf.json")
    return {"field": field, "index": index_name}


def read_opensearch_bulk(
    path: str | Path,
    tokenizer,
    field: str = "sparse_embedding",
) -> tuple[list[str], sp.csr_matrix]:
    """Doc ids and the doc x vocab matrix from bulk NDJSON written by `export_index`."""
    path = Path(path)
    vocab = tokenizer.get_vocab()
    ids: list[str] = []
    rows, cols, vals = [], [], []
    pending_id = None
    for lineno, record in _read_ndjson(path):
        if "index" in record:
            pending_id = str(record["index"].get("_id"))
            continue
        if pending_id is None or not isinstance(record.get(field), dict):
            raise SpireError(f"{path}:{lineno}: expected a {field!r} object after an index action")
        for token, weight in record[field].items():
            if token not in vocab:
                raise SpireError(f"{path}:{lineno}: token {token!r} is not in the vocabulary")
            rows.append(len(ids))
            cols.append(vocab[token])
            vals.append(float(weight))
        ids.append(pending_id)
        pending_id = None
    matrix = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(len(ids), len(tokenizer))
    )
    return ids, matrix


def _read_ndjson(path: Path) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise SpireError(f"{path}: no such file")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise SpireError(f"{path}:{lineno}: not a JSON line ({exc})") from None
            if not isinstance(record, dict):
                raise SpireError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, record
