"""TrainConfig: every knob of a training run, as one flat dataclass (JSON in, JSON out).

Checked before any model is loaded or any step is taken: unknown fields, wrong types,
values out of range and combinations that make no sense fail with one SpireError line.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from spire.errors import SpireError
from spire.files import read_json_object

DOC_REGULARIZERS = ("none", "flops", "idf-flops")
NEGATIVE_SOURCES = ("bm25", "index", "data")
PSEUDO_KINDS = ("title", "sentence", "span", "ict", "generated")
NORMALISATIONS = ("minmax", "zscore")
DEV_MODES = ("corpus", "pool")


@dataclass
class TrainConfig:
    """A training run. Paths are strings so the config round-trips through JSON."""

    output: str  # model folder to write (checkpoints/ and log.jsonl go inside it)
    # Data: a BEIR folder (its `train_split` qrels only) or a triples jsonl, and/or corpora
    # to make pseudo-queries from (no labels needed: teachers grade the candidates).
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
    dev_seed: int | None = None  # picks the held-out queries (None: seed); runs with other
    # seeds can then be compared on one dev set
    dev_mode: str = "corpus"  # corpus: search the source's whole corpus | pool: re-rank pools
    dev_doc_max_length: int | None = None  # dev documents' length (None: doc_max_length)
    max_queries: int = 0  # keep at most this many training queries per source (0: all)
    # Student
    student: str = "inference-free"  # or "siamese"
    init_model: str = "splade-tiny"
    learn_idf: bool = False
    idf_lr: float | None = None  # defaults to lr
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
    # Optimisation
    seed: int = 13
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_steps: int = 0
    max_grad_norm: float | None = None
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads for torch during the run (0: torch's default)
    # Losses
    infonce_weight: float = 1.0
    in_batch_negatives: bool = True
    kl_weight: float = 0.0
    margin_mse_weight: float = 0.0
    temperature: float = 1.0
    doc_regularizer: str = "idf-flops"  # none | flops | idf-flops
    flops_d_lambda: float = 1e-3
    flops_d_warmup: int = 200  # quadratic warm-up steps (OpenSearch's flops_d_T)
    flops_q_lambda: float = 0.0  # siamese only: the query side has no model otherwise
    flops_q_warmup: int = 200
    flops_start: int = 0  # lambda is 0 up to this step
    l0_doc_threshold: int | None = None  # FLOPS only on docs with more terms than this
    # Teachers: spec -> weight, e.g. {"dense:all-MiniLM-L6-v2": 1, "splade:splade-tiny": 1}
    teachers: dict[str, float] = field(default_factory=dict)
    teacher_norm: str = "minmax"
    score_scale: float = 30.0
    teacher_cache: str | None = None  # default: $SPIRE_HOME/teacher-scores
    # Run control
    eval_every: int = 0
    save_every: int = 0
    log_every: int = 10
    resume: str | None = None  # a checkpoint folder, or an output folder (its latest one)
    overwrite: bool = False
    show_progress: bool = True

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> TrainConfig:
        if not isinstance(data, dict):
            raise SpireError(f"{source}: expected a JSON object of config fields")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SpireError(
                f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        missing = [n for n, f in known.items() if _required(f) and n not in data]
        if missing:
            raise SpireError(f"{source}: missing required field {missing[0]!r}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            _check_type(name, value, hints[name], source)
        config = cls(**data)
        config.check(source)
        return config

    @classmethod
    def from_json(cls, path: str | Path, overrides: dict | None = None) -> TrainConfig:
        path = Path(path)
        data = read_json_object(path, "a JSON object of config fields")
        return cls.from_dict({**data, **(overrides or {})}, str(path))

    def to_dict(self) -> dict:
        return asdict(self)

    def lexical(self, avgdl: float):
        """The student's encoders.lexical.Lexical (on by default for inference-free), with
        `avgdl` the training corpus's mean length in word pieces."""
        from encoders.lexical import Lexical

        weight = self.lexical_weight
        if weight is None:
            weight = 1.0 if self.student == "inference-free" else 0.0
        if weight == 0:
            return Lexical()
        avgdl = avgdl if self.lexical_b else 0.0
        return Lexical(weight, self.lexical_k1, self.lexical_b, avgdl, self.lexical_stem_class_max)

    def check(self, source: str = "config") -> None:
        """Ranges and combinations; types were checked by from_dict."""
        for problem in _problems(self):
            raise SpireError(f"{source}: {problem}")


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _check_type(name: str, value, hint, source: str) -> None:
    if not _matches(value, hint):
        shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        raise SpireError(f"{source}: field {name!r} must be {shown}, not {value!r}")


