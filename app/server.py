"""Routes added to Streamlit's server: every page's URL answers with Streamlit's own
index.html, told where the server is, so a page opened by its URL logs no 404s.

Why: opening `/runs` directly, Streamlit's frontend cannot tell a page's URL from a path the
whole app is served under, so it first asks `/runs/_stcore/health` and
`/runs/_stcore/host-config`, which answer 404 (two console errors per page load) before it
falls back to `/` (streamlit/streamlit#7074, open). When `window.__streamlit.BACKEND_BASE_URL`
is set, the frontend asks only there (streamlit/streamlit#11378, #11537). A page's URL path is
one segment (Streamlit allows no nesting), so the server is the page's parent folder: set
relative to the address, that also holds behind a proxy that adds a path prefix. The home
page (`/`) needs no help and keeps Streamlit's own route.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from streamlit import config, file_util

HEAD = "<head>"
BASE_URL_SCRIPT = (
    "<script>window.__streamlit = "
    '{BACKEND_BASE_URL: new URL(".", window.location.href).href}</script>'
)
_LOG = logging.getLogger(__name__)


def index_html() -> str:
    """Streamlit's index.html with the base URL set before its bundle runs (a classic script
    in <head> runs before the deferred module bundle reads `window.__streamlit`)."""
    html = (Path(file_util.get_static_dir()) / "index.html").read_text(encoding="utf-8")
    if HEAD not in html:  # a Streamlit release changed its page: serve it as it is
        _LOG.warning("Streamlit's index.html has no <head>; page URLs will probe for the server")
        return html
    return html.replace(HEAD, HEAD + BASE_URL_SCRIPT, 1)


def page_routes(url_paths: list[str]) -> list[Route]:
    """One route per page URL path (under `server.baseUrlPath`), serving `index_html()`."""
    html = index_html()
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return [Route(f"{prefix}/{path}", index, methods=["GET"]) for path in url_paths]
