"""The six sections of a TrainConfig: data, student, losses, teachers, optimiser, run.

Each section is a dataclass that checks its own fields (`problems` yields one line per
mistake, naming the field as `section.field`); checks that span sections live in
training/config.py. Field names are the flat names of configs written before the
sections, except where the section already says it (student.kind was `student`,
teachers.norm `teacher_norm`, teachers.cache `teacher_cache`, teachers.weights
`teachers`, losses.weights the `*_weight` fields of the ranking losses).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .losses import LOSSES

STUDENTS = ("inference-free", "siamese")
NEGATIVE_SOURCES = ("bm25", "index", "data")
PSEUDO_KINDS = ("title", "sentence", "span", "ict", "generated")
NORMALISATIONS = ("minmax", "zscore")
DEV_MODES = ("corpus", "pool")
DEVICES = ("auto", "cpu", "cuda")
EVALUATION_SPLITS = ("test", "dev", "validation", "val")


def _choice(section: str, name: str, value: str, allowed: tuple[str, ...]) -> Iterator[str]:
    if value not in allowed:
        yield f"{section}.{name} must be one of {', '.join(allowed)}, not {value!r}"


def _at_least(section: str, item, names: tuple[str, ...], low: int) -> Iterator[str]:
    for name in names:
        if getattr(item, name) < low:
            rule = "be at least 1" if low == 1 else "not be negative"
            yield f"{section}.{name} must {rule}"


@dataclass
class DataConfig:
    """Training examples: a BEIR folder (its `train_split` qrels only) or a triples jsonl,
    and/or corpora to make pseudo-queries from (no labels needed: teachers grade them)."""

    train_data: str | None = None
    train_split: str = "train"
    pseudo_queries_from: list[str] = field(default_factory=list)
    pseudo_query_kind: str = "sentence"
    pseudo_queries_per_doc: int = 1
    pseudo_max_docs: int = 2000
    query_generator: str = "smollm2-135m"  # the causal LM of pseudo_query_kind "generated"
    negatives: int = 1  # hard negatives per query
    negatives_from: str = "bm25"  # bm25 | index (our own index) | data (the triples' own)
    negatives_model: str = "splade-tiny"  # encoder of the "index" miner
    negatives_depth: int = 30  # negatives are drawn from this many top hits
    dev_queries: int = 0  # held out of the training queries for periodic evaluation
    dev_seed: int | None = None  # picks the held-out queries (None: run.seed); runs with
    # other seeds can then be compared on one dev set
    dev_mode: str = "corpus"  # corpus: search the source's whole corpus | pool: re-rank pools
    dev_doc_max_length: int | None = None  # dev documents' length (None: doc_max_length)
    max_queries: int = 0  # keep at most this many training queries per source (0: all)

    def problems(self) -> Iterator[str]:
        yield from _choice("data", "negatives_from", self.negatives_from, NEGATIVE_SOURCES)
        yield from _choice("data", "pseudo_query_kind", self.pseudo_query_kind, PSEUDO_KINDS)
        yield from _choice("data", "dev_mode", self.dev_mode, DEV_MODES)
        yield from _at_least("data", self, ("negatives", "dev_queries", "max_queries"), 0)
        if self.dev_seed is not None and self.dev_seed < 0:
            yield "data.dev_seed must not be negative (or null: run.seed)"
        if self.dev_doc_max_length is not None and self.dev_doc_max_length < 1:
            yield "data.dev_doc_max_length must be at least 1 (or null: doc_max_length)"
        if self.train_data is None and not self.pseudo_queries_from:
            yield "no training data: set train_data and/or pseudo_queries_from"
        if self.train_split.lower() in EVALUATION_SPLITS:
            split = self.train_split
            yield f"train_split {split!r} is an evaluation split; training never reads it"
        if self.negatives_from == "data" and self.pseudo_queries_from:
            yield "negatives_from 'data' reads the triples' own negatives; pseudo-queries have none"


@dataclass
class StudentConfig:
    """The model being trained and how it reads text."""

    kind: str = "inference-free"  # or "siamese"
    init_model: str = "splade-tiny"
    learn_idf: bool = False
    query_max_length: int = 64
    doc_max_length: int = 256
    activation_threshold: float = 0.0  # zero smaller activations in the training forward
    # Inference-free only: add weight * saturated tf of each document's own word pieces to
    # its vector (encoders/lexical.py), so the student learns what BM25 over word pieces
    # misses. None: 1.0 for inference-free students, off for siamese ones.
    lexical_weight: float | None = None
    lexical_k1: float = 0.9
    lexical_b: float = 0.4  # BM25 length normalisation against the training corpus's avgdl
    # Count a word's Snowball stem class of at most this many word pieces as one term
    # (0: exact word pieces only); encoders/lexical.py.
    lexical_stem_class_max: int = 4

    def lexical(self, avgdl: float):
        """The student's encoders.lexical.Lexical (on by default for inference-free), with
        `avgdl` the training corpus's mean length in word pieces."""
        from encoders.lexical import Lexical

        weight = self.lexical_weight
        if weight is None:
            weight = 1.0 if self.kind == "inference-free" else 0.0
        if weight == 0:
            return Lexical()
        avgdl = avgdl if self.lexical_b else 0.0
        return Lexical(weight, self.lexical_k1, self.lexical_b, avgdl, self.lexical_stem_class_max)

    def problems(self) -> Iterator[str]:
        yield from _choice("student", "kind", self.kind, STUDENTS)
        yield from _at_least("student", self, ("query_max_length", "doc_max_length"), 1)
        if self.kind == "siamese" and self.learn_idf:
            yield "student.learn_idf applies to inference-free students only"
        if self.kind == "siamese" and (self.lexical_weight or 0) > 0:
            yield "lexical_weight applies to inference-free students only (queries have no model)"
        if self.lexical_weight is not None and self.lexical_weight < 0:
            yield "student.lexical_weight must not be negative"
        if self.lexical_k1 <= 0:
            yield "student.lexical_k1 must be positive"
        if not 0 <= self.lexical_b <= 1:
            yield "student.lexical_b must be between 0 and 1"
        if self.lexical_stem_class_max < 0:
            yield "student.lexical_stem_class_max must not be negative (0: no stemming)"


