"""Two visitors chat in the Compare tab at the same time while a training job runs (issue 6's fault test).

Each visitor must get their own answers and keep their own history, and the job must keep training.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from iacdemo.training.config import TrainConfig
from iacdemo.training.runner import JobRunner
from tests.browser.test_compare_tab import (GENERATION_TIMEOUT_MS, assert_kept_short, bot_text, fill, open_compare,
                                            set_short_answers)

PROMPTS = ("Create an S3 bucket named alpha-logs.", "Create an SQS queue named beta-jobs.")


@pytest.fixture
def running_job(app_server, settings, tiny_model_dir, loaded_model):
    """A real training job on the tiny model, in the app's runs dir (the app's runner sees the same lock)."""
    from iacdemo.corpus.build import build_corpus

    dataset = app_server.cache_dir / "datasets" / "concurrency-page"
    if not (dataset / "stats.json").exists():
        build_corpus(None, out_dir=dataset, seq_len=512, services=["DynamoDB"],
                     path_pattern="*/r/dynamodb_contributor_insights.html.markdown", settings=settings,
                     tokenizer=loaded_model.tokenizer)
    job_settings = settings.with_overrides(runs_dir=app_server.runs_dir, cache_dir=app_server.cache_dir)
    runner = JobRunner(job_settings)
    config = TrainConfig(dataset=str(dataset), model=str(tiny_model_dir), run_name="concurrency-job", seq_len=64,
                         batch_size=1, max_steps=100000, eval_fraction=0.0, chat_mix_ratio=0.0, save_every=0,
                         device="cpu", cpu_threads=1)
    name = runner.start(config)
    try:
        deadline = time.monotonic() + 120
        while runner.poll(name).step < 1 and runner.poll(name).running and time.monotonic() < deadline:
            time.sleep(0.5)
        assert runner.poll(name).step >= 1, runner.poll(name).log_tail
        yield runner, name
    finally:
        runner.stop(name)
        runner.wait(name, timeout=120)


def test_two_visitors_chat_while_a_job_trains(app_server, browser, running_job):
    runner, name = running_job
    step_before = runner.poll(name).step
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in PROMPTS]
    try:
        pages = [context.new_page() for context in contexts]
        for page, prompt in zip(pages, PROMPTS):
            open_compare(page, app_server)
            set_short_answers(page)
            fill(page, "compare-message", prompt)
        for page in pages:  # both requests are in flight together
            page.locator("#compare-send").click()
        for page in pages:
            expect(page.locator("#compare-status")).to_contain_text("tokens/s", timeout=GENERATION_TIMEOUT_MS)
            assert_kept_short(page.locator("#compare-status"))
            expect(bot_text(page, 0)).to_have_text(re.compile(r"\w{3,}"))
        # each visitor sees only their own conversation
        expect(pages[0].locator("#compare-chat-0")).to_contain_text("alpha-logs")
        expect(pages[0].locator("#compare-chat-0")).not_to_contain_text("beta-jobs")
        expect(pages[1].locator("#compare-chat-0")).to_contain_text("beta-jobs")
        expect(pages[1].locator("#compare-chat-0")).not_to_contain_text("alpha-logs")
    finally:
        for context in contexts:
            context.close()
    snapshot = runner.poll(name)
    assert snapshot.running and snapshot.step > step_before, "the job must keep training meanwhile"
    assert app_server.alive()
