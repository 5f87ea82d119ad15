"""Running the server: uvicorn, worker processes, the API key from the environment.

`serve()` is what `spire serve` calls. With one worker the app object is handed to
uvicorn directly; with several, uvicorn starts each worker from `app_from_env`, which
reads the folder and options from environment variables (the API key itself stays in
the variable the user named and is never written anywhere).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from indexing.dense_index import DenseIndex
from indexing.incremental import SegmentStore
from spire.core.errors import SpireError

from .backend import Backend
from .server import create_app

log = logging.getLogger("spire.server")


def app_from_env() -> FastAPI:
    """The app factory uvicorn's worker processes call (with --workers > 1)."""
    key_env = os.environ.get("SPIRE_SERVE_API_KEY_ENV") or None
    ui = os.environ.get("SPIRE_SERVE_UI")
    return create_app(
        os.environ["SPIRE_SERVE_DIR"],
        api_key=resolve_api_key(key_env),
        read_only=os.environ.get("SPIRE_SERVE_READ_ONLY") == "1",
        dense=os.environ.get("SPIRE_SERVE_DENSE") or None,
        ui=_ui_from_json(ui) if ui else None,
    )


def _ui_from_json(text: str):
    from .ui import UiOptions

    fields = json.loads(text)
    paths = {k: Path(v) for k, v in fields.items() if k in ("qrels", "judgments") and v}
    runs = tuple(Path(p) for p in fields.get("runs", ()))
    return UiOptions(**{**fields, **paths, "runs": runs})


def _ui_to_json(ui) -> str:
    fields = {k: str(Path(v).resolve()) if k in ("qrels", "judgments") and v else v
              for k, v in vars(ui).items()}  # fmt: skip
    fields["runs"] = [str(Path(p).resolve()) for p in ui.runs]
    return json.dumps(fields)


def resolve_api_key(env_var: str | None) -> str | None:
    if env_var is None:
        return None
    key = os.environ.get(env_var, "")
    if not key.strip():
        raise SpireError(f"--api-key-env {env_var}: that environment variable is unset or empty")
    return key


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for worker processes to share.

    Created with proto=IPPROTO_TCP on purpose: asyncio enables TCP_NODELAY only on
    sockets whose proto says TCP, and uvicorn's own multi-worker socket has proto 0, so
    every response would wait out Nagle plus the client's delayed ACK (about 40 ms).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SpireError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


def announce_when_up(host: str, port: int, on_ready: Callable[[], None]) -> threading.Thread:
    """Call `on_ready` once GET /health answers, from a daemon thread: the server is then
    up (index open, models loaded, every worker's lifespan done or one of them serving).
    A server that fails to start never answers, so nothing is announced."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)

    def poll() -> None:
        while True:
            conn = http.client.HTTPConnection(target, port, timeout=2)
            try:
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    on_ready()
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.05)

    thread = threading.Thread(target=poll, name="spire-announce", daemon=True)
    thread.start()
    return thread


def serve(
    folder: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    api_key_env: str | None = None,
    read_only: bool = False,
    log_level: str = "warning",
    dense: str | Path | None = None,
    on_ready: Callable[[], None] | None = None,
    ui=None,
    backend: Backend | None = None,
) -> None:
    """Run the server until interrupted (blocking). `dense`: a `spire index-dense`
    folder for this index, which enables fusion in /search. `on_ready` is called once
    the server answers requests. `ui`: a serving.ui.UiOptions, to serve the page at /ui.
    `backend`: what answers instead of the folder's index (serving/milvus_backend.py)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    api_key = resolve_api_key(api_key_env)
    if not is_loopback(host) and api_key is None:
        log.warning("listening on %s without an API key: anyone who can reach it can write", host)
    sock = listening_socket(host, port)  # a busy port fails here, with one line
    if on_ready is not None:
        announce_when_up(host, port, on_ready)
    options = {"host": host, "port": port, "log_level": log_level, "access_log": False}
    if workers <= 1:
        app = create_app(
            folder, api_key=api_key, read_only=read_only, dense=dense, ui=ui, backend=backend
        )
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        return
    if backend is not None:
        raise SpireError("a backend other than the folder's own index serves with one worker")
    SegmentStore(folder)  # fail here, with one message, rather than in every worker
    if ui is not None:  # likewise a bad --qrels, --judgments, --compare or --runs
        from .ui import check_options

        check_options(ui, Path(folder), dense is not None)
    if dense is not None:
        from .dense_side import read_coverage

        DenseIndex.load(dense)
        read_coverage(Path(dense))
    os.environ["SPIRE_SERVE_DIR"] = str(Path(folder).resolve())
    os.environ["SPIRE_SERVE_API_KEY_ENV"] = api_key_env or ""
    os.environ["SPIRE_SERVE_READ_ONLY"] = "1" if read_only else "0"
    os.environ["SPIRE_SERVE_DENSE"] = str(Path(dense).resolve()) if dense is not None else ""
    os.environ["SPIRE_SERVE_UI"] = _ui_to_json(ui) if ui is not None else ""
    config = uvicorn.Config("serving.serve:app_from_env", factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[sock]).run()
