"""What a page logs as broken in headless Chromium: console errors, uncaught exceptions, and
requests that fail or answer 4xx/5xx. A page can look right and still log these (that is how
the 404s for `/runs/_stcore/health` went unnoticed), so the browser tests assert there are
none. Also: the app served on a free loopback port, and Chromium launched the tests' way.

    with serve(store) as url, chromium() as browser:
        tab = browser.new_page()
        problems = watch(tab)
        tab.goto(f"{url}/runs")
        ...
        assert not problems, problems.lines()
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 90
ABORTED = "net::ERR_ABORTED"  # a request cut short by the next navigation: not a fault


@dataclass
class Problems:
    """Everything a watched page logged as broken since `watch` (or `clear`)."""

    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.console or self.exceptions or self.requests)

    def lines(self) -> list[str]:
        return [
            *(f"console: {c}" for c in self.console),
            *(f"exception: {e}" for e in self.exceptions),
            *(f"request: {r}" for r in self.requests),
        ]

    def clear(self) -> None:
        self.console.clear()
        self.exceptions.clear()
        self.requests.clear()


def watch(page: Any) -> Problems:
    """Collect `page`'s problems from now on (a playwright Page); the result fills in as the
    page runs."""
    problems = Problems()

    def on_console(message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            problems.console.append(f"{message.text} ({where})" if where else message.text)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            problems.requests.append(f"{response.status} {response.request.method} {response.url}")

    def on_failed(request: Any) -> None:
        if request.failure != ABORTED:
            problems.requests.append(f"failed {request.method} {request.url}: {request.failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.exceptions.append(str(error)))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    return problems


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through playwright, headless and offline-friendly."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def serve(store: Path, *, worker: bool = False, flags: tuple[str, ...] = ()) -> Iterator[str]:
    """`streamlit run app/main.py` from the repository root (so `.streamlit/config.toml`
    applies) on a free loopback port over `store`; yields its URL. The log is
    `store/server.log`, quoted when the server does not come up."""
    store.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "IMP_LAB_STORE": str(store), "IMP_LAB_EMBEDDED_WORKER": str(int(worker))}
    log_path = store / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py",
             f"--server.port={port}", "--server.address=127.0.0.1",
             "--server.fileWatcherType=none", *flags],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not healthy(url) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            if not healthy(url):
                raise RuntimeError(f"the app did not start:\n{log_path.read_text()}")
            yield url
        finally:
            proc.terminate()  # its atexit stops an embedded worker (which also watches us)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _click_download(tab: Any, label: str, i: int) -> tuple[str, bytes]:
    button = tab.locator("[data-testid=stDownloadButton] button", has_text=label).nth(i)
    with tab.expect_download(timeout=20_000) as info:
        button.click()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def download(tab: Any, label: str, i: int = 0, tries: int = 3) -> tuple[str, bytes]:
    """Click the `i`-th download button labelled `label`; (file name, bytes).

    A click that lands while a live page reruns for newly stored results is lost (the
    button it hit is replaced before its file is made; a person clicks again), so this
    clicks again once the rerun is over, `tries` times at most.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries - 1):
        try:
            return _click_download(tab, label, i)
        except PlaywrightTimeout:
            tab.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=60_000)
    return _click_download(tab, label, i)


def wait_until(check: Any, timeout: float, what: str, every: float = 1.0) -> Any:
    """`check()`'s first truthy value, polled every `every` s; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
