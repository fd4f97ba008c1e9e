"""The Train tab in a real browser: quick-demo preset, a bad hyperparameter, a real training job on the
embedded model with live loss points, a page reload that re-attaches to it, and Stop; the overlay plot
of one run; lists that are current whenever they are shown.

The job is kept short (64-token blocks, batch 1) so the whole module takes about two minutes on 2 cores.
"""
from __future__ import annotations

import re
import shutil
import time

import pytest
from playwright.sync_api import expect

from iacdemo.training.config import TrainConfig
from iacdemo.training.runner import JobRunner

from tests.browser.conftest import open_app, open_tab, type_until_kept
from tests.browser.screenshots import save

RUN_NAME = "browser-train"
JOB_TIMEOUT_MS = 180_000  # model load + first step on a shared 2-core machine
STEP_TIMEOUT_MS = 90_000


@pytest.fixture
def no_orphan_job(app_server, settings):
    """Jobs outlive the app by design; a failing test must not leave one training on the shared CPU."""
    yield
    runner = JobRunner(settings.with_overrides(runs_dir=app_server.runs_dir))
    if runner.active_run():
        runner.stop(force=True)


def _open_group(page, elem_id: str) -> None:
    """Accordions render their fields only once opened."""
    group = page.locator(f"#{elem_id}")
    if not group.get_by_test_id("accordion-content").first.is_visible():
        group.locator("button.label-wrap").first.click()


def _set(page, name: str, value: str, tries: int = 5) -> None:
    """Type a value and make sure it stays typed (type_until_kept says why it may not)."""
    box = page.locator(f"#train-{name} input, #train-{name} textarea").first

    def type_once():
        if box.get_attribute("type") == "number":
            box.fill(value)
        else:  # gradio's text box fires `input` on key presses, not on Playwright's fill (a user types)
            box.fill(value[:-1])
            box.press_sequentially(value[-1:])
        box.blur()

    type_until_kept(page, box, value, type_once, f"#train-{name}", settle_ms=100, tries=tries)


def _step(page) -> int:
    text = page.locator('#train-stats [data-stat="step"]').inner_text()
    return int(re.search(r"(\d+)/", text).group(1))


def _wait_past_step(page, step: int) -> None:
    page.wait_for_function("(step) => parseInt((document.querySelector('#train-stats [data-stat=step]')"
                           ".innerText.match(/(\\d+)\\//) || [0, 0])[1]) > step", arg=step, timeout=STEP_TIMEOUT_MS)


def _line_points(page) -> tuple[int, bool]:
    """Vertices of the train-loss line (a one-point line is drawn too: see the round caps in style.css),
    and whether it has a colour."""
    page.mouse.move(0, 0)  # a hovered chart highlights one series; measure it at rest
    paths = page.locator("#train-loss-plot g.mark-line path")
    if paths.count() == 0:
        return 0, False
    d = paths.first.get_attribute("d") or ""
    return (d.count("L") + 1 if d.startswith("M") else 0), bool(paths.first.get_attribute("stroke"))


