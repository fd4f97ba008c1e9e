"""The Doc-completion tab in a real browser: raw continuation side by side, callouts, perplexity, bad input."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import open_app, open_tab
from tests.browser.screenshots import save
from tests.browser.test_compare_tab import (GENERATION_TIMEOUT_MS, MAX_NEW_TOKENS, TUNED_RUN, fill, pick,
                                            tuned_run)  # noqa: F401  (tuned_run is a fixture)


def open_doc_tab(page, app_server) -> None:
    open_app(page, app_server)
    open_tab(page, "Doc completion")
    expect(page.locator("#doc-adapter")).to_be_visible()


def test_doc_completion_shows_highlighted_callouts_and_perplexity(app_server, tuned_run, page):
    page.set_viewport_size({"width": 1440, "height": 1000})
    open_doc_tab(page, app_server)
    pick(page, "doc-adapter", TUNED_RUN)
    pick(page, "doc-preset", "Callout opener: ~>")
    expect(page.locator("#doc-prompt textarea")).to_have_value(re.compile(r"^~> \*\*Note:\*\*"))
    page.get_by_text("Generation settings").first.click()
    fill(page, "doc-max-new-tokens", MAX_NEW_TOKENS)
    page.get_by_text("Generation settings").first.click()  # closed again: the screenshot shows the panes
    page.locator("#doc-generate").click()

    expect(page.locator("#doc-status")).to_contain_text("tokens/s", timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator("#doc-title-1")).to_contain_text(f"Fine-tuned ({TUNED_RUN})")
    for pane in (0, 1):
        out = page.locator(f"#doc-out-{pane} .iac-doc")
        expect(out).to_be_visible()
        text = out.inner_text()
        assert text.startswith("~> **Note:**") and len(text.strip()) > len("~> **Note:**") + 3, text
        expect(page.locator(f"#doc-out-{pane} .iac-callout").first).to_be_visible()  # the completed Note line
    expect(page.locator("#doc-error")).to_be_hidden()

    # perplexity of a docs page under base vs tuned
    expect(page.locator("#doc-page input")).to_have_value(re.compile(r"dynamodb_contributor_insights|\w"))
    page.locator("#doc-score").click()
    table = page.locator("#doc-ppl table")
    expect(table).to_contain_text("Base model", timeout=GENERATION_TIMEOUT_MS)
    expect(table).to_contain_text(f"Fine-tuned ({TUNED_RUN})")
    expect(table).to_contain_text("%")
    page.locator("#doc-prompt").evaluate("e => e.scrollIntoView({block: 'start'})")
    save(page, "doc_completion", publish=True)


def test_empty_prompt_and_unknown_page_show_errors(app_server, page):
    open_doc_tab(page, app_server)
    fill(page, "doc-prompt", "")
    page.locator("#doc-generate").click()
    error = page.locator("#doc-error")
    expect(error).to_contain_text("prompt is empty", timeout=30_000)

    box = page.locator("#doc-page input")
    box.fill("r/no_such_resource")
    box.press("Enter")
    page.locator("#doc-score").click()
    expect(error).to_contain_text("No page 'r/no_such_resource'", timeout=60_000)
    assert app_server.alive()
