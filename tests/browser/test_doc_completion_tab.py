"""The Doc-completion tab in a real browser: raw continuation side by side, callouts, perplexity, bad input."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import open_app, open_tab
from tests.browser.screenshots import save
from tests.browser.test_compare_tab import (GENERATION_TIMEOUT_MS, MAX_NEW_TOKENS, TUNED_RUN, assert_kept_short,
                                            fill, pick, set_number,
                                            tuned_run)  # noqa: F401  (tuned_run is a fixture)


def open_doc_tab(page, app_server) -> None:
    open_app(page, app_server)
    open_tab(page, "Doc completion")
    expect(page.locator("#doc-adapter")).to_be_visible()


def page_chips(page) -> list[str]:
    """The labels of the pages picked in the perplexity picker (a multiselect shows one chip each)."""
    return [t.strip() for t in page.locator("#doc-page .token").all_inner_texts()]


def test_doc_completion_shows_highlighted_callouts_and_perplexity(app_server, tuned_run, page):
    page.set_viewport_size({"width": 1440, "height": 1000})
    open_doc_tab(page, app_server)
    # the most trained finished run is preselected (not the newer, shorter one), with its steps in the label
    expect(page.locator("#doc-adapter input")).to_have_value(re.compile(rf"{TUNED_RUN} — 2 steps"))
    pick(page, "doc-preset", "Callout opener: ~>")
    expect(page.locator("#doc-prompt textarea")).to_have_value(re.compile(r"^~> \*\*Note:\*\*"))
    page.get_by_text("Generation settings").first.click()
    set_number(page, "doc-max-new-tokens", MAX_NEW_TOKENS)
    page.get_by_text("Generation settings").first.click()  # closed again: the screenshot shows the panes
    page.locator("#doc-generate").click()

    expect(page.locator("#doc-status")).to_contain_text("tokens/s", timeout=GENERATION_TIMEOUT_MS)
    assert_kept_short(page.locator("#doc-status"))
    # the tuned pane first: hidden, it says the run's adapter was never used (once seen in a full run: the
    # title kept its build-time text); visible with the old title, that the title update was lost
    expect(page.locator("#doc-out-1")).to_be_visible()
    expect(page.locator("#doc-title-1")).to_contain_text(f"Fine-tuned ({TUNED_RUN})")
    for pane in (0, 1):
        out = page.locator(f"#doc-out-{pane} .iac-doc")
        expect(out).to_be_visible()
        text = out.inner_text()
        assert text.startswith("~> **Note:**") and len(text.strip()) > len("~> **Note:**") + 3, text
        expect(page.locator(f"#doc-out-{pane} .iac-callout").first).to_be_visible()  # the completed Note line
    expect(page.locator("#doc-error")).to_be_hidden()

    # perplexity by default: a page the run trained on next to a page it held out
    expect(page.locator("#doc-page .token")).to_have_count(2, timeout=30_000)
    chips = page_chips(page)
    assert "trained on" in chips[0] and "held out of training" in chips[1], chips
    expect(page.locator("#doc-split")).to_contain_text("held")
    page.locator("#doc-score").click()
    table = page.locator("#doc-ppl table")
    expect(table).to_contain_text("Base model", timeout=GENERATION_TIMEOUT_MS)
    expect(table).to_contain_text(f"Fine-tuned ({TUNED_RUN})")
    expect(table).to_contain_text("%")
    roles = page.locator("#doc-ppl tbody tr").evaluate_all("rows => rows.map(r => r.dataset.role)")
    assert roles == ["trained on", "held out of training"], roles
    scored = page.locator("#doc-ppl tbody tr td:nth-child(3)").all_inner_texts()  # the "tokens" column
    assert all(0 < int(n.replace(",", "")) <= 256 for n in scored), scored  # the app's IACDEMO_PERPLEXITY_TOKENS
    page.locator("#doc-prompt").evaluate("e => e.scrollIntoView({block: 'start'})")
    save(page, "doc_completion", publish=True)


def test_empty_prompt_and_unknown_page_show_errors(app_server, page):
    open_doc_tab(page, app_server)
    fill(page, "doc-prompt", "")
    page.locator("#doc-generate").click()
    error = page.locator("#doc-error")
    expect(error).to_contain_text("prompt is empty", timeout=30_000)

    # the page picker is a choice, not a text box: typing filters, and what is picked is a real page
    expect(page.locator("#doc-page .token").first).to_be_visible(timeout=30_000)  # the default pages
    before = page_chips(page)
    box = page.locator("#doc-page input")
    box.click()
    box.press_sequentially("s3_bucket_versioning")
    option = page.get_by_role("option", name=re.compile(r"^r\/s3_bucket_versioning\b"))
    expect(option).to_be_visible()
    option.click()
    page.keyboard.press("Escape")
    chips = page_chips(page)
    assert chips[:-1] == before and chips[-1].startswith("r/s3_bucket_versioning"), chips
    box.click()
    box.press_sequentially("r/no_such_resource")
    box.press("Enter")
    page.keyboard.press("Escape")
    page.locator("#doc-score").click()  # nothing typed became a value: only the two real pages are scored
    expect(page.locator("#doc-ppl tbody tr")).to_have_count(len(chips), timeout=GENERATION_TIMEOUT_MS)
    assert page_chips(page) == chips
    expect(error).to_be_hidden()
    assert app_server.alive()
