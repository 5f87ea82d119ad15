"""The interactive API docs (/docs) and the API key's place in the OpenAPI schema.

/docs and /openapi.json need no API key: the schema holds no data, and Swagger's
Authorize button (there when the server has a key) is how a reader then sends one.

Swagger UI's JavaScript and CSS come from a CDN: no package spire depends on ships them,
and vendoring a 1.5 MB bundle is not worth it. So /docs needs internet access in the
browser; the page says so where Swagger would render, and the schema itself stays
usable offline at /openapi.json (see docs/serving.md).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

# Shown until Swagger UI renders over it, so a browser without internet access sees it.
OFFLINE_NOTICE = (
    '<p style="font-family: sans-serif; margin: 2em">This page loads Swagger UI from '
    "cdn.jsdelivr.net, so it needs internet access. Offline, the schema is at "
    '<a href="/openapi.json">/openapi.json</a>; any OpenAPI viewer reads it.</p>'
)
SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "BearerAuth": {"type": "http", "scheme": "bearer"},
}


def add_docs(app: FastAPI, api_key_required: bool) -> None:
    """/docs for an app created with docs_url=None; with a key, the schema declares it."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_ui_parameters={"persistAuthorization": True},
        )
        html = page.body.decode().replace(
            '<div id="swagger-ui">', f'<div id="swagger-ui">{OFFLINE_NOTICE}', 1
        )
        return HTMLResponse(html)

    if api_key_required:
        plain_schema = app.openapi

        def schema_with_security() -> dict:
            schema = plain_schema()  # built once, then cached by FastAPI
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = [{name: []} for name in SECURITY_SCHEMES]
            schema["paths"]["/health"]["get"]["security"] = []  # liveness needs no key
            return schema

        app.openapi = schema_with_security