def _default_weights() -> dict[str, float]:
    return {"infonce": 1.0}


@dataclass
class LossesConfig:
    """Which losses of the registry (training/losses) a step sums, and their settings."""

    # Ranking losses by registry name -> weight (0 or absent: off).
    weights: dict[str, float] = field(default_factory=_default_weights)
    in_batch_negatives: bool = True
    temperature: float = 1.0
    doc_regularizer: str = "idf-flops"  # none | a "document" loss of the registry
    flops_d_lambda: float = 1e-3
    flops_d_warmup: int = 200  # quadratic warm-up steps (OpenSearch's flops_d_T)
    flops_q_lambda: float = 0.0  # siamese only: the query side has no model otherwise
    flops_q_warmup: int = 200
    flops_start: int = 0  # lambda is 0 up to this step
    l0_doc_threshold: int | None = None  # FLOPS only on docs with more terms than this

    def problems(self) -> Iterator[str]:
        ranking = tuple(n for n, loss in LOSSES.items() if loss.kind == "ranking")
        for name in self.weights:
            if name not in ranking:
                known = ", ".join(ranking)
                yield f"losses.weights: {name!r} is no ranking loss (registered: {known})"
        documents = ("none", *(n for n, loss in LOSSES.items() if loss.kind == "document"))
        yield from _choice("losses", "doc_regularizer", self.doc_regularizer, documents)
        if sum(self.weights.values()) <= 0:
            yield (
                "no ranking loss: set a weight above 0 in losses.weights "
                f"({', '.join(ranking)}; flat: infonce_weight, kl_weight, margin_mse_weight)"
            )
        if self.temperature <= 0:
            yield "losses.temperature must be positive"


@dataclass
class TeachersConfig:
    """Teachers to distil from: spec -> weight, e.g. {"dense:all-MiniLM-L6-v2": 1,
    "splade:splade-tiny": 1}, and how their scores are mixed."""

    weights: dict[str, float] = field(default_factory=dict)
    norm: str = "minmax"
    score_scale: float = 30.0
    cache: str | None = None  # default: $SPIRE_HOME/teacher-scores

    def active(self) -> dict[str, float]:
        return {spec: w for spec, w in self.weights.items() if w > 0}

    def problems(self) -> Iterator[str]:
        yield from _choice("teachers", "norm", self.norm, NORMALISATIONS)
        if self.score_scale <= 0:
            yield "teachers.score_scale must be positive"
        weights = self.weights.values()
        if any(w < 0 for w in weights) or (self.weights and sum(weights) <= 0):
            yield "teacher weights must be non-negative and not all 0"


@dataclass
class OptimiserConfig:
    """AdamW and its schedule."""

    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-5
    idf_lr: float | None = None  # defaults to lr
    weight_decay: float = 0.01
    warmup_steps: int = 0
    max_grad_norm: float | None = None

    def problems(self) -> Iterator[str]:
        yield from _at_least("optimiser", self, ("steps", "batch_size"), 1)
        yield from _at_least("optimiser", self, ("warmup_steps",), 0)
        if self.lr <= 0:
            yield "optimiser.lr must be positive"


@dataclass(kw_only=True)
class RunConfig:
    """Where the run writes, how it repeats, and how often it reports."""

    output: str  # model folder to write (checkpoints/ and log.jsonl go inside it)
    seed: int = 13
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads for torch during the run (0: torch's default)
    eval_every: int = 0
    save_every: int = 0
    log_every: int = 10
    resume: str | None = None  # a checkpoint folder, or an output folder (its latest one)
    overwrite: bool = False
    show_progress: bool = True

    def problems(self) -> Iterator[str]:
        yield from _choice("run", "device", self.device, DEVICES)
        yield from _at_least("run", self, ("log_every",), 1)
        yield from _at_least("run", self, ("threads", "eval_every", "save_every"), 0)


SECTIONS = {
    "data": DataConfig,
    "student": StudentConfig,
    "losses": LossesConfig,
    "teachers": TeachersConfig,
    "optimiser": OptimiserConfig,
    "run": RunConfig,
}
