"""The shell in a real browser: header, presentation mode, Models tab, start-up time."""
from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.browser.conftest import open_app, open_tab
from tests.browser.screenshots import save


def test_app_starts_and_header_shows_device_model_memory(app_server, page, settings):
    assert app_server.startup_s < 90, f"start-up took {app_server.startup_s} s"
    started = time.perf_counter()
    open_app(page, app_server)
    print(f"\napp start-up to first HTTP 200: {app_server.startup_s} s; "
          f"page load to header: {time.perf_counter() - started:.1f} s")
    expect(page.get_by_test_id("header-device")).to_contain_text("cpu")
    expect(page.get_by_test_id("header-model")).to_contain_text(settings.default_model)
    expect(page.get_by_test_id("header-memory")).to_contain_text("GiB")
    expect(page.get_by_role("tab", name="Data")).to_be_visible()
    expect(page.get_by_role("tab", name="Models")).to_be_visible()
    assert "iacdemo-present" not in (page.evaluate("document.body.className") or "")
    save(page, "shell")


def test_presentation_mode_from_url_and_toggle(app_server, page):
    open_app(page, app_server, "?mode=present")
    expect(page.locator("body")).to_have_class("iacdemo-present", timeout=10_000)
    toggle = page.locator("#present-toggle input[type=checkbox]")
    expect(toggle).to_be_checked()
    big = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.gradio-container')).fontSize)")
    assert big >= 20
    save(page, "present", publish=True)

    toggle.uncheck()
    expect(page.locator("body")).not_to_have_class("iacdemo-present")
    assert "mode=present" not in page.url
    toggle.check()
    expect(page.locator("body")).to_have_class("iacdemo-present")
    assert "mode=present" in page.url


def test_models_tab_labels_the_repack_and_reports_a_bad_id(app_server, page):
    open_app(page, app_server)
    open_tab(page, "Models")
    table = page.locator("#models-table")
    expect(table).to_contain_text("smollm2-135m-instruct")
    expect(table).to_contain_text("Apache-2.0")
    expect(table).to_contain_text("UNCLEAR")
    expect(page.locator("#provenance-warning")).to_contain_text("Unclear provenance")
    save(page, "models", publish=True)

    choice = page.locator("#models-choice input")
    choice.fill("no-such-model")
    choice.press("Enter")
    page.locator("#models-load").click()
    expect(page.locator("#models-error")).to_contain_text("Unknown model 'no-such-model'", timeout=30_000)
    expect(page.get_by_test_id("header-model")).to_contain_text("smollm2-135m-instruct")
    assert app_server.alive()
