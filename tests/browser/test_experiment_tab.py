"""The Experiment tab in a real browser: a finished experiment's report rendered, a bad config path refused.

The report is the committed smoke-size one (docs/experiments/smollm2-dynamodb-smoke), put where the
app looks for that config's report (runs dir/experiments/<name>), as a finished run leaves it.
"""
from __future__ import annotations

import re
import shutil

from playwright.sync_api import expect

from iacdemo.settings import REPO_ROOT
from tests.browser.conftest import open_app, open_tab
from tests.browser.screenshots import save
from tests.browser.test_compare_tab import pick

SMOKE = "smollm2-dynamodb-smoke"
SMOKE_REPORT = REPO_ROOT / "docs" / "experiments" / SMOKE


def _install_smoke_report(app_server) -> None:
    target = app_server.runs_dir / "experiments" / SMOKE
    target.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "report.json", "loss.png", "systems.png", "perplexity.png", "repair.png"):
        shutil.copy(SMOKE_REPORT / name, target / name)


def test_a_finished_report_is_rendered_and_a_bad_config_path_is_a_clear_message(app_server, page):
    _install_smoke_report(app_server)
    open_app(page, app_server)
    open_tab(page, "Experiment")
    status, report = page.locator("#experiment-status"), page.locator("#experiment-report")

    pick(page, "experiment-config", f"{SMOKE}.toml")
    expect(status).to_contain_text(f"{SMOKE}: finished", timeout=30_000)
    expect(report).to_contain_text("Headline")
    expect(report).to_contain_text("The original's findings, as numbers")
    expect(report.locator("table").first).to_contain_text("tuned + repair")
    expect(page.locator("#experiment-plots img")).to_have_count(4)
    expect(page.locator("#experiment-error")).to_be_hidden()
    save(page, "experiment")

    box = page.locator("#experiment-config input")
    box.fill("experiments/no-such-experiment.toml")
    box.press("Enter")
    error = page.locator("#experiment-error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_contain_text(re.compile(r"Cannot read experiment config .*no-such-experiment\.toml"))
    expect(report).to_contain_text("Headline")  # the last good view stays on screen
