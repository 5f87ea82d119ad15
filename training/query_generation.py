"""Pseudo-queries written by a small causal LM (doc2query-style), for distillation without
labels: a generated query paraphrases its document, so exact matching alone does not find
the document and the teachers' grades carry information (verbatim sentences do not).

The generator is prompted with a few hand-written (passage, query) pairs, none taken from
any evaluation collection, and decodes greedily (one query per document) or by seeded
sampling (several). Queries are cached on disk per (generator, settings, document text),
so a rerun, another seed or another run over an overlapping document set generates only
what is new, and an interrupted generation resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from encoders.loading import first_line, from_pretrained
from encoders.registry import resolve, spire_home
from spire.core.errors import SpireError
from spire.core.files import read_json_object, write_text_atomic

DEFAULT_GENERATOR = "smollm2-135m"

# Hand-written, generic; no query of any evaluation collection.
SHOTS = (
    (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. "
        "It is 330 metres tall and was completed in 1889.",
        "how tall is the eiffel tower",
    ),
    (
        "Vitamin D deficiency in adults causes bone pain and muscle weakness, and over "
        "years softens the bones (osteomalacia).",
        "symptoms of vitamin d deficiency in adults",
    ),
    (
        "Regular aerobic exercise lowers resting blood pressure in adults with hypertension "
        "by about 5 to 7 mmHg, according to a meta-analysis of randomised trials.",
        "does exercise reduce blood pressure in hypertension",
    ),
    (
        "Photosynthesis converts light energy into chemical energy stored in glucose. "
        "It takes place in the chloroplasts of plant cells.",
        "where does photosynthesis take place",
    ),
)
PROMPT_VERSION = 1  # bump when SHOTS or the prompt's layout change (it is in the cache key)


@dataclass(frozen=True)
class GenerationSettings:
    doc_tokens: int = 160  # the document is cut to this many generator tokens
    max_new_tokens: int = 24
    batch_size: int = 16
    per_doc: int = 1  # > 1 samples (top-p 0.9, temperature 0.8) instead of greedy decoding
    seed: int = 13  # only used when sampling

    def key(self, generator: str) -> str:
        sampled = self.per_doc > 1
        parts = [generator, PROMPT_VERSION, self.doc_tokens, self.max_new_tokens, self.per_doc]
        parts.append(self.seed if sampled else None)
        return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def generate_queries(
    texts: list[str],
    generator: str = DEFAULT_GENERATOR,
    settings: GenerationSettings | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> list[list[str]]:
    """Queries for each text (an empty list where the generator wrote nothing usable)."""
    settings = settings or GenerationSettings()
    cache = QueryCache(_cache_root(cache_dir) / f"{settings.key(generator)}.json")
    todo = sorted({t for t in texts if cache.get(t) is None}, key=len)
    if todo:
        _generate_into(cache, todo, generator, settings, show_progress)
    return [cache.get(t) for t in texts]


class QueryCache:
    """text digest -> queries, one JSON file rewritten atomically after every batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[str]] = {}
        if path.is_file():
            entries = read_json_object(path, "a generated-query cache")
            if not all(isinstance(v, list) for v in entries.values()):
                raise SpireError(f"{path}: not a generated-query cache (values must be lists)")
            self.entries = entries

    @staticmethod
    def digest(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def get(self, text: str) -> list[str] | None:
        return self.entries.get(self.digest(text))

    def put(self, text: str, queries: list[str]) -> None:
        self.entries[self.digest(text)] = queries

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps(self.entries))


def _cache_root(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return spire_home() / "generated-queries"


def _generate_into(cache, texts, generator, settings, show_progress) -> None:
    from tqdm.auto import tqdm

    model, tokenizer = load_generator(generator)
    batches = [
        texts[i : i + settings.batch_size] for i in range(0, len(texts), settings.batch_size)
    ]
    bar = tqdm(total=len(texts), desc="generating queries", unit="doc", disable=not show_progress)
    for n, batch in enumerate(batches):
        made = _generate_batch(model, tokenizer, batch, settings, n)
        for text, queries in zip(batch, made, strict=True):
            cache.put(text, queries)
        cache.save()
        bar.update(len(batch))
    bar.close()


def _generate_batch(model, tokenizer, texts, settings, batch_number) -> list[list[str]]:
    import torch

    prompts = [_prompt(tokenizer, text, settings.doc_tokens) for text in texts]
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    options = {"max_new_tokens": settings.max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
    if settings.per_doc > 1:
        torch.manual_seed(settings.seed * 100_003 + batch_number)
        options.update(do_sample=True, top_p=0.9, temperature=0.8)
        options["num_return_sequences"] = settings.per_doc
    else:
        options["do_sample"] = False
    with torch.no_grad():
        out = model.generate(**enc.to(model.device), **options)
    decoded = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    per = settings.per_doc
    return [_clean(decoded[i * per : (i + 1) * per]) for i in range(len(texts))]


def _prompt(tokenizer, text: str, doc_tokens: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:doc_tokens]
    passage = " ".join(tokenizer.decode(ids).split())
    shots = "".join(f"Passage: {p}\nQuery: {q}\n\n" for p, q in SHOTS)
    return f"{shots}Passage: {passage}\nQuery:"


def _clean(outputs: list[str]) -> list[str]:
    """The first line of each output; no repeats, no copies of a shot, at least two words."""
    shot_queries = {q for _, q in SHOTS}
    kept: list[str] = []
    for output in outputs:
        query = " ".join(output.strip().split("\n", 1)[0].split())
        if len(query.split()) >= 2 and query not in shot_queries and query not in kept:
            kept.append(query)
    return kept


def load_generator(name: str):
    """A causal LM and its tokenizer from a registry name, a local folder (a Hugging Face
    folder, or one holding a single .gguf file) or a hub id; in eval mode, left-padded."""
    import torch
    from transformers import AutoModelForCausalLM

    # `source` is resolved: a registry generator is passed on as its folder.
    source, options = _locate(name)
    tokenizer = _tokenizer(name, source, options)
    with _load_errors(name):
        model = from_pretrained(
            AutoModelForCausalLM.from_pretrained, source, dtype=torch.float32, **options
        )
    return model.eval(), tokenizer


def check_generator(name: str) -> None:
    """Fail now, in one line, if `name` cannot be loaded (its tokenizer is the cheap part)."""
    _tokenizer(name, *_locate(name))


def _locate(name: str) -> tuple[str, dict]:
    source = resolve(name)
    folder = Path(source)
    ggufs = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    if ggufs and not (folder / "config.json").is_file():
        return source, {"gguf_file": ggufs[0].name}  # transformers de-quantises it to float32
    return source, {}


def _tokenizer(name: str, source: str, options: dict):
    from transformers import AutoTokenizer

    with _load_errors(name):
        tokenizer = from_pretrained(AutoTokenizer.from_pretrained, source, **options)
    tokenizer.padding_side = "left"  # generation continues every prompt from its end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@contextmanager
def _load_errors(name: str):
    try:
        yield
    except (OSError, ValueError, ImportError) as exc:
        message = f"query generator {name!r} could not be loaded: {first_line(exc)}"
        raise SpireError(message) from None
