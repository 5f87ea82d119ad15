"""docs/results.md is rendered from regressions/ (scripts/render_results.py): the committed
page must be what the regressions render, and a stale page is caught."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = [sys.executable, str(REPO / "scripts" / "render_results.py")]


def _check(page) -> subprocess.CompletedProcess:
    return subprocess.run([*SCRIPT, "--check", "--out", str(page)], capture_output=True, text=True)


def test_committed_results_page_is_what_regressions_render():
    proc = _check(REPO / "docs" / "results.md")
    assert proc.returncode == 0, proc.stderr


def test_a_stale_page_fails_and_says_how_to_regenerate(tmp_path):
    page = tmp_path / "results.md"
    subprocess.run([*SCRIPT, "--out", str(page)], check=True)
    assert _check(page).returncode == 0
    first = json.loads((REPO / "regressions" / "bm25.json").read_text())["entries"][0]
    number = f"{first['metrics']['nDCG@10']:.4f}"
    row = next(line for line in page.read_text().splitlines() if first["command"] in line)
    assert number in row  # the number is rendered from the entry, beside its command
    page.write_text(page.read_text().replace(row, row.replace(number, "0.9999")))
    proc = _check(page)
    assert proc.returncode == 1
    assert "is stale" in proc.stderr and "scripts/render_results.py" in proc.stderr
