"""The root manifest.json of a segmented index: the single commit point.

A segmented index is a folder whose manifest.json lists its segments (each an index
folder without its own IDF), each segment's tombstone file, and the query-side IDF
file. Every referenced file is listed with its size and sha256, so a truncated or
corrupted file is reported by name. A commit writes a new manifest beside the old one,
fsyncs it and renames it over manifest.json: readers see the old or the new index,
never a mixture. Files that no manifest references are garbage (see gc.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spire.core.errors import SpireError
from spire.core.files import write_text_atomic
from spire.core.hashing import sha256_file
from spire.core.verified import sha256_matches

from ..manifest import FORMAT_NAME as PLAIN_FORMAT
from ..manifest import (
    EncoderInfo,
    Format,
    impact_dtype_problem,
    manifest_bytes,
    now_iso,
    parse_manifest,
    relative_path_problem,
)

FORMAT_NAME = "spire-segmented-index"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MANIFEST = "manifest.json"
SEGMENTS_DIR = "segments"
TOMBSTONES_DIR = "tombstones"
IDF_DIR = "idf"
STAGING_DIR = "staging"
LOCK_FILE = ".lock"
MERGE_LOCK_FILE = ".merge.lock"
FORMAT = Format(
    FORMAT_NAME, SUPPORTED_VERSIONS, "segmented index", "not a segmented spire index manifest"
)


@dataclass
class FileRef:
    """A file relative to its folder, with the size and digest it must have."""

    file: str
    bytes: int
    sha256: str

    @classmethod
    def of(cls, folder: Path, rel: str) -> FileRef:
        path = folder / rel
        return cls(rel, path.stat().st_size, sha256_file(path))

    def check(self, folder: Path, verify: bool) -> Path:
        """The file's path, once its size (and with `verify` its sha256) matches."""
        path = folder / self.file
        if not path.is_file():
            raise SpireError(f"{path}: missing index file")
        size = path.stat().st_size
        if size != self.bytes:
            raise SpireError(
                f"{path}: truncated or altered ({size} bytes, manifest says {self.bytes})"
            )
        if verify and not sha256_matches(path, self.sha256):
            raise SpireError(f"{path}: corrupt (sha256 differs from the manifest)")
        return path


@dataclass
class SegmentEntry:
    """One segment: `segments/<name>/`, its files' checksums and its deleted documents."""

    name: str
    n_docs: int  # stored documents, deleted ones included
    n_postings: int
    scale: float
    files: dict[str, dict]  # path inside the segment folder -> {bytes, sha256}
    tombstones: FileRef | None = None  # sorted internal numbers of deleted documents
    n_deleted: int = 0

    @property
    def n_live(self) -> int:
        return self.n_docs - self.n_deleted

    @property
    def folder(self) -> str:
        return f"{SEGMENTS_DIR}/{self.name}"


@dataclass
class SegmentsManifest:
    encoder: EncoderInfo
    vocab_size: int
    impact_dtype: str
    generation: int = 0  # +1 per commit
    next_segment: int = 0  # segment names are never reused
    segments: list[SegmentEntry] = field(default_factory=list)
    idf: FileRef | None = None  # inference-free only; fixed until an explicit re-IDF
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    created_with: str = ""
    updated_at: str = ""

    def to_json(self) -> str:
        raw = {**asdict(self), "encoder": self.encoder.to_dict()}
        return json.dumps(raw, indent=1, sort_keys=True)

    @classmethod
    def parse(cls, raw: bytes, path: Path) -> SegmentsManifest:
        return parse_manifest(raw, path, FORMAT, cls.from_dict)

    @classmethod
    def from_dict(cls, obj: dict) -> SegmentsManifest:
        encoder = EncoderInfo(**obj["encoder"])
        idf = FileRef(**obj["idf"]) if obj.get("idf") else None
        segments = []
        for seg in obj["segments"]:
            tomb = seg.get("tombstones")
            segments.append(SegmentEntry(**{**seg, "tombstones": tomb and FileRef(**tomb)}))
        return cls(**{**obj, "encoder": encoder, "idf": idf, "segments": segments})

    def problem(self) -> str:
        """Why the fields are malformed ("" when they are not): `parse_manifest` asks."""
        return self.encoder.type_problem() or self._problem()

    def _problem(self) -> str:
        """An unsupported impact type, or a listed file outside the index folder."""
        if problem := impact_dtype_problem(self.impact_dtype):
            return problem
        paths = [ref.file for ref in (self.idf, *(s.tombstones for s in self.segments)) if ref]
        for seg in self.segments:
            if not isinstance(seg.name, str) or relative_path_problem(seg.name) or "/" in seg.name:
                return f"segment name {seg.name!r}: bad path (one folder under {SEGMENTS_DIR}/)"
            paths += [f"{seg.folder}/{rel}" for rel in seg.files]
        for rel in paths:
            if problem := relative_path_problem(rel):
                return f"{rel!r}: {problem}"
        return ""

    def n_live(self) -> int:
        return sum(s.n_live for s in self.segments)

    def referenced(self) -> set[str]:
        """Paths (relative to the root) that this manifest needs: everything else is garbage."""
        refs = {seg.folder for seg in self.segments}
        refs |= {seg.tombstones.file for seg in self.segments if seg.tombstones}
        if self.idf is not None:
            refs.add(self.idf.file)
        return refs


def manifest_kind(folder: Path) -> tuple[str, bytes]:
    """("plain" | "segmented", raw manifest bytes) for an index folder."""
    raw = manifest_bytes(folder)
    return kind_of(raw, folder / MANIFEST), raw


def kind_of(raw: bytes, path: Path) -> str:
    """The index kind, "plain" (`InvertedIndex.save`) or "segmented", from manifest bytes."""
    try:
        fmt = json.loads(raw).get("format")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise SpireError(f"{path}: corrupt manifest ({exc})") from None
    if fmt == FORMAT_NAME:
        return "segmented"
    if fmt == PLAIN_FORMAT:
        return "plain"
    raise SpireError(f"{path}: not a spire index manifest")


def write_manifest(folder: Path, manifest: SegmentsManifest) -> bytes:
    """The commit: write beside manifest.json, fsync, rename over it, fsync the folder."""
    from spire.core.version import __version__

    manifest.created_with = manifest.created_with or f"spire {__version__}"
    manifest.updated_at = now_iso()
    text = manifest.to_json()
    write_text_atomic(folder / MANIFEST, text)
    return text.encode("utf-8")
