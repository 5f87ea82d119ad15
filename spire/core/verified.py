"""Remember files whose sha256 was checked, so that reopening an index does not hash it again.

An index is written once and never modified, yet every `spire search` is a new process
that opens it afresh: hashing every file each time read the whole index per query. A
file whose digest matched is remembered by an empty marker file under
$SPIRE_HOME/verified/ (default ~/.cache/spire/verified), named by a digest of the file's
path, device, inode, size, modification and change times and the expected sha256. Any
write to the file, a copy, or a replacement changes one of those, so the marker no longer
matches and the file is hashed again; the change time cannot be set back by a user
(`touch` sets only the modification time), and sizes are checked on every open anyway.

A file changed within RACY_SECONDS is never remembered: timestamps are coarse (a few
milliseconds), so a same-size rewrite right after the check could keep its stamp (git's
"racy clean" problem). Markers are an optimisation only: when the folder cannot be
written, every open hashes, as before.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from .hashing import sha256_file

RACY_SECONDS = 2.0


def markers_dir() -> Path:
    home = os.environ.get("SPIRE_HOME", str(Path.home() / ".cache" / "spire"))
    return Path(home).expanduser() / "verified"


def _marker(path: Path, st: os.stat_result, sha256: str) -> str:
    fields = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
              st.st_ctime_ns, sha256)  # fmt: skip
    return hashlib.sha256("\0".join(map(str, fields)).encode()).hexdigest()


def sha256_matches(path: Path, sha256: str | None) -> bool:
    """Whether the file's sha256 is `sha256`: hashed unless this very file (unchanged
    since) was found to match before."""
    st = os.stat(path)
    marker = markers_dir() / _marker(path, st, str(sha256))
    if marker.exists():
        return True
    if sha256 is None or sha256_file(path) != sha256:
        return False
    settled = time.time() - max(st.st_mtime, st.st_ctime) > RACY_SECONDS
    if settled and _marker(path, os.stat(path), str(sha256)) == marker.name:  # unchanged
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # read-only home: the next open hashes again
    return True
