"""The page's routes: /ui (search), /ui/compare, /ui/eval, their fragments, grading and
the static files.

Pages are rendered on the server. Without an API key the page holds its view and works
with JavaScript off. With a key, the page itself (which holds no data) needs none: its
script asks for the key once, keeps it in sessionStorage and fetches the view from
/ui/part/... with an X-API-Key header, so the key never appears in a URL. Every
response carries a Content-Security-Policy that allows this server's own scripts,
styles and connections only.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from .data import GRADES
from .views import Ui, compare_view, eval_view, search_view

VIEWS = {"search": search_view, "compare": compare_view, "eval": eval_view}
PAGES = {"/ui": "search", "/ui/compare": "compare", "/ui/eval": "eval"}
STATIC = {
    "ui.js": "text/javascript; charset=utf-8",
    "ui.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# The paths that hold no data and so need no key (the script must load to ask for it).
OPEN_PATHS = frozenset({*PAGES, *(f"/ui/static/{name}" for name in STATIC)})
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class GradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qid: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    docid: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    grade: Annotated[StrictInt, Field(ge=min(GRADES), le=max(GRADES))]


def add_routes(app: FastAPI, ui: Ui, *, needs_key: bool, api_error) -> None:
    """Mount the page on `app`; `api_error(status, error, message)` builds the server's
    ApiError (its JSON error answer)."""
    env = Environment(
        loader=PackageLoader("serving.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def fragment(view: str, request: Request) -> str:
        state = VIEWS[view](ui, request.query_params)
        return env.get_template(f"{view}.html").render(s=state, ui=ui)

    def page(view: str, request: Request) -> HTMLResponse:
        start = time.perf_counter()
        body = None if needs_key else Markup(fragment(view, request))
        query = request.url.query
        part = f"/ui/part/{view}" + (f"?{query}" if query else "")
        html = env.get_template("base.html").render(
            view=view, body=body, needs_key=needs_key, part=part, ui=ui
        )
        return HTMLResponse(html, headers=_timed(SECURITY_HEADERS, start))

    for path, view in PAGES.items():
        app.add_api_route(path, _bind(page, view), methods=["GET"], include_in_schema=False)

    @app.get("/ui/part/{view}", include_in_schema=False)
    def part(view: str, request: Request) -> HTMLResponse:
        if view not in VIEWS:
            raise api_error(404, "not_found", f"no view {view!r}")
        start = time.perf_counter()
        html = fragment(view, request)
        return HTMLResponse(html, headers=_timed(SECURITY_HEADERS, start))

    @app.get("/ui/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        # Only the files named here: no path from the request ever reaches the disk.
        if name not in STATIC:
            raise api_error(404, "not_found", f"no static file {name!r}")
        data = resources.files("serving.ui").joinpath("static", name).read_bytes()
        return Response(data, media_type=STATIC[name], headers=SECURITY_HEADERS)

    @app.post("/ui/grade", include_in_schema=False)
    def grade(body: GradeRequest, request: Request) -> dict:
        """Append one grade to the judgments file (same-origin requests only)."""
        return _grade(ui, body, request, api_error)


def _grade(ui: Ui, body: GradeRequest, request: Request, api_error) -> dict:
    problem = cross_origin_problem(request)
    if problem:
        raise api_error(403, "cross_origin", problem)
    judgments = ui.collection.judgments
    if judgments is None:
        raise api_error(409, "no_judgments_file",
                        "grading needs a judgments file: start the server with "
                        "--judgments FILE")  # fmt: skip
    if body.qid not in ui.collection.queries:
        raise api_error(404, "unknown_query", f"no query {body.qid!r} in the dataset")
    if body.docid not in ui.collection.documents:
        raise api_error(404, "unknown_document", f"no document {body.docid!r} in the dataset")
    judged = judgments.add(body.qid, body.docid, body.grade)
    return {"qid": body.qid, "docid": body.docid, "grade": body.grade, "judged": judged}


def _timed(headers: dict, start: float) -> dict:
    """The headers plus Server-Timing: the milliseconds spent building the page (search,
    explanations, snippets, rendering), which scripts/bench_ui.py reads."""
    ms = (time.perf_counter() - start) * 1000.0
    return {**headers, "server-timing": f"page;dur={ms:.3f}"}


def _bind(page, view: str):
    def route(request: Request) -> HTMLResponse:
        return page(view, request)

    return route


def cross_origin_problem(request: Request) -> str:
    """Why a state-changing request is not from this server's own page ("" if it is).

    The browser sets Origin (and Sec-Fetch-Site) on every POST from a page, and a page
    cannot forge them; a request without Origin is refused too, so that only a page
    served from here (or a client that says it is one) can grade."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is None:
        return "grading is accepted from this server's page only (no Origin header)"
    if origin != f"{request.url.scheme}://{host}":
        return f"grading is accepted from this server's page only, not from {origin!r}"
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return f"grading is accepted from this server's page only (Sec-Fetch-Site: {site})"
    return ""
