"""The Data tab in a real browser: a DynamoDB corpus slice, and bad inputs that must not break the app."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import open_app
from tests.browser.screenshots import save


def _fill(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(value)


def _pick_service(page, service: str) -> None:
    box = page.locator("#data-services input")
    box.click()
    box.fill(service)
    page.get_by_role("option", name=re.compile(rf"^{re.escape(service)} \(\d")).first.click()
    expect(page.locator("#data-services")).to_contain_text(service)
    page.keyboard.press("Escape")


def test_build_dynamodb_slice_shows_stats(app_server, page):
    open_app(page, app_server)
    _pick_service(page, "DynamoDB")
    _fill(page, "data-name", "browser-dynamodb")
    page.locator("#data-build").click()

    summary = page.locator("#data-summary")
    expect(summary).to_contain_text("rows", timeout=120_000)
    expect(summary).to_contain_text("DynamoDB")
    expect(summary).to_contain_text("browser-dynamodb")
    expect(page.locator("#data-per-source")).to_contain_text("terraform-provider-aws")
    expect(page.locator("#data-per-service")).to_contain_text("DynamoDB")
    expect(page.locator("#data-samples")).to_contain_text("DynamoDB")
    expect(page.locator("#data-histogram g.mark-rect path").first).to_be_visible()  # bars, not just axes
    expect(page.locator("#data-histogram")).to_contain_text("449-512")
    expect(page.locator("#data-error")).to_be_hidden()
    assert (app_server.cache_dir / "datasets" / "browser-dynamodb" / "stats.json").is_file()
    page.locator("#data-summary").evaluate("e => e.scrollIntoView({block: 'start'})")
    save(page, "data", publish=True)


def test_bad_inputs_show_errors_and_the_app_keeps_serving(app_server, page):
    open_app(page, app_server)
    error = page.locator("#data-error")

    _fill(page, "data-name", "../evil")
    page.locator("#data-build").click()
    expect(error).to_contain_text("plain folder name", timeout=30_000)
    assert not (app_server.cache_dir / "evil").exists()
    save(page, "data-error")

    _fill(page, "data-name", "nothing-matches")
    _pick_service(page, "DynamoDB")
    _fill(page, "data-glob", "no/such/path/*")
    page.locator("#data-build").click()
    expect(error).to_contain_text("No document path matches", timeout=60_000)

    # typed, then Build clicked at once: the path's blur narrows the services while the build still sends
    # DynamoDB, and the app's own message must come, not gradio's "not in the list of choices"
    _fill(page, "data-glob", "")
    _fill(page, "data-path", "../../../etc")
    page.locator("#data-build").click()
    expect(error).to_contain_text("outside the app's folders", timeout=30_000)
    expect(page.get_by_text("is not in the list of choices")).to_have_count(0)

    assert app_server.alive()
    page.reload()
    expect(page.get_by_test_id("header-device")).to_be_visible(timeout=60_000)
