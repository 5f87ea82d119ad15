"""The page's tests share the bundled Cranfield collection, indexed and evaluated once per
session by `spire eval` itself with the regression command's options (so in `make test`
the encoding is the one the regressions already made): its index is what the page
serves, its numbers are what the evaluation view must show. The page shows texts from a
copy of the dataset in which one title holds markup and script (the index is unchanged;
only what is displayed differs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[3]
CRANFIELD = REPO / "spire" / "data" / "cranfield"
# A title that would run script, add attributes or fetch from elsewhere if not escaped.
HOSTILE_DOC = "7"
HOSTILE_TITLE = (
    '<script>window.pwned = 1</script><img src="http://example.invalid/x.png" '
    'onerror="window.pwned = 2"> " onmouseover="window.pwned = 3" '
    '<a href="javascript:window.pwned = 4">link</a> '
)


def _hostile_copy(target: Path) -> tuple[Path, str]:
    """The dataset with document 7's title prefixed by HOSTILE_TITLE; returns the folder
    and that document's original title (a query that finds it)."""
    shutil.copytree(CRANFIELD, target)
    lines = (target / "corpus.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):
        doc = json.loads(line)
        if doc["_id"] == HOSTILE_DOC:
            original = doc["title"]
            doc["title"] = HOSTILE_TITLE + original
            lines[i] = json.dumps(doc)
    (target / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    return target, original


@pytest.fixture(scope="session")
def ui_collection(tmp_path_factory, splade_tiny_path) -> dict:
    """{"dataset", "index", "run", "report", "hostile"}: the displayed copy (its folder
    is named cranfield: query and document ids are separate numberings there), the
    index `spire eval --save-index` wrote, its run file and its report."""
    from spire.cli import app

    root = tmp_path_factory.mktemp("ui")
    dataset, original_title = _hostile_copy(root / "cranfield")
    index, run = root / "cranfield-inference-free", root / "cranfield.run"
    args = ["eval", str(CRANFIELD), "--model", "splade-tiny", "--mode", "inference-free",
            "--save-index", str(index), "--run-file", str(run), "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    return {"dataset": dataset, "index": index, "run": run, "report": report,
            "hostile": (HOSTILE_DOC, HOSTILE_TITLE, original_title)}  # fmt: skip
