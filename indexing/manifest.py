"""manifest.json: what an index folder holds, and how to read it back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from spire.core.choices import MODES
from spire.core.errors import SpireError

MANIFEST_FILE = "manifest.json"
FORMAT_NAME = "spire-index"
# Version 2 adds `compression`. An uncompressed index is still written as version 1, so
# that a spire which reads only version 1 opens it; a compressed one is version 2, so
# that such a spire refuses it with a clear message rather than a missing-file error.
FORMAT_VERSION = 1
FORMAT_VERSION_COMPRESSED = 2
SUPPORTED_VERSIONS = (1, 2)
COMPRESSIONS = ("none", "bitpack")  # how doc ids are stored; see indexing/postings_codec.py


@dataclass(frozen=True)
class Format:
    """One kind of manifest.json: its format name, the versions this spire reads, and
    how messages name it."""

    name: str
    versions: tuple[int, ...]
    label: str  # "index": "... is not a spire index", "index format version 3 ..."
    wrong: str  # the message for a manifest of another format
    others: tuple[tuple[str, str], ...] = ()  # (format name, what to do) for known others


M = TypeVar("M")


def read_manifest(folder: Path, fmt: Format, build: Callable[[dict], M]) -> M:
    """The manifest.json of `folder`, checked as `fmt` and built by `build` (a dataclass's
    `from_dict`); every problem is one SpireError line naming the file."""
    return parse_manifest(manifest_bytes(folder, fmt.label), folder / MANIFEST_FILE, fmt, build)


def manifest_bytes(folder: Path, label: str = "index") -> bytes:
    """The bytes of `folder`'s manifest.json; a missing folder or file is one line naming it
    (`label`: what the folder should have been)."""
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise SpireError(f"{folder}: no such index folder")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SpireError(f"{path}: missing; {folder} is not a spire {label}") from None


def parse_manifest(raw: bytes, path: Path, fmt: Format, build: Callable[[dict], M]) -> M:
    """`read_manifest` from the bytes of `path`: JSON, format, version, then the fields
    (`build` may raise KeyError or TypeError; the built object's `problem()` says what
    else is wrong)."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpireError(f"{path}: corrupt manifest ({exc})") from None
    found = obj.get("format") if isinstance(obj, dict) else None
    for name, advice in fmt.others:
        if found == name:
            raise SpireError(f"{path}: {advice}")
    if found != fmt.name:
        raise SpireError(f"{path}: {fmt.wrong}")
    version = obj.get("format_version")
    if version not in fmt.versions:
        raise SpireError(
            f"{path}: {fmt.label} format version {version!r} is not supported by this "
            f"spire (it reads {', '.join(map(str, fmt.versions))})"
        )
    try:
        manifest = build(obj)
    except (KeyError, TypeError) as exc:
        raise SpireError(f"{path}: malformed manifest ({exc})") from None
    if problem := manifest.problem():
        raise SpireError(f"{path}: malformed manifest ({problem})")
    return manifest


PLAIN = Format(
    FORMAT_NAME,
    SUPPORTED_VERSIONS,
    "index",
    "not a spire index manifest",
    others=(
        (
            "spire-segmented-index",
            "a segmented index (written by add/delete); open it with "
            "retrieval.open_index or indexing.incremental.SegmentStore",
        ),
    ),
)


# The postings arrays of an index folder: attribute -> relative path.
ARRAYS = {
    "indptr": "postings/indptr.npy",
    "doc_ids": "postings/doc_ids.npy",
    "impacts": "postings/impacts.npy",
}
# compression="bitpack": the doc ids as PackedDocIds' stored arrays instead of doc_ids.npy.
PACKED_ARRAYS = {
    "indptr": "postings/indptr.npy",
    "impacts": "postings/impacts.npy",
    "first": "postings/block_first.npy",
    "width": "postings/block_width.npy",
    "words": "postings/doc_words.npy",
}


def postings_files(compression: str) -> dict[str, str]:
    """attribute -> relative path of the postings arrays of an index so compressed."""
    return PACKED_ARRAYS if compression == "bitpack" else ARRAYS


