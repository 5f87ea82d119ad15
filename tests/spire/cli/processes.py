"""`python -m spire` in a child process, for the checks only a process can make."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def spire_process(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m spire ARGS` in a child process (SPIRE_DEBUG unset), from the repository
    root."""
    env = {k: v for k, v in os.environ.items() if k != "SPIRE_DEBUG"}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return subprocess.run(
        [sys.executable, "-m", "spire", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
