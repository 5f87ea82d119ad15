"""Dense bi-encoder: mean of the token embeddings over non-padding tokens, L2-normalised.

This is what sentence-transformers computes for all-MiniLM-L6-v2 and all-mpnet-base-v2
(Transformer -> Pooling(mean) -> Normalize), so inner products are cosine similarities.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from spire.core.errors import SpireError
from spire.core.files import read_json_object

from .batching import token_budget_batches
from .registry import resolve
from .tokenize import cut_for_tokens

DEFAULT_QUERY_MAX_LENGTH = 64
DEFAULT_DOC_MAX_LENGTH = 256


class DenseEncoder:
    """Texts -> (n, dim) float32 unit vectors; the same model encodes queries and documents."""

    def __init__(
        self,
        name: str,
        model,
        tokenizer,
        *,
        query_max_length: int = DEFAULT_QUERY_MAX_LENGTH,
        doc_max_length: int = DEFAULT_DOC_MAX_LENGTH,
        tokens_per_batch: int = 2048,
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        # Small batches: on CPU a bigger one is no faster per token (2 cores, MiniLM,
        # 256-token docs, 8192 tokens a batch was slower than 2048). At 2048, SciFact's
        # first 200 documents encode at 25 docs/s (2026-12-01, quiet machine).
        self.tokens_per_batch = tokens_per_batch
        self.dim = int(model.config.hidden_size)

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        from sparsity.runtime import for_documents  # sparsity for queries only stays off

        with for_documents(self.model):
            return self.encode(texts, self.doc_max_length, show_progress, "encoding documents")

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self.encode(texts, self.query_max_length, show_progress, "encoding queries")

    def encode(
        self,
        texts: Sequence[str],
        max_length: int,
        show_progress: bool = False,
        desc: str = "encoding",
    ) -> np.ndarray:
        """Encode texts into an (n, dim) float32 array of unit vectors, in input order.

        A blank text gives a zero vector (it scores 0 against everything) rather than the
        embedding of the special tokens alone, which would match queries at random.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(
            cut_for_tokens(texts, max_length),  # a 5 MB text is not tokenised whole
            add_special_tokens=True,
            truncation=True,
            max_length=max_length,
        )["input_ids"]
        keep = [i for i, t in enumerate(texts) if t.strip()]
        bar = tqdm(total=len(keep), desc=desc, unit="text", disable=not show_progress)
        # Length-sorted batches under a padded-token budget keep padding (wasted compute) low.
        for batch in token_budget_batches([len(ids[i]) for i in keep], self.tokens_per_batch):
            members = [keep[j] for j in batch]
            out[members] = self._encode_batch([ids[i] for i in members])
            bar.update(len(members))
        bar.close()
        return out

    @torch.inference_mode()
    def _encode_batch(self, id_lists: list[list[int]]) -> np.ndarray:
        padded = self.tokenizer.pad({"input_ids": id_lists}, return_tensors="pt")
        return mean_pooled(self.model, padded["input_ids"], padded["attention_mask"]).numpy()


def mean_pooled(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """L2-normalised mean of the last hidden states over real tokens (float32); with
    gradients when called outside inference mode (pruning recovery trains through it)."""
    tokens = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
    # Padding positions carry hidden states too; they must not enter the mean.
    summed = (tokens * weights).sum(dim=1)
    mean = summed / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1).float()


def load_dense_encoder(
    name: str,
    *,
    query_max_length: int | None = None,
    doc_max_length: int | None = None,
    tokens_per_batch: int = 2048,
) -> DenseEncoder:
    """A mean-pooled bi-encoder by registry name, local folder or hub id.

    Max lengths left as None come from the folder's sentence_bert_config.json
    (`max_seq_length`, for documents; queries are capped at 64 too), else 256 / 64.
    """
    from .loading import load_base_model, load_tokenizer

    if Path(name).expanduser().is_dir():
        name = str(Path(name).expanduser().resolve())  # so an index finds it from any cwd
    tokenizer = load_tokenizer(name)  # fails fast, with the attempts, on an unknown name
    folder = Path(resolve(name))
    _check_pooling(folder)
    model_max = _sentence_bert_max_length(folder)
    if doc_max_length is None:
        doc_max_length = model_max or DEFAULT_DOC_MAX_LENGTH
    if query_max_length is None:
        query_max_length = min(DEFAULT_QUERY_MAX_LENGTH, model_max or DEFAULT_QUERY_MAX_LENGTH)
    return DenseEncoder(
        name,
        load_base_model(name),
        tokenizer,
        query_max_length=query_max_length,
        doc_max_length=doc_max_length,
        tokens_per_batch=tokens_per_batch,
    )


def _sentence_bert_max_length(folder: Path) -> int | None:
    path = folder / "sentence_bert_config.json"
    if not path.is_file():
        return None  # a hub id or a plain HF folder: the defaults apply
    value = read_json_object(path).get("max_seq_length")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SpireError(f"{path}: max_seq_length must be a positive integer")
    return value


def _check_pooling(folder: Path) -> None:
    """Refuse a sentence-transformers model that pools otherwise (CLS, max, ...): its vectors
    would silently differ from the ones it was trained to produce."""
    path = folder / "1_Pooling" / "config.json"
    if not path.is_file():
        return
    config = read_json_object(path)
    # Older sentence-transformers write one boolean per mode; newer ones a `pooling_mode`.
    modes = config.get("pooling_mode")
    if modes is None:
        modes = [k.removeprefix("pooling_mode_") for k, v in config.items() if k in _LEGACY and v]
    modes = [modes] if isinstance(modes, str) else list(modes)
    if modes not in (["mean"], ["mean_tokens"]):
        raise SpireError(f"{path}: only mean pooling is supported (this model uses {modes})")


_LEGACY = (
    "pooling_mode_cls_token",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)