def _wait_points(page, n: int, timeout_s: float = 15) -> int:
    """The chart draws asynchronously after the stats update: give it a moment. Right after a reload the
    line can be drawn for an instant before vega has given it its colour: only the settled line counts."""
    deadline = time.monotonic() + timeout_s
    while ((points := _line_points(page))[0] < n or not points[1]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert points[0] >= n, f"the loss plot shows {points[0]} points, expected at least {n}"
    assert points[1], "the loss line is drawn without a colour"
    return points[0]


def _x_tick_labels(page, plot_id: str) -> list[str]:
    """The x axis's tick labels (vega's grid lines are axes too, without labels: pick the x axis by name)."""
    axis = page.locator(f'#{plot_id} g.role-axis[aria-label^="X-axis"]')
    labels = axis.locator("g.role-axis-label text").all_text_contents()
    assert labels, f"no x axis labels on #{plot_id}"
    return labels


def _wait_text(locator, pattern: str, timeout_s: float = 20) -> str:
    """Wait until the element's rendered text (cells separated by whitespace) matches `pattern`."""
    deadline = time.monotonic() + timeout_s
    while not re.search(pattern, text := locator.inner_text()):
        assert time.monotonic() < deadline, f"{pattern!r} not in {text!r}"
        time.sleep(0.3)
    return text


def _open_train(page, server):
    open_app(page, server)
    open_tab(page, "Train")
    expect(page.locator("#train-start")).to_be_visible()


def test_train_job_streams_reattaches_and_stops(app_server, page, no_orphan_job):
    _open_train(page, app_server)
    errors = page.locator("#train-error")

    # the preset builds the DynamoDB slice when it is missing and fills the form; it says so, and starts nothing
    runs_before = set(app_server.runs_dir.glob("*/config.json"))  # other tests share this app's runs dir
    expect(page.locator("#train-preset")).to_contain_text("fill the form")
    page.locator("#train-preset").click()
    expect(page.locator("#train-max-steps input")).to_have_value("55", timeout=120_000)
    expect(page.locator("#train-dataset input")).to_have_value(re.compile("quick-demo-dynamodb"))
    assert (app_server.cache_dir / "datasets" / "quick-demo-dynamodb" / "stats.json").is_file()
    _open_group(page, "train-group-evaluation-saving")
    expect(page.locator("#train-eval-fraction input")).not_to_have_value("0")  # held-out pages: an eval curve
    assert set(app_server.runs_dir.glob("*/config.json")) == runs_before
    page.locator("#train-command-accordion button.label-wrap").first.click()
    expect(page.locator("#train-command textarea")).to_have_value(re.compile(r"--max-steps 55"))

    # a bad hyperparameter is refused with the field's name, and nothing starts
    _open_group(page, "train-group-optimization")
    _set(page, "lr", "5")
    page.locator("#train-start").click()
    expect(errors).to_contain_text("Learning rate", timeout=30_000)
    expect(errors).to_contain_text("above the maximum")
    assert set(app_server.runs_dir.glob("*/config.json")) == runs_before

    # a short real job on the embedded model
    _set(page, "lr", "0.0003")
    _set(page, "batch-size", "1")
    _set(page, "max-steps", "40")
    _open_group(page, "train-group-data")
    _set(page, "seq-len", "64")
    _open_group(page, "train-group-model")
    _open_group(page, "train-group-model-more")
    _set(page, "cpu-threads", "1")  # on a shared 2-core machine one thread is several times faster
    _open_group(page, "train-group-evaluation-saving")
    _set(page, "eval-fraction", "0.2")  # the plot's second series: eval loss on held-out pages
    _set(page, "eval-every", "4")
    _open_group(page, "train-group-evaluation-saving-more")
    _set(page, "eval-max-batches", "2")  # keep each evaluation to a second
    _open_group(page, "train-group-run")
    _set(page, "run-name", RUN_NAME)
    expect(page.locator("#train-command textarea")).to_have_value(re.compile(r"--max-steps 40.*--seq-len 64|"
                                                                             r"--seq-len 64.*--max-steps 40"))
    # the command names the run folder once the server has the name (a Start click before that loses it)
    expect(page.locator("#train-command textarea")).to_have_value(re.compile(rf"/{RUN_NAME}\b"), timeout=20_000)
    page.locator("#train-start").click()
    stats = page.locator("#train-stats .train-stats")
    expect(stats).to_have_attribute("data-run", RUN_NAME, timeout=30_000)
    expect(stats).to_have_attribute("data-status", "running", timeout=60_000)
    expect(errors).to_be_hidden()

    # the first logged step is already a point on the plot, and the bar moves
    started = time.monotonic()
    expect(page.locator('#train-stats [data-stat="step"]')).to_contain_text(re.compile(r"\b[1-9]\d*/40"),
                                                                           timeout=JOB_TIMEOUT_MS)
    first_seen = _step(page)
    _wait_points(page, 1)
    expect(page.locator("#train-progress .train-progress")).not_to_have_attribute("aria-valuenow", "0.0")
    expect(page.locator('#train-stats [data-stat="tokens/s"]')).not_to_contain_text("–")
    _wait_past_step(page, first_seen)
    _wait_points(page, 2)
    # the runs table follows the live panel without "Refresh runs" (it said "queued 0/40" before)
    _wait_text(page.locator("#train-runs"), rf"{RUN_NAME}\s+running\s+\S+\s+[1-9]\d*/40", timeout_s=10)
    expect(page.locator('#train-stats [data-stat="tokens/s"]')).to_contain_text(re.compile(r"last \d+ steps"))
    assert all(re.fullmatch(r"\d+", label) for label in _x_tick_labels(page, "train-loss-plot"))
    print(f"\nfirst loss point at step {first_seen}; step {_step(page)} after {time.monotonic() - started:.1f} s")

    # a reloaded page re-attaches to the running job and keeps streaming
    page.reload()
    expect(page.get_by_test_id("header-device")).to_be_visible(timeout=60_000)
    open_tab(page, "Train")
    expect(stats).to_have_attribute("data-run", RUN_NAME, timeout=30_000)
    expect(stats).to_have_attribute("data-status", "running")
    before = _step(page)
    _wait_past_step(page, before)
    _wait_points(page, before + 1)
    expect(page.locator("#train-log")).to_contain_text(re.compile(r"step \d+/40 loss"))
    expect(page.locator("#train-loss-plot")).to_contain_text("eval loss")
    page.locator("#train-start").evaluate("e => e.scrollIntoView({block: 'start'})")
    _wait_points(page, _step(page))
    save(page, "train", publish=True)

    # Stop: the job saves its adapter and ends `stopped`; the runs table says so
    page.locator("#train-stop").click()
    expect(stats).to_have_attribute("data-status", "stopped", timeout=120_000)
    expect(errors).to_be_hidden()
    expect(page.locator("#train-runs")).to_contain_text("stopped", timeout=20_000)
    expect(page.locator('#train-stats [data-stat="tokens/s"]')).to_contain_text("tokens/s avg")
    assert (app_server.runs_dir / RUN_NAME / "adapter" / "adapter_config.json").is_file()

    # a second Stop has nothing to stop, and says so
    page.locator("#train-stop").click()
    expect(errors).to_contain_text("No training job is running", timeout=20_000)
    assert app_server.alive()


# ---- overlay plot and fresh lists ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_settings(app_server, settings):
    return settings.with_overrides(runs_dir=app_server.runs_dir, cache_dir=app_server.cache_dir)


@pytest.fixture(scope="module")
def same_seed_runs(app_settings, tiny_model_dir):
    """Two real 3-step runs of a tiny model with the same settings and seed: the same loss curve."""
    from iacdemo.training.data import ensure_quick_demo_dataset

    dataset = ensure_quick_demo_dataset(app_settings)
    runner = JobRunner(app_settings)
    names = []
    for name in ("overlay-a", "overlay-b"):
        config = TrainConfig(dataset=str(dataset), model=str(tiny_model_dir), run_name=name, seq_len=64,
                             batch_size=2, max_steps=3, eval_fraction=0.2, chat_mix_ratio=0.0, cpu_threads=1,
                             device="cpu", save_every=0)
        snap = runner.wait(runner.start(config), timeout=300)
        assert snap.status == "finished", snap.log_tail
        names.append(name)
    return names


def _coloured_lines(page, plot_id: str, n: int, timeout_s: float = 20) -> list[str]:
    """The strokes of the plot's lines once it shows `n` lines, each with a colour (the points arrive
    first and are drawn uncoloured until the legend update redraws the chart)."""
    lines = page.locator(f"#{plot_id} g.mark-line path")
    deadline = time.monotonic() + timeout_s
    while True:
        strokes = [lines.nth(i).get_attribute("stroke") for i in range(lines.count())]
        if len(strokes) == n and all(strokes):
            return strokes
        assert time.monotonic() < deadline, f"#{plot_id} shows strokes {strokes}, expected {n} coloured lines"
        time.sleep(0.3)


def _pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.mouse.click(5, 5)  # close the list (a click in the page's corner changes nothing)


def test_overlay_draws_one_run_and_names_runs_on_top_of_each_other(app_server, page, same_seed_runs, no_orphan_job):
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    _open_train(page, app_server)
    page.locator("#train-overlay-plot").scroll_into_view_if_needed()
    page.wait_for_timeout(2000)  # the empty plots' first draw warns about their empty data: not the point here
    warnings.clear()

    first, second = same_seed_runs
    _pick(page, "train-overlay-pick", first)
    strokes = _coloured_lines(page, "train-overlay-plot", 2)  # train and eval loss of the one run
    assert strokes[0] != strokes[1]
    expect(page.locator("#train-overlay-plot")).to_contain_text(f"{first} (eval)")
    assert all(re.fullmatch(r"\d+", label) for label in _x_tick_labels(page, "train-overlay-plot"))
    assert not [w for w in warnings if "Infinite extent" in w], warnings

    _pick(page, "train-overlay-pick", second)
    assert len(set(_coloured_lines(page, "train-overlay-plot", 4))) == 4
    expect(page.locator("#train-overlay-note")).to_contain_text(f"{second} lies exactly on {first}")
    assert not [w for w in warnings if "Infinite extent" in w], warnings


def test_dataset_and_runs_lists_are_current_when_shown(app_server, app_settings, page, browser, no_orphan_job):
    from iacdemo.corpus.build import build_corpus

    fresh = "browser-fresh-corpus"
    _open_train(page, app_server)  # opened before the corpus exists
    build_corpus(None, out_dir=app_settings.datasets_dir / fresh, seq_len=512, services=["DynamoDB"],
                 settings=app_settings)
    run_dir = app_server.runs_dir / "browser-listed-later"  # a run folder from a CLI job, say
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(TrainConfig(dataset="x", run_name=run_dir.name).to_json())
    try:
        _check_lists_are_fresh(app_server, page, browser, fresh, run_dir.name)
    finally:
        shutil.rmtree(run_dir)
        shutil.rmtree(app_settings.datasets_dir / fresh)


def _check_lists_are_fresh(app_server, page, browser, fresh: str, run_name: str) -> None:
    # switching away and back re-reads both lists (no "Refresh" click)
    open_tab(page, "Data")
    open_tab(page, "Train")
    expect(page.locator("#train-runs")).to_contain_text(run_name, timeout=20_000)
    page.locator("#train-dataset input").click()
    expect(page.get_by_role("option", name=re.compile(fresh))).to_be_visible(timeout=10_000)
    page.locator("#train-dataset").press("Escape")

    # and a page opened now lists them at once, on the Train tab's first showing
    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        _open_train(other, app_server)
        expect(other.locator("#train-runs")).to_contain_text(run_name, timeout=20_000)
        other.locator("#train-dataset input").click()
        expect(other.get_by_role("option", name=re.compile(fresh))).to_be_visible(timeout=10_000)
    finally:
        other.context.close()
