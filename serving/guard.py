"""The server's front door: API key, body size, content type, UTF-8 and JSON syntax.

A pure ASGI middleware (no BaseHTTPMiddleware: that one costs a task per request), so it
runs before FastAPI reads anything: an unauthenticated or oversized request is refused
without buffering its body, and a body that is not UTF-8 JSON gets a 4xx naming the
problem instead of FastAPI's generic "error parsing the body". It also times every
request for GET /stats.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

BODY_METHODS = {"POST", "PUT", "PATCH"}
# Need no API key: liveness, and the schema and its viewer (serving/openapi_docs.py).
OPEN_PATHS = {"/health", "/docs", "/openapi.json"}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20  # search and encode requests
    max_documents_body_bytes: int = 32 << 20  # POST /documents: up to 256 long documents
    # The whole body must arrive within this: a client that sends less than its
    # Content-Length would otherwise hold a connection (and a request slot) forever.
    body_timeout_s: float = 30.0


class LatencyStats:
    """The last `window` latencies per endpoint; percentiles are computed on demand."""

    def __init__(self, window: int = 20_000) -> None:
        self.window = window
        self._series: dict[str, deque] = {}
        self._lock = threading.Lock()

    def record(self, key: str, seconds: float) -> None:
        series = self._series.get(key)
        if series is None:
            with self._lock:
                series = self._series.setdefault(key, deque(maxlen=self.window))
        series.append(seconds)  # deque.append is atomic: no lock on the hot path

    def summary(self) -> dict[str, dict]:
        out = {}
        for key, series in list(self._series.items()):
            ms = np.asarray(list(series), dtype=np.float64) * 1000.0
            if ms.size:
                p50, p90, p99 = np.percentile(ms, [50, 90, 99])
                out[key] = {
                    "count": int(ms.size),
                    "p50_ms": round(float(p50), 3),
                    "p90_ms": round(float(p90), 3),
                    "p99_ms": round(float(p99), 3),
                    "max_ms": round(float(ms.max()), 3),
                }
        return out


def error_body(status: int, error: str, message: str, details: list | None = None) -> dict:
    body = {"status": status, "error": error, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def route_key(method: str, path: str) -> str:
    """A small fixed set of names, so arbitrary paths cannot grow the stats table."""
    if path == "/search":
        return "search"
    if path == "/documents" and method == "POST":
        return "add"
    if path.startswith("/documents/") and method == "DELETE":
        return "delete"
    if path in ("/encode", "/health", "/stats"):
        return path[1:]
    return "other"


class Guard:
    def __init__(
        self,
        app,
        *,
        api_key: str | None,
        limits: Limits,
        stats: LatencyStats,
        open_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.open_paths = OPEN_PATHS | open_paths  # e.g. the /ui page, which holds no data
        self.api_key = api_key.encode() if api_key else None
        self.limits = limits
        self.stats = stats

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            refusal = self._auth_problem(scope)
            if refusal is None and scope["method"] in BODY_METHODS:
                body, refusal = await self._read_body(scope, receive)
                if refusal is None:
                    receive = _replay(body, receive)
            if refusal is not None:
                await _send_error(send, *refusal)
            else:
                await self.app(scope, receive, send)
        finally:
            self.stats.record(
                route_key(scope["method"], scope["path"]), time.perf_counter() - start
            )

    def _auth_problem(self, scope) -> tuple | None:
        if self.api_key is None or scope["path"] in self.open_paths:
            return None
        headers = dict(scope["headers"])
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if given is None:
            msg = "missing API key: send it in the X-API-Key header (or Authorization: Bearer)"
            return 401, "unauthorized", msg
        if not hmac.compare_digest(given, self.api_key):
            return 401, "unauthorized", "wrong API key"
        return None

    async def _read_body(self, scope, receive) -> tuple[bytes, tuple | None]:
        limit = self.limits.max_body_bytes
        if scope["path"] == "/documents":
            limit = self.limits.max_documents_body_bytes
        headers = dict(scope["headers"])
        too_big = (413, "body_too_large", f"request body is over the {limit}-byte limit")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return b"", too_big
        chunks, size = [], 0
        deadline = time.monotonic() + self.limits.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                timeout = self.limits.body_timeout_s
                return b"", (408, "request_timeout", f"request body not received in {timeout:g} s")
            if message["type"] == "http.disconnect":
                return b"", (400, "bad_request", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # a chunked body that lied or declared nothing
                return b"", too_big
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        return body, _body_problem(body, headers.get(b"content-type"))


def _body_problem(body: bytes, content_type: bytes | None) -> tuple | None:
    # A JSON content type is required, not assumed: browsers send text/plain bodies
    # cross-site without a CORS preflight, so accepting them would allow CSRF.
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    if media != b"application/json" and not media.endswith(b"+json"):
        shown = media.decode("latin-1") or "none"
        msg = f"content type {shown!r} is not supported; send Content-Type: application/json"
        return 415, "unsupported_media_type", msg
    if not body.strip():
        return 400, "bad_request", "empty body; expected a JSON object"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, "bad_request", f"body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            400,
            "bad_request",
            f"body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
        )
    except RecursionError:
        return 400, "bad_request", "body is not valid JSON (nested too deeply)"
    return None


def _replay(body: bytes, downstream):
    """Hand the app the body we already read; later calls wait for the real disconnect."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return await downstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _send_error(send, status: int, error: str, message: str) -> None:
    payload = json.dumps(error_body(status, error, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if status == 408:  # the rest of the body may still come: never read it as a request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
