"""The real dashboard in headless Chromium, for timing pages as a user meets them.

`serve` starts `streamlit run app/main.py` on a free loopback port over a store (with the
app's embedded worker, as `python3 lab.py app` runs it). `Tab.visit` clicks a page's link
in the sidebar and times it until the page is drawn: the app's own messages on the
websocket say when a script run finished (and how many runs were cut short for a rerun
before one finished), then the browser has drawn every chart on the page.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
FINISHED = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_SUCCESSFULLY")
CUT_SHORT = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
DRAWN_JS = """title => {
  const h = document.querySelector('h1');
  const charts = [...document.querySelectorAll('[data-testid=stVegaLiteChart]')];
  return !!h && h.innerText.startsWith(title) && charts.every(c => c.querySelector('svg, canvas'));
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def serve(store: Path, log: Path, timeout: float = 120.0) -> Iterator[str]:
    """The app over `store` with its embedded worker; yields its URL. Output goes to `log`."""
    port = free_port()
    env = {**os.environ, "IMP_LAB_STORE": str(store), "IMP_LAB_EMBEDDED_WORKER": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py",
             "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
             "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the app did not start; see {log}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()  # its atexit stops the embedded worker (which also watches it)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass(frozen=True)
class Visit:
    seconds: float  # click to the page drawn (or `timeout` when it never was)
    cut_short: int  # script runs that ended early for a rerun before one finished
    drawn: bool


class Tab:
    """One browser tab on the app, counting the script runs the server reports."""

    def __init__(self, page):
        self.page = page
        self.finished: list[int] = []  # statuses of script_finished messages, in order
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        msg = ForwardMsg.FromString(bytes(payload))
        if msg.WhichOneof("type") == "script_finished":
            self.finished.append(msg.script_finished)

    def open(self, url: str, title: str, timeout: float = 120.0) -> None:
        self.page.goto(url)
        self.page.wait_for_function(DRAWN_JS, arg=title, timeout=timeout * 1000)

    def visit(self, path: str, title: str, timeout: float = 120.0) -> Visit:
        """Click the sidebar link to `path` ("" for Home) and time it until drawn."""
        mark = len(self.finished)
        link = self.page.locator(f"[data-testid=stSidebarNav] a[href$='/{path}']").first
        t0 = time.perf_counter()
        link.click()
        while FINISHED not in self.finished[mark:]:
            if time.perf_counter() - t0 > timeout:
                return Visit(timeout, self.finished[mark:].count(CUT_SHORT), False)
            self.page.wait_for_timeout(10)  # lets Playwright deliver the frames
        left = max(timeout - (time.perf_counter() - t0), 0.001)
        try:
            self.page.wait_for_function(DRAWN_JS, arg=title, timeout=left * 1000, polling=10)
        except PlaywrightTimeout:
            return Visit(timeout, self.finished[mark:].count(CUT_SHORT), False)
        return Visit(time.perf_counter() - t0, self.finished[mark:].count(CUT_SHORT), True)


@contextlib.contextmanager
def tab(url: str, title: str) -> Iterator[Tab]:
    """A Chromium tab that has opened `url` and drawn it."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            t = Tab(browser.new_page(viewport={"width": 1400, "height": 1800}))
            t.open(url, title)
            yield t
        finally:
            browser.close()
