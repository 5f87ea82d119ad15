"""`spire` run in this process: the real entry point (`spire.cli.main`: exit codes, the
one-line errors, warnings as one line), without paying a fresh interpreter, torch import
and model load for every command. A few tests still run `python -m spire` in a child
process, so that what only a process shows (start-up, exit status, stray output) stays
checked."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings

import pytest

from tests.conftest import REPO


@pytest.fixture
def spire(capfd, monkeypatch):
    """spire(*args) -> CompletedProcess(returncode, stdout, stderr) of `spire ARGS`, run by
    `spire.cli.main` in this process; the working directory is the repository root."""
    from spire.cli import main

    monkeypatch.delenv("SPIRE_DEBUG", raising=False)  # main would re-raise instead of exit 2
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main replaces it

    def run(*args) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        capfd.readouterr()  # drop what earlier steps of the test printed
        monkeypatch.setattr(sys, "argv", ["spire", *argv])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        finally:
            gc.unfreeze()  # main freezes the collector after a search, for a process exit
        out, err = capfd.readouterr()
        return subprocess.CompletedProcess(["spire", *argv], code, out, err)

    return run
