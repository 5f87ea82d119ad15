"""Students: SPLADE (encoders/splade.py's `SpladeForward`, run with gradients) over a
Hugging Face masked LM, and the inference-free query side.

The vocabulary projection is ~90% of a step's FLOPs forward and backward, yet only the
~250 (document, term) pairs per document that end up positive carry any gradient
(log1p(relu(.)) is flat below 0). So, where the head can be split (encoders/
sparse_head.py), a no-grad bf16 bound finds the candidates and only those are computed,
exactly and with gradients; the rest are provably <= 0, i.e. weight 0 and gradient 0,
as in the full computation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from encoders import splade
from encoders.inference_free import worded_pieces
from encoders.lexical import LEXICAL_FILE, Lexical, lexical_weights, save_lexical
from spire.core.files import remove_file, staged_files

from .losses.l0_mask import threshold_activations


class SpladeForward(splade.SpladeForward):
    """encoders/splade.py's pass, with gradients (not frozen), its activations below
    `activation_threshold` zeroed (training/losses/l0_mask.py). `pruned_head=False`
    computes the full projection (the reference)."""

    def __init__(
        self, mlm, tokenizer, activation_threshold: float = 0.0, pruned_head: bool = True
    ) -> None:
        super().__init__(mlm, tokenizer, "auto" if pruned_head else "reference")
        self.activation_threshold = activation_threshold

    def encode_ids(self, ids: Tensor, mask: Tensor) -> Tensor:
        """The forward pass from padded token ids and their attention mask."""
        weights = super().encode_ids(ids, mask)
        return threshold_activations(weights, self.activation_threshold)


class InferenceFreeStudent(nn.Module):
    """Documents through SPLADE; a query is its distinct tokens weighted by relu(idf).

    The query side is exactly encoders/inference_free.py's (no special tokens, the same
    token budget), so training optimises the function that search will use. `idf` is a
    parameter, trainable when `learn_idf`.

    `lexical` (encoders/lexical.py) is a fixed part of every document vector: the
    document's own word pieces with saturated term frequency. `encode_documents` gives
    the learnt part (what the sparsity penalties see); `document_vectors` adds the
    lexical part, as the index will.
    """

    kind = "inference-free"

    def __init__(
        self,
        doc: SpladeForward,
        idf: np.ndarray,
        learn_idf: bool = False,
        lexical: Lexical | None = None,
    ) -> None:
        super().__init__()
        self.doc = doc
        self.idf = nn.Parameter(torch.as_tensor(idf, dtype=torch.float32), requires_grad=learn_idf)
        self.lexical = lexical or Lexical()
        self.worded = worded_pieces(doc.tokenizer)  # pieces search keeps (not punctuation)

    def encode_documents(self, texts: list[str], max_length: int) -> Tensor:
        return self.doc(texts, max_length)

    def document_vectors(self, learnt: Tensor, texts: list[str]) -> Tensor:
        """The indexed document vectors: the learnt part `learnt` of `texts` plus their
        lexical part."""
        if not self.lexical.enabled:
            return learnt
        lexical = lexical_weights(self.doc.tokenizer, texts, self.lexical).toarray()
        return learnt + torch.as_tensor(lexical, device=learnt.device, dtype=learnt.dtype)

    def encode_queries(self, texts: list[str], max_length: int) -> Tensor:
        return self.query_bags(texts, max_length) * torch.relu(self.idf)

    def query_bags(self, texts: list[str], max_length: int) -> Tensor:
        """(n, vocab) 0/1 matrix of each query's distinct tokens."""
        budget = max(max_length - 2, 1)  # the same budget as a siamese query with [CLS] [SEP]
        ids = self.doc.tokenizer(
            list(texts), add_special_tokens=False, truncation=True, max_length=budget
        )["input_ids"]
        bags = torch.zeros(len(ids), self.idf.shape[0], device=self.idf.device)
        for row, seq in enumerate(ids):
            seq = [t for t in seq if self.worded[t]]
            if seq:
                bags[row, torch.as_tensor(seq, device=self.idf.device)] = 1.0
        return bags

    def save(self, folder: Path) -> None:
        idf = torch.relu(self.idf.detach()).cpu().numpy()
        _save_model(folder, self.doc, self.lexical, idf)


