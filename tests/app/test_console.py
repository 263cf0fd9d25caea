"""Every page opened by its URL in headless Chromium, on an empty store: no console error, no
failed or 4xx/5xx request, no request off this machine (usage statistics are off), and no
Deploy button."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.app.browser_console import CHROMIUM, chromium, serve, watch
from tests.app.test_pages import PAGES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


def settle(tab) -> None:
    """Wait until the script run is over, and a little for late requests."""
    tab.wait_for_selector("h1", timeout=60_000)
    tab.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=60_000)
    tab.wait_for_timeout(1000)


def test_every_page_opens_by_its_url_with_a_clean_console(tmp_path):
    with serve(tmp_path / "store") as url, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems = watch(tab)
        hosts: set[str] = set()
        tab.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
        for page in PAGES:
            tab.goto(f"{url}/{'' if page == 'home' else page}")
            settle(tab)
            assert not problems, (page, problems.lines())
            assert tab.locator("[data-testid=stException]").count() == 0, page
        tab.goto(f"{url}/levels?runs=nonexistent-run")  # a link's warning logs nothing either
        settle(tab)
        assert "nonexistent-run" in tab.locator("[data-testid=stAlert]").first.inner_text()
        assert not problems, problems.lines()
        assert hosts == {"127.0.0.1"}
        assert tab.get_by_role("button", name="Deploy").count() == 0
