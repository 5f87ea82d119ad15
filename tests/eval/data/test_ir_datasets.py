"""An ir_datasets id loads through ir_datasets itself, offline, from a local source zip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import SHARED_DATA, shared_data

SCIFACT = SHARED_DATA / "scifact"

PROBE = """
import json
from eval.data.datasets import load_dataset
a = load_dataset("beir/scifact/test")
b = load_dataset({folder!r}, "test")
print(json.dumps({{"name": a.name, "docs": len(a.corpus), "queries": len(a.queries),
    "same": [a.corpus.ids == b.corpus.ids, a.corpus.texts == b.corpus.texts,
             a.queries == b.queries, a.qrels == b.qrels], "shares": a.shares_id_space}}))
"""


def test_beir_id_matches_the_folder_loader(tmp_path):
    shared_data("scifact")
    # ir_datasets checks checksums only on download, so a zip of the BEIR folder placed
    # where the download would land is accepted (see ../shared/MODELS.md).
    source = tmp_path / "beir" / "scifact" / "source.zip"
    source.parent.mkdir(parents=True)
    with zipfile.ZipFile(source, "w") as zf:
        for f in SCIFACT.rglob("*"):
            if f.is_file():
                zf.write(f, f"scifact/{f.relative_to(SCIFACT)}")
    env = {**os.environ, "IR_DATASETS_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", PROBE.format(folder=str(SCIFACT))],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"name": "beir/scifact/test", "docs": 5183, "queries": 300,
                   "same": [True, True, True, True], "shares": True}  # fmt: skip


def test_unknown_id_is_one_clear_error():
    from eval.data.datasets import load_dataset
    from spire.core.errors import SpireError

    with pytest.raises(SpireError, match="not an ir_datasets id"):
        load_dataset("beir/no-such-collection/test")