@dataclass
class EncoderInfo:
    name: str
    mode: str
    query_max_length: int = 64
    doc_max_length: int = 256
    # The lexical term in each document vector, {"weight", "k1", "b", "avgdl"}
    # (encoders/lexical.py; b and avgdl may be absent: 0);
    # None (and absent from the manifest, as in every older one) when off.
    lexical: dict[str, float] | None = None

    @classmethod
    def of(cls, encoder, mode: str | None = None) -> EncoderInfo:
        """What an index records of the encoder that wrote its document vectors."""
        lexical = getattr(encoder, "lexical", None)
        return cls(
            name=encoder.name,
            mode=mode or encoder.mode,
            query_max_length=encoder.query_max_length,
            doc_max_length=encoder.doc_max_length,
            lexical=lexical.to_dict() if lexical is not None and lexical.enabled else None,
        )

    @property
    def static_queries(self) -> bool:
        """Are the queries a static table, the index's idf.npy (encoders/sides.py), rather
        than the model's outputs? The recorded mode says it."""
        return self.mode == "inference-free"

    def to_dict(self) -> dict:
        raw = asdict(self)
        if self.lexical is None:
            del raw["lexical"]  # an index without it reads as before, in any spire
        return raw

    def load_options(self) -> dict:
        """`encoders.load_encoder` keywords that encode new documents as these were."""
        lexical = self.lexical or {"weight": 0.0}
        return {
            "query_max_length": self.query_max_length,
            "doc_max_length": self.doc_max_length,
            "lexical_weight": lexical["weight"],
            "lexical_params": {k: v for k, v in lexical.items() if k != "weight"},
        }

    def type_problem(self) -> str:
        """Why the recorded mode or lexical term is malformed ("" when they are not)."""
        from encoders.lexical import FIELDS, Lexical

        if self.mode not in MODES:
            return f"encoder.mode {self.mode!r} is not one of {', '.join(MODES)}"
        lexical = self.lexical
        if lexical is None:
            return ""
        problem = "encoder.lexical must be {weight: number >= 0, k1: number > 0, b?, avgdl?}"
        if not (
            isinstance(lexical, dict)
            and {"weight", "k1"} <= set(lexical) <= set(FIELDS)
            and all(_is_number(v) for v in lexical.values())
        ):
            return problem
        try:
            Lexical(**lexical)
        except SpireError:
            return problem
        return ""


@dataclass
class Manifest:
    encoder: EncoderInfo
    vocab_size: int
    n_docs: int
    n_postings: int
    impact_dtype: str
    scale: float
    files: dict[str, dict] = field(default_factory=dict)  # relative path -> {bytes, sha256}
    compression: str = "none"  # absent from version 1 manifests, which are all "none"
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    created_with: str = ""
    created_at: str = ""

    def to_json(self) -> str:
        raw = {**asdict(self), "encoder": self.encoder.to_dict()}
        if self.compression == "none":
            del raw["compression"]  # a version 1 manifest, as older spire knows it
        return json.dumps(raw, indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return read_manifest(folder, PLAIN, cls.from_dict)

    @classmethod
    def from_dict(cls, raw: dict) -> Manifest:
        return cls(**{**raw, "encoder": EncoderInfo(**raw["encoder"])})

    def problem(self) -> str:
        """Why the fields are malformed ("" when they are not): `read_manifest` asks."""
        ints = ("vocab_size", "n_docs", "n_postings")
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return f"{name} must be a non-negative integer"
        if not isinstance(self.scale, int | float) or not self.scale > 0:
            return "scale must be a positive number"
        if problem := impact_dtype_problem(self.impact_dtype):
            return problem
        if self.compression not in COMPRESSIONS:
            return f"compression must be one of {', '.join(COMPRESSIONS)}"
        if self.compression != "none" and self.format_version < FORMAT_VERSION_COMPRESSED:
            return f"compression needs format version {FORMAT_VERSION_COMPRESSED}"
        if not isinstance(self.files, dict):
            return "files must be an object"
        for rel, meta in self.files.items():
            if problem := relative_path_problem(rel):
                return f"files[{rel!r}]: {problem}"
            if not (
                isinstance(meta, dict)
                and isinstance(meta.get("bytes"), int)
                and isinstance(meta.get("sha256"), str)
            ):
                return f"files[{rel!r}] must be {{bytes: int, sha256: str}}"
        return self.encoder.type_problem()


def impact_dtype_problem(dtype) -> str:
    """Why `dtype` is not an impact type the kernels are compiled for ("" when it is)."""
    from .quantize import DTYPES

    if not isinstance(dtype, str) or dtype not in DTYPES:
        return f"impact_dtype {dtype!r} is not one of {', '.join(DTYPES)}"
    return ""


def relative_path_problem(rel) -> str:
    """Why a path a manifest lists would leave its index folder ("" when it stays inside):
    an index is read from its own folder only, whatever its manifest says."""
    if not isinstance(rel, str) or not rel:
        return "not a relative path"
    parts = rel.replace("\\", "/").split("/")
    if parts[0] == "" or ":" in parts[0] or ".." in parts or "\0" in rel:
        return "bad path: it points outside the index folder"
    return ""


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