class SiameseStudent(nn.Module):
    """One SPLADE model encodes queries and documents."""

    kind = "siamese"
    lexical = Lexical()  # off: a siamese query is not a token bag

    def __init__(self, doc: SpladeForward) -> None:
        super().__init__()
        self.doc = doc

    def encode_documents(self, texts: list[str], max_length: int) -> Tensor:
        return self.doc(texts, max_length)

    def encode_queries(self, texts: list[str], max_length: int) -> Tensor:
        return self.doc(texts, max_length)

    def document_vectors(self, learnt: Tensor, texts: list[str]) -> Tensor:
        return learnt

    def save(self, folder: Path) -> None:
        _save_model(folder, self.doc, self.lexical)


def _save_model(
    folder: Path, doc: SpladeForward, lexical: Lexical, idf: np.ndarray | None = None
) -> None:
    """The model folder `spire index --model FOLDER` loads: HF save_pretrained of model and
    tokenizer, idf.json where given, lexical.json where the lexical term is on.

    Each file is written whole in a staging folder before it is renamed into `folder`
    (spire.core.files.staged_files); an idf.json or lexical.json from an older save goes when
    this model has none.
    """
    from encoders.idf import save_idf_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with staged_files(folder, prefix=".model-tmp-") as staging:
        doc.mlm.save_pretrained(staging)
        doc.tokenizer.save_pretrained(staging)
        if idf is not None:
            save_idf_json(idf, doc.tokenizer, staging / "idf.json")
        if lexical.enabled:
            save_lexical(lexical, staging)
    # Files an older save left that this model does not have would change how it loads.
    if idf is None:
        remove_file(folder / "idf.json")
    if not lexical.enabled:
        remove_file(folder / LEXICAL_FILE)


def build_student(
    kind: str,
    init_model: str,
    idf: np.ndarray | None = None,
    *,
    learn_idf: bool = False,
    activation_threshold: float = 0.0,
    lexical: Lexical | None = None,
) -> InferenceFreeStudent | SiameseStudent:
    """A student initialised from a masked LM (registry name, folder or hub id)."""
    from encoders.loading import load_masked_lm, load_tokenizer

    tokenizer = load_tokenizer(init_model)
    mlm = load_masked_lm(init_model)
    doc = SpladeForward(mlm, tokenizer, activation_threshold)
    if kind == "siamese":
        return SiameseStudent(doc)
    if idf is None:
        raise ValueError("an inference-free student needs an IDF table")
    return InferenceFreeStudent(doc, idf, learn_idf, lexical)


def initial_idf(init_model: str, corpus: list[str], doc_max_length: int) -> np.ndarray:
    """The init model's own idf.json when it has one (continuing a trained inference-free
    model); else BM25 IDF over the training corpus, counted as encoders/idf.py counts it
    (over documents as tokenised and truncated for the encoder)."""
    from encoders.bm25 import bm25_idf
    from encoders.idf import document_frequencies, load_idf_json
    from encoders.loading import load_tokenizer
    from encoders.registry import resolve

    tokenizer = load_tokenizer(init_model)
    idf_file = Path(resolve(init_model)) / "idf.json"
    if idf_file.is_file():
        return load_idf_json(idf_file, tokenizer)
    df = document_frequencies(tokenizer, corpus, doc_max_length)
    return bm25_idf(df, len(corpus))


def build_from_config(config, corpus: list[str]) -> InferenceFreeStudent | SiameseStudent:
    """The student a TrainConfig describes; `corpus` is where its initial IDF is counted."""
    student = config.student
    idf = None
    lexical = None
    if student.kind == "inference-free":
        idf = initial_idf(student.init_model, corpus, student.doc_max_length)
        lexical = student.lexical(_mean_length(student, corpus))
    return build_student(
        student.kind,
        student.init_model,
        idf,
        learn_idf=student.learn_idf,
        activation_threshold=student.activation_threshold,
        lexical=lexical,
    )


def _mean_length(student, corpus: list[str]) -> float:
    """The training corpus's mean length in word pieces: the lexical term's avgdl
    (`student` is a StudentConfig)."""
    from encoders.lexical import mean_length
    from encoders.loading import load_tokenizer

    if not student.lexical_b or student.lexical_weight == 0:
        return 0.0
    return mean_length(load_tokenizer(student.init_model), corpus)
