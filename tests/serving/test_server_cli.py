"""`spire serve` (two worker processes) and `spire add/delete/merge/reidf`, run for real."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import spire_server_fixtures as fx  # registered by conftest.py
from typer.testing import CliRunner

from indexing.incremental import SegmentStore
from serving.dense_side import build_dense_side
from spire.cli.serve import serve_app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory, splade_tiny_path):
    return fx.small_index(tmp_path_factory.mktemp("cli-index"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str) -> dict:
    result = CliRunner().invoke(serve_app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_add_delete_merge_reidf_commands(source, tmp_path):
    folder = fx.fresh_copy(source, tmp_path / "ix")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"_id": "new-1", "title": "Ornithopter", "text": "flapping wing lift"})
        + "\n"
        + json.dumps({"_id": "3", "text": "a replacement for document three"})
        + "\n"
    )
    added = run_cli("add", str(folder), str(docs))
    assert (added["added"], added["replaced"], added["docs"]) == (1, 1, 41)
    ids = tmp_path / "ids.txt"
    ids.write_text("new-1\n\nnot-there\n")
    deleted = run_cli("delete", str(folder), str(ids))
    assert (deleted["deleted"], deleted["not_found"], deleted["docs"]) == (1, 1, 40)
    merged = run_cli("merge", str(folder))
    assert merged["segments_after"] == 1 and merged["deleted_dropped"] == 2
    before = SegmentStore(folder).snapshot().idf.copy()
    reidf = run_cli("reidf", str(folder), str(fx.CRANFIELD))
    assert reidf["corpus_docs"] == 1400 and reidf["corpus_docs_not_indexed"] == 1360
    assert (SegmentStore(folder).snapshot().idf != before).any()


def test_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(serve_app, ["delete", str(tmp_path / "nope"), "ids.txt"])
    assert result.exit_code != 0 and "no such index folder" in str(result.exception)


def test_spire_serve_with_two_workers_shares_writes(source, tmp_path, dense_encoder):
    folder = fx.fresh_copy(source, tmp_path / "ix")
    dense = tmp_path / "dense"
    ids = [str(i) for i in range(1, 41)]
    build_dense_side(folder, ids, [f"document {i}" for i in ids], dense, encoder=dense_encoder)
    port = free_port()
    code = "from spire.cli.serve import serve_app; serve_app(prog_name='spire')"
    args = [sys.executable, "-c", code, "serve", str(folder), "--port", str(port)]
    proc = subprocess.Popen(
        [*args, "--workers", "2", "--dense", str(dense)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        doc = {"documents": [{"id": "w-1", "text": "tiltrotor convertiplane"}]}
        assert httpx.post(f"{url}/documents", json=doc, timeout=60).status_code == 200
        # Fresh connections land on either worker; each must see the acknowledged add.
        for _ in range(12):
            r = httpx.get(f"{url}/search", params={"q": "tiltrotor convertiplane"}, timeout=30)
            assert r.json()["results"][0]["hits"][0]["docid"] == "w-1"
        # Both workers have the dense side (--dense reaches them through the environment),
        # and both see that w-1, added after it was built, is not covered.
        body = {"query": "tiltrotor convertiplane", "k": 40, "explain": True, "fusion": {}}
        for _ in range(6):
            r = httpx.post(f"{url}/search", json=body, timeout=30).json()
            assert r["fusion"]["dense_covered"] == 40
            hit = next(h for h in r["results"][0]["hits"] if h["docid"] == "w-1")
            assert hit["fusion"]["dense"]["rank"] is None
        assert httpx.delete(f"{url}/documents/w-1", timeout=60).status_code == 200
        for _ in range(12):
            r = httpx.get(f"{url}/search", params={"q": "tiltrotor convertiplane"}, timeout=30)
            assert "w-1" not in [h["docid"] for h in r.json()["results"][0]["hits"]]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spire_serve(folder: Path, *args: str) -> subprocess.Popen:
    """`spire serve` through the real entry point (exit codes included)."""
    command = [sys.executable, "-m", "spire", "serve", str(folder), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SPIRE_TEST_UNSET_KEY", None)
    return subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, env=env)


def test_serve_failures_are_one_line_and_announce_nothing(source, tmp_path):
    """A bad key variable, a busy port and a corrupt index: exit 2, one line, no
    "serving ..." (which is printed only once the server answers)."""
    corrupt = fx.fresh_copy(source, tmp_path / "corrupt")
    (corrupt / "manifest.json").write_text("{not json")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = str(busy.getsockname()[1])
        runs = {
            "SPIRE_TEST_UNSET_KEY": spire_serve(
                source, "--port", str(free_port()), "--api-key-env", "SPIRE_TEST_UNSET_KEY"
            ),
            "cannot listen": spire_serve(source, "--port", busy_port),
            "corrupt manifest": spire_serve(corrupt, "--port", str(free_port())),
        }
        for expected, proc in runs.items():
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 2, stderr
            assert expected in stderr and len(stderr.strip().splitlines()) == 1, stderr
            assert "serving" not in stderr


def test_serve_announces_once_it_answers(source, tmp_path):
    folder = fx.fresh_copy(source, tmp_path / "ix")
    port = free_port()
    proc = spire_serve(folder, "--port", str(port), "--read-only")
    try:
        line = proc.stderr.readline()  # blocks until the first line (or exit)
        assert line.startswith(f"serving {folder} on http://127.0.0.1:{port}"), line
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
