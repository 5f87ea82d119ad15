"""Every number in regressions/*.json, re-measured by running its command (Pyserini's
"2CR": a condition is a command, and docs/results.md is rendered from the same files).

A file's `before` commands (regressions/training.json: `spire train`) run once per
session, with $OUT a fresh folder; its entries then evaluate what they wrote. An entry's
own `before` commands (regressions/sparsity.json: `spire prune`) run once per session too,
after the file's, and only when an entry that names them runs (a `full` one's model is
not made in `make test`).
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.regression_commands import (
    command_id,
    in_command_form,
    mismatches,
    regression_files,
    run_spire,
)


def _entries():
    for stem, spec in regression_files():
        if not in_command_form(spec):
            reason = f"regressions/{stem}.json is not in command form (command + metrics)"
            yield pytest.param(stem, spec, {}, id=stem, marks=pytest.mark.skip(reason=reason))
            continue
        for entry in spec["entries"]:
            marks = [pytest.mark.slow] if entry.get("slow", spec.get("slow")) else []
            marks += [pytest.mark.full] if entry.get("full") else []
            name = f"{stem}:{command_id(entry['command'])}"
            yield pytest.param(stem, spec, entry, id=name, marks=marks)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """get(stem, spec, entry) -> the $-variables of that file, after its `before` commands
    and the entry's own ran."""
    done: dict[tuple[str, ...], dict[str, str] | BaseException] = {}

    def once(key: tuple[str, ...], make) -> dict[str, str]:
        if key not in done:
            try:
                done[key] = make()
            except BaseException as exc:  # a skip or a failure: not retried per entry
                done[key] = exc
        if isinstance(done[key], BaseException):
            raise done[key]
        return done[key]

    def file_variables(stem: str, spec: dict) -> dict[str, str]:
        variables = {"OUT": str(tmp_path_factory.mktemp(stem) / "out")}
        for command in spec.get("before", []):
            run_spire(command, variables)
        return variables

    def get(stem: str, spec: dict, entry: dict) -> dict[str, str]:
        variables = once((stem,), lambda: file_variables(stem, spec))
        for command in entry.get("before", []):
            once((stem, command), lambda command=command: run_spire(command, variables))
        return variables

    return get


@pytest.mark.parametrize(("stem", "spec", "entry"), list(_entries()))
def test_regression(stem, spec, entry, prepared):
    command = entry["command"]
    got = run_spire(command, prepared(stem, spec, entry))["metrics"]  # spire eval --json
    failures = mismatches(got, entry["metrics"], entry["tolerance"])
    assert not failures, f"{command}: " + "; ".join(failures)


def test_missing_shared_data_skips_here_and_fails_in_ci(monkeypatch):
    command = "spire eval ../shared/data/no-such-collection --baseline bm25"
    monkeypatch.delenv("SPIRE_REQUIRE_SHARED_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-collection is not here"):
        run_spire(command)
    monkeypatch.setenv("SPIRE_REQUIRE_SHARED_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="SPIRE_REQUIRE_SHARED_DATA=1 requires it"):
        run_spire(command)
    assert "export SPIRE_REQUIRE_SHARED_DATA=1" in (REPO / ".ci" / "run").read_text()