def _matches(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # JSON writes 1.0 as 1
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _matches(k, key) and _matches(v, item) for k, v in value.items()
        )
    return isinstance(value, hint)


def _problems(c: TrainConfig):  # a flat list of independent checks
    choices = {
        "student": ("inference-free", "siamese"),
        "doc_regularizer": DOC_REGULARIZERS,
        "negatives_from": NEGATIVE_SOURCES,
        "pseudo_query_kind": PSEUDO_KINDS,
        "teacher_norm": NORMALISATIONS,
        "device": ("auto", "cpu", "cuda"),
        "dev_mode": DEV_MODES,
    }
    for name, allowed in choices.items():
        if getattr(c, name) not in allowed:
            yield f"{name} must be one of {', '.join(allowed)}, not {getattr(c, name)!r}"
    positive = ["steps", "batch_size", "query_max_length", "doc_max_length", "log_every"]
    for name in positive:
        if getattr(c, name) < 1:
            yield f"{name} must be at least 1"
    for name in [
        "negatives",
        "dev_queries",
        "max_queries",
        "threads",
        "warmup_steps",
        "eval_every",
        "save_every",
    ]:
        if getattr(c, name) < 0:
            yield f"{name} must not be negative"
    if c.dev_seed is not None and c.dev_seed < 0:
        yield "dev_seed must not be negative (or null: seed)"
    if c.dev_doc_max_length is not None and c.dev_doc_max_length < 1:
        yield "dev_doc_max_length must be at least 1 (or null: doc_max_length)"
    if c.lr <= 0 or c.temperature <= 0 or c.score_scale <= 0:
        yield "lr, temperature and score_scale must be positive"
    if c.train_data is None and not c.pseudo_queries_from:
        yield "no training data: set train_data and/or pseudo_queries_from"
    if c.train_split.lower() in ("test", "dev", "validation", "val"):
        yield f"train_split {c.train_split!r} is an evaluation split; training never reads it"
    if c.infonce_weight + c.kl_weight + c.margin_mse_weight <= 0:
        yield "no ranking loss: set infonce_weight, kl_weight or margin_mse_weight above 0"
    if (c.kl_weight > 0 or c.margin_mse_weight > 0) and not c.teachers:
        yield "kl_weight and margin_mse_weight need teachers to distil from"
    if (c.kl_weight > 0 or c.margin_mse_weight > 0 or c.teachers) and c.negatives < 1:
        yield "distillation needs at least one negative per query (negatives >= 1)"
    if any(w < 0 for w in c.teachers.values()) or (c.teachers and sum(c.teachers.values()) <= 0):
        yield "teacher weights must be non-negative and not all 0"
    if c.student == "siamese" and (c.learn_idf or c.doc_regularizer == "idf-flops"):
        yield "learn_idf and doc_regularizer 'idf-flops' apply to inference-free students only"
    if c.student == "siamese" and (c.lexical_weight or 0) > 0:
        yield "lexical_weight applies to inference-free students only (queries have no model)"
    if (c.lexical_weight is not None and c.lexical_weight < 0) or c.lexical_k1 <= 0:
        yield "lexical_weight must not be negative and lexical_k1 must be positive"
    if not 0 <= c.lexical_b <= 1:
        yield "lexical_b must be between 0 and 1"
    if c.lexical_stem_class_max < 0:
        yield "lexical_stem_class_max must not be negative (0: no stemming)"
    if c.student == "inference-free" and c.flops_q_lambda > 0:
        yield "flops_q_lambda needs a siamese student (inference-free queries have no model)"
    if c.negatives_from == "data" and c.pseudo_queries_from:
        yield "negatives_from 'data' reads the triples' own negatives; pseudo-queries have none"
