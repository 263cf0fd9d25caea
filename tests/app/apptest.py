"""AppTest sessions of the dashboard, for the page tests and the load benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
_SCANNED: list[Any] = []


def session(page: str = "home", timeout: float = 60, **query: Any) -> AppTest:
    """A fresh session that will open `page` (as a link to it would) with `query` in the URL.

    A new AppTest scans every installed package for custom components on its first run
    (~0.4 s); a server does that once at start, so sessions after the first reuse the scan.
    """
    at = AppTest.from_file(str(MAIN), default_timeout=timeout)
    if _SCANNED:
        at._bidi_component_manager = _SCANNED[0]
    at.query_params.update(query)
    if page != "home":
        at.switch_page(f"views/{page}.py")
    return at


def run(at: AppTest) -> AppTest:
    """Run the session's script once, keeping its component scan for the next session."""
    at.run()
    if not _SCANNED and at._bidi_component_manager is not None:
        _SCANNED.append(at._bidi_component_manager)
    return at
