"""The Evaluate tab in a real browser: the reference fidelity check, then a tiny base-vs-tuned evaluation."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORT, open_app, open_tab
from tests.browser.screenshots import save
from tests.browser.test_compare_tab import TUNED_RUN, pick, tuned_run  # noqa: F401 - the shared adapter fixture

GENERATION_TIMEOUT_MS = 240_000  # the app may load the model first; the CPU is small and shared


def _set(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(value)
    box.press("Tab")


def _open_evaluate(page, app_server) -> None:
    open_app(page, app_server)
    open_tab(page, "Evaluate")
    expect(page.locator("#eval-reference")).to_be_visible()


def test_reference_scores_then_a_tiny_generation_eval(app_server, tuned_run, page):  # noqa: F811
    page.set_viewport_size({"width": 1440, "height": 1000})
    _open_evaluate(page, app_server)
    summary, table, detail = page.locator("#eval-summary"), page.locator("#eval-table"), page.locator("#eval-detail")

    # The harness's fidelity check: the tasks' own reference programs, scored in seconds.
    _set(page, "eval-count", "30")
    page.locator("#eval-reference").click()
    expect(summary).to_contain_text(re.compile(r"Mode: (static|real)"), timeout=90_000)
    expect(summary).to_contain_text("reference programs")
    expect(table).to_contain_text("reference")
    expect(table).to_contain_text("%")
    expect(page.locator("#eval-chart .eval-chart-bar").first).to_be_visible()
    expect(detail).to_contain_text("Task #0")
    pick(page, "eval-task", re.compile(r"^#7 · "))
    expect(detail).to_contain_text("Task #7", timeout=20_000)
    expect(detail.locator(".eval-badge").first).to_be_visible()
    page.set_viewport_size({"width": 1440, "height": 1700})
    page.evaluate("document.querySelector('#eval-systems').scrollIntoView({block: 'start'})")
    save(page, "evaluate", publish=True)
    page.set_viewport_size({"width": 1440, "height": 1000})

    # A tiny generation run: base and the tuned adapter in one batch, one task, short answers.
    page.locator("#eval-adapter-refresh").click()
    pick(page, "eval-adapter", TUNED_RUN)
    page.locator("#eval-systems").get_by_label("tuned", exact=True).check()
    _set(page, "eval-count", "1")
    _set(page, "eval-max-tokens", "16")
    page.locator("#eval-estimate-btn").click()  # before starting: how long, from speeds measured here
    expect(page.locator("#eval-estimate")).to_contain_text(
        re.compile(r"on this machine|answers are cached"), timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator("#eval-error")).to_be_hidden()
    page.locator("#eval-run").click()
    expect(summary).to_contain_text("answers of", timeout=GENERATION_TIMEOUT_MS)
    expect(summary).to_contain_text(re.compile(r"Mode: (static|real)"))
    expect(page.locator("#eval-error")).to_be_hidden()
    expect(table).to_contain_text("base")
    expect(table).to_contain_text(f"tuned:{TUNED_RUN}")
    chart = page.locator("#eval-chart")
    expect(chart).to_contain_text(f"tuned:{TUNED_RUN}")  # the chart follows the new run, names in full
    expect(chart.locator(".eval-chart-row")).to_have_count(2 * 6)
    legend_colour = chart.locator(".eval-chart-key span").nth(1).evaluate("e => getComputedStyle(e).backgroundColor")
    bar_colour = chart.locator(f'.eval-chart-row[data-system="tuned:{TUNED_RUN}"] .eval-chart-bar').first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert legend_colour == bar_colour
    label = chart.locator(f'.eval-chart-row[data-system="tuned:{TUNED_RUN}"] .eval-chart-label').first
    assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # not cut off
    expect(detail).to_contain_text("Task #0")
    expect(detail.locator(".eval-sample")).to_have_count(2)
    expect(detail.locator(".eval-sample").nth(1)).to_contain_text(f"tuned:{TUNED_RUN}")
    for i in range(2):
        expect(detail.locator(".eval-sample").nth(i).locator(".eval-badge").first).to_be_visible()
    expect(detail).to_contain_text("new tokens")

    # Both evaluations are listed for later.
    page.get_by_text("Earlier evaluations").click()
    page.locator("#eval-history input").click()
    expect(page.get_by_role("option")).to_have_count(2, timeout=10_000)
    page.keyboard.press("Escape")
    page.locator("#eval-summary").click()  # close the list
    assert (app_server.cache_dir / "eval" / "results").is_dir()

    page.evaluate("document.querySelector('#eval-detail').scrollIntoView({block: 'start'})")
    save(page, "evaluate-generate")
    assert app_server.alive()


def _evaluation_id(summary) -> str:
    match = re.search(r"Evaluation (\d{8}-\d{6}-[0-9a-f]{6})", summary.inner_text())
    assert match, summary.inner_text()
    return match.group(1)


def test_scoring_the_same_tasks_again_finishes_every_time(app_server, browser, page):
    """Issue 14, bug 1: a rerun met a Rego engine made on another worker thread, panicked and hung forever.

    Gradio hands each event to the most recently freed worker thread, so the rerun is made to land on
    another one by keeping that thread busy with a second visitor's generation run meanwhile.
    """
    _open_evaluate(page, app_server)
    summary, table = page.locator("#eval-summary"), page.locator("#eval-table")
    _set(page, "eval-count", "5")
    seen: list[str] = []

    def score_reference() -> None:
        page.locator("#eval-reference").click()
        expect(summary).to_contain_text("on 5 IaC-Eval tasks", timeout=90_000)
        if seen:
            expect(summary).not_to_contain_text(seen[-1], timeout=90_000)
        seen.append(_evaluation_id(summary))
        expect(table).to_contain_text("reference")
        expect(table).to_contain_text("%")
        expect(page.locator("#eval-error")).to_be_hidden()

    score_reference()
    other_context = browser.new_context(viewport=VIEWPORT)
    try:
        other = other_context.new_page()
        other.set_default_timeout(20_000)
        _open_evaluate(other, app_server)
        _set(other, "eval-count", "2")
        _set(other, "eval-max-tokens", "48")
        other.locator("#eval-run").click()
        expect(other.locator("#eval-table .progress-text, #eval-summary .progress-text").first).to_be_visible(
            timeout=30_000)
        # progress per generated token, with the speed and an ETA (issue 14: "Answer 1/9" for 10 minutes)
        expect(other.locator("#eval-summary")).to_contain_text(re.compile(r"\d+ tokens generated"),
                                                               timeout=GENERATION_TIMEOUT_MS)
        score_reference()  # while the other visitor's run holds the last thread
        score_reference()
        expect(other.locator("#eval-summary")).to_contain_text("answers of", timeout=GENERATION_TIMEOUT_MS)
        expect(other.locator("#eval-error")).to_be_hidden()
        expect(other.locator("#eval-table")).to_contain_text("base")
    finally:  # a run still generating on a loaded machine would hold the queue for the next tests
        if not other.is_closed() and other.locator("#eval-stop").is_visible():
            other.locator("#eval-stop").click()
            expect(other.locator("#eval-summary .progress-text")).to_have_count(0, timeout=GENERATION_TIMEOUT_MS)
        other_context.close()
    assert len(set(seen)) == 3
    assert "PanicException" not in app_server.log_path.read_text()
    assert app_server.alive()


def test_bad_selection_shows_an_error(app_server, page):
    _open_evaluate(page, app_server)
    page.locator("#eval-systems").get_by_label("base", exact=True).uncheck()
    page.locator("#eval-run").click()
    expect(page.locator("#eval-error")).to_contain_text("Pick at least one system", timeout=30_000)
    page.locator("#eval-systems").get_by_label("tuned", exact=True).check()
    page.locator("#eval-run").click()
    expect(page.locator("#eval-error")).to_contain_text("Pick a tuned adapter", timeout=30_000)
    assert app_server.alive()
