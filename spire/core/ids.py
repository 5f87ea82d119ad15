"""The one rule for document ids, used by every reader: the corpus loader (`spire index`,
`spire add`), `spire delete`, the Python API (`build_index`, `InvertedIndex`), the
incremental store and the HTTP server.

A document id is a str that
- is not empty, and has no leading or trailing whitespace (`spire delete` reads one id
  a line and strips it, so such an id could not be named there);
- holds no control characters (Unicode Cc, such as newline or tab), line or paragraph
  separators (Zl, Zp) or lone surrogates (Cs): each would break a line-oriented id file,
  a log line or a TREC run file;
- is at most MAX_ID_BYTES bytes in UTF-8: 512, the `_id` limit of OpenSearch and
  Elasticsearch, so that every index can be exported there (`spire export`);
- is unique within one index (or one add).

Python ints (not bools) are converted to their decimal str explicitly, and reload as
that str. Reading an index never applies the rule, so an index written before it still
opens; the store's own delete also takes any str, so such ids can still be removed from
Python.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from numbers import Integral

from spire.core.errors import ArgumentError

MAX_ID_BYTES = 512
_FORBIDDEN = ("Cc", "Cs", "Zl", "Zp")


def id_problem(docid: str) -> str:
    """What is wrong with the str `docid` as a document id ("" when nothing)."""
    if not docid:
        return "must not be empty"
    if docid != docid.strip():
        return "must not start or end with whitespace"
    for char in docid:
        if unicodedata.category(char) in _FORBIDDEN:
            return f"must not contain control characters (U+{ord(char):04X})"
    if len(docid.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"must be at most {MAX_ID_BYTES} bytes in UTF-8"
    return ""


def as_id(value: object, where: str = "document id") -> str:
    """`value` as a document id (an int becomes its decimal str), or an ArgumentError
    that starts with `where` (a file and line, or an argument name)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = str(int(value))
    if not isinstance(value, str):
        raise ArgumentError(f"{where}: a document id must be a str, not {type(value).__name__}")
    problem = id_problem(value)
    if problem:
        raise ArgumentError(f"{where}: document id {_shown(value)} {problem}")
    return value


def check_ids(ids: Iterable[object], name: str = "ids") -> list[str]:
    """Every id of `ids` checked by `as_id`, and no id twice; errors name `name[i]`."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | Iterable):
        raise ArgumentError(f"{name}: must be a list of document ids, not {type(ids).__name__}")
    checked: list[str] = []
    first: dict[str, int] = {}
    for i, value in enumerate(ids):
        docid = as_id(value, f"{name}[{i}]")
        if docid in first:
            raise ArgumentError(
                f"{name}[{i}]: duplicate document id {_shown(docid)} (first at {first[docid]})"
            )
        first[docid] = i
        checked.append(docid)
    return checked


def _shown(docid: str) -> str:
    """The id for a one-line message: repr (so a newline shows as \\n), shortened."""
    text = repr(docid)
    return text if len(text) <= 80 else f"{text[:60]}...' ({len(docid)} chars)"
