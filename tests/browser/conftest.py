"""Real-browser fixtures: the app in a subprocess, Debian's Chromium driven by Playwright.

The app runs exactly as a user starts it (`python app.py --port N`), with temporary runs and cache
dirs; the cache's `models/` links to the real one so the embedded model is not converted again.
`playwright install` cannot download browsers here, so the system Chromium is used
(scripts/ensure_browser.sh installs it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from iacdemo.settings import REPO_ROOT
from tests.ui_support import free_port, linked_cache_dir

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
START_TIMEOUT_S = 120
ARTIFACTS = REPO_ROOT / "test-artifacts"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the running app in headless Chromium")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen
    runs_dir: Path
    cache_dir: Path
    log_path: Path
    startup_s: float  # from process start to the first HTTP 200 of the page

    def alive(self) -> bool:
        return self.process.poll() is None and _get(self.url) == 200


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return None


@pytest.fixture(scope="session")
def app_server(settings, tmp_path_factory) -> AppServer:
    tmp = tmp_path_factory.mktemp("browser-app")
    runs_dir, cache_dir = tmp / "runs", linked_cache_dir(tmp / "cache", settings)
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "app-server.log"
    # The browser tests check what a score click shows, not the score itself (test_generation_model does):
    # a quarter of the default page length keeps each click a few seconds on a 2-core CPU.
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "IACDEMO_PERPLEXITY_TOKENS": "256"}
    env.pop("SPACE_ID", None)
    cmd = [sys.executable, "app.py", "--port", str(port), "--runs-dir", str(runs_dir),
           "--cache-dir", str(cache_dir), "--data-dir", str(settings.data_dir)]
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        while _get(url) != 200:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.perf_counter() - started > START_TIMEOUT_S:
                pytest.fail(f"app.py did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        server = AppServer(url=url, process=process, runs_dir=runs_dir, cache_dir=cache_dir, log_path=log_path,
                           startup_s=round(time.perf_counter() - started, 2))
        (ARTIFACTS / "startup.json").write_text(json.dumps({"first_http_200_s": server.startup_s}) + "\n")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/ensure_browser.sh` (make test does).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def browser_context(browser):
    """One context for every test's page: its HTTP cache keeps gradio's scripts and styles between tests.
    Four page opens measured here cost Chromium 24 CPU-s and the app 1.1-2.3 in one context, against 28-29
    and 4-4.8 with a context each (bench/RESULTS.md, "Session of 2026-12-02 (7th)"). Gradio keeps its
    session per page load and the app stores nothing in the browser, so the pages share nothing else; a test
    that needs a second visitor opens its own context."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def page(browser_context, request):
    """A fresh page per test. With IACDEMO_BROWSER_TRACE=<folder>, each test's Playwright trace (every
    action with its start and end) is saved there: `playwright show-trace` shows where a test waits."""
    trace_dir = os.environ.get("IACDEMO_BROWSER_TRACE")
    if trace_dir:
        browser_context.tracing.start(snapshots=True, screenshots=False)  # snapshots: the network log too
    page = browser_context.new_page()
    page.set_default_timeout(20_000)
    yield page
    if trace_dir:
        Path(trace_dir).mkdir(parents=True, exist_ok=True)
        browser_context.tracing.stop(path=str(Path(trace_dir) / f"{request.node.name}.zip"))
    page.close()
    browser_context.clear_cookies()


def open_app(page, server: AppServer, query: str = ""):
    """Load the app and wait until the header (rendered by the server) is on screen."""
    page.goto(server.url + query)
    page.locator('[data-testid="header-device"]').wait_for(state="visible", timeout=60_000)
    return page


def open_tab(page, title: str):
    page.get_by_role("tab", name=title).click()


def type_until_kept(page, box, value: str, type_once, name: str, settle_ms: int, tries: int) -> None:
    """Type into `box` (with `type_once`) until it keeps `value`. A field in an accordion or group that has
    just opened can be typed into before its component has mounted its value, which then replaces the
    typing: the Compare tab's "20 tokens" answers quietly became 256-token ones, and the Train tab's run
    name "browser-train" became "n", its last key press (bench/RESULTS.md, "Test suite wall time" and
    "Session of 2026-12-02 (8th)")."""
    expect(box).to_be_editable()
    for _ in range(tries):
        type_once()
        page.wait_for_timeout(settle_ms)
        if box.input_value() == value:
            return
    raise AssertionError(f"{name} does not keep {value!r}: it reads {box.input_value()!r}")
