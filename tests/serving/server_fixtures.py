"""Shared by the server tests: a small real index and a real uvicorn server on 127.0.0.1.

Loaded by path (tests use --import-mode=importlib) and registered in sys.modules, so
test_server.py and test_server_fuzz.py share one encoded index per session.
"""

from __future__ import annotations

import shutil
import threading
import time
import warnings
from pathlib import Path

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[2]
CRANFIELD = REPO / "spire" / "data" / "cranfield"
_built: dict[str, Path] = {}


def small_index(tmp_root: Path, n_docs: int = 40) -> Path:
    """An inference-free splade-tiny index of the first Cranfield documents (built once)."""
    if "index" not in _built:
        from encoders import load_encoder
        from eval.data.datasets import load_corpus
        from indexing import build_index

        with warnings.catch_warnings():  # two empty Cranfield documents; not our concern
            warnings.simplefilter("ignore")
            corpus = load_corpus(CRANFIELD)
        encoder = load_encoder("splade-tiny", "inference-free")
        ids, texts = corpus.ids[:n_docs], corpus.texts[:n_docs]
        folder = tmp_root / "cranfield-small"
        build_index(ids, texts, encoder, show_progress=False).save(folder)
        _built["index"] = folder
    return _built["index"]


def fresh_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


class LiveServer:
    """uvicorn in a thread on an ephemeral loopback port; a real server, a real socket."""

    def __init__(self, app) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
