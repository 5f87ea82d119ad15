"""Streaming readers for jsonl and qrels TSV files whose errors name the file and line."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from spire.core.errors import SpireError


def _open_bytes(path: Path):
    if not path.is_file():
        raise SpireError(f"{path}: no such file")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, decoded text) for each non-blank line; bad UTF-8 names its line.

    A UTF-8 byte order mark at the start of the file (as some Windows editors write) is
    dropped, as Python's utf-8-sig codec and most JSON readers do."""
    lineno = 0
    with _open_bytes(path) as f:
        lines = iter(f)
        while True:
            try:
                raw = next(lines, None)
            except (EOFError, OSError, zlib.error) as exc:  # a truncated or corrupt gzip
                raise SpireError(
                    f"{path}: unreadable after line {lineno} ({_why(exc)}); every line "
                    "before it was read"
                ) from None
            if raw is None:
                return
            lineno += 1
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise SpireError(
                    f"{path}:{lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
                ) from None
            if line.strip():
                yield lineno, line


def _why(exc: Exception) -> str:
    if isinstance(exc, EOFError):
        return "the compressed file ends early: truncated"
    return f"{type(exc).__name__}: {exc}"


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for lineno, line in read_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpireError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise SpireError(f"{path}:{lineno}: expected a JSON object")
        yield lineno, record


def field(
    record: dict, names: tuple[str, ...], path: Path, lineno: int, required: bool = True
) -> str:
    """The first of `names` present in `record`, as a string."""
    for name in names:
        value = record.get(name)
        if value is not None:
            if not isinstance(value, str | int):
                raise SpireError(f"{path}:{lineno}: field {name!r} must be a string")
            return str(value)
    if required:
        raise SpireError(f"{path}:{lineno}: missing field {' or '.join(map(repr, names))}")
    return ""


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (query-id, corpus-id, score, with a header) or TREC qrels."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in read_lines(path):
        parts = line.split()
        if lineno == 1 and parts[:2] == ["query-id", "corpus-id"]:
            continue
        if len(parts) == 4:  # TREC: qid iteration docid rel
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise SpireError(f"{path}:{lineno}: expected 'query-id corpus-id score'")
        try:
            rel = int(float(parts[2]))
        except ValueError:
            raise SpireError(f"{path}:{lineno}: relevance {parts[2]!r} is not a number") from None
        qrels.setdefault(parts[0], {})[parts[1]] = rel
    return qrels
