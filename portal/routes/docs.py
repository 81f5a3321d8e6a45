"""``/api/docs``: Swagger UI for the JSON API, its assets served from the ``fastapi-offline`` package (which
ships Swagger UI 5, the first to read OpenAPI 3.1 as FastAPI writes it; only its files are used).

No CDN: many government networks block them, and the page must work offline. Its start script is a
static file (the Content-Security-Policy allows no inline scripts)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

ASSETS_PATH = "/api/docs/assets"

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gereedschapskist portal — API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head><body>
<div id="swagger-ui" data-openapi-url="/api/openapi.json"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body></html>
"""


@router.get("/api/docs", name="api_docs")
def api_docs() -> HTMLResponse:
    return HTMLResponse(PAGE)
