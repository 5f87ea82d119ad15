"""regressions/*.json: each entry is a `spire ...` command and the metrics it must print.

The tests run each command in-process through the real CLI (`spire.cli.app`, with
`--json`), from the repository root as a user would type it, and read the metrics from its
JSON. Corpus-level work is shared between commands by eval/experiments/cache.py.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import string
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import REPO, shared_data_missing

REGRESSIONS = REPO / "regressions"
SHARED_PREFIX = "../shared/"


def regression_files() -> list[tuple[str, dict]]:
    """(file stem, its parsed JSON) for every regressions/*.json, in name order."""
    return [(p.stem, json.loads(p.read_text())) for p in sorted(REGRESSIONS.glob("*.json"))]


def in_command_form(spec: dict) -> bool:
    """Every entry a `command` and the `metrics` it prints (a file of another shape is
    checked by its own test until it is converted)."""
    return all("command" in e and "metrics" in e for e in spec["entries"])


def command_id(command: str) -> str:
    """A short test id: the command without `spire`, folders by their last name."""
    words = shlex.split(command)[1:]
    return " ".join(Path(w).name if "/" in w else w for w in words)


def run_spire(command: str, variables: dict[str, str] | None = None) -> dict:
    """Run `spire ...` in-process with --json (cwd: the repository root) and return the
    JSON it printed. `$NAME` in a word is replaced from `variables` (e.g. $OUT, a folder).
    A ../shared path that is missing skips the test (fails it in CI)."""
    words = shlex.split(command)
    assert words[0] == "spire", f"{command!r}: a regression command starts with 'spire'"
    argv = [string.Template(w).substitute(variables or {}) for w in words[1:]]
    for word in argv:
        if word.startswith(SHARED_PREFIX) and not (REPO / word).exists():
            shared_data_missing((REPO / word).resolve())
    if "--json" not in argv:
        argv.append("--json")
    from spire.cli import app

    with contextlib.chdir(REPO):  # the commands' relative paths are from the repository root
        result = CliRunner().invoke(app, argv, catch_exceptions=False)
    assert result.exit_code == 0, f"{command}: exit {result.exit_code}: {result.stderr[-2000:]}"
    return json.loads(result.stdout)


def mismatches(got: dict[str, float], expected: dict[str, float], tolerance: float) -> list[str]:
    """One line per metric outside expected ± tolerance."""
    return [
        f"{name} {got[name]:.4f}, expected {value} ± {tolerance}"
        for name, value in expected.items()
        if abs(got[name] - value) > tolerance
    ]
