"""Long evaluations on a CPU (issue 14): progress per token, an ETA from measured speed, an estimate
before starting, and results that reach the table task by task."""
from __future__ import annotations

import threading

import pytest

from iacdemo.evaluation import answers as answers_module
from iacdemo.evaluation.answers import AnswerCache, System, eval_gen_settings, estimate_generation
from iacdemo.evaluation.comparison import evaluate_systems
from iacdemo.evaluation.eta import SPEEDS, RunClock, Speed, SpeedBook, forecast, format_duration
from iacdemo.evaluation.live import DONE, ERROR, UPDATE, run_with_updates
from tests.test_eval_generate import eval_settings, tiny_session  # noqa: F401 - shared fixtures


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---- the arithmetic, on a fake clock ----------------------------------------------------------------------------
def test_a_batch_costs_its_padded_prompt_plus_its_decode_steps():
    speed = Speed(prefill_tokens_per_s=1000, decode_steps_per_s=10)
    assert speed.batch_seconds([200, 1800], 50) == pytest.approx(2 * 1800 / 1000 + 5)
    plan = forecast([[200, 200], [1800]], 100, speed, cached=3)
    assert plan.answers == 3 and plan.cached == 3 and plan.prompt_tokens == 2200
    assert plan.upper_s == pytest.approx(0.4 + 10 + 1.8 + 10)
    assert "3 more cached" in plan.text() and "About 22 s on this machine" in plan.text()
    assert "not measured" in forecast([[10]], 5, None).text()
    assert "All 4 answers are cached" in forecast([], 5, speed, cached=4).text()
    assert format_duration(754) == "13 min" and format_duration(75) == "1 min 15 s" and format_duration(3700) == "1 h 01 min"


def test_progress_moves_with_every_token_and_the_eta_comes_from_the_measured_speed():
    clock = FakeClock()
    run = RunClock([[100, 100], [100, 100], [100, 100]], 20, clock=clock)
    run.start_batch(0)
    assert "measuring speed" in run.message() and "reading 200 prompt tokens" in run.message()
    clock.now += 2.0  # prefill: 200 tokens in 2 s
    run.tick(1, 2)
    fractions, messages = [], []
    for step in range(2, 11):  # 10 decode steps per second
        clock.now += 0.1
        run.tick(step, 2 * step)
        fractions.append(run.fraction())
        messages.append(run.message())
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)  # moves on every token
    assert len({m.split(" · ")[1] for m in messages}) == len(messages)  # "N tokens generated" changes each time
    assert run.message((1, 2), 3).startswith("Answers 1–2/6 (tasks 1–2/3) · ")
    assert "Answers 1–2/6" in messages[-1] and "20 tokens generated" in messages[-1] and "20.0 tok/s" in messages[-1]
    # measured: 100 prompt tokens/s and 10 steps/s; left: 10 steps here + 2 batches x (2 s + 2 s)
    assert run.eta_s() == pytest.approx(1.0 + 2 * 4.0, rel=0.02)
    clock.now += 1.0
    measured = run.end_batch(20, 40)
    assert measured[0] == 200 and measured[1] == pytest.approx(2.0) and measured[2] == 19
    assert run.eta_s() == pytest.approx(2 * 4.0, rel=0.02) and "ETA about 8 s" in run.message()


def test_answers_that_stop_early_shorten_the_eta():
    clock = FakeClock()
    run = RunClock([[100], [100]], 100, clock=clock, prior=Speed(100, 10))
    assert run.eta_s() == pytest.approx(2 * (1 + 10))  # before anything: the limit, at the book's speed
    run.start_batch(0)
    clock.now += 1.0
    run.tick(1, 1)
    clock.now += 2.4
    run.tick(25, 25)
    clock.now += 0.1
    run.end_batch(25, 25)  # stopped after a quarter of the limit
    assert run.step_share() == 0.25
    assert run.eta_s() == pytest.approx(1 + 2.5, rel=0.05)


def test_the_speed_book_settles_over_batches():
    book = SpeedBook()
    book.record("m", 1000, 1.0, 10, 1.0)
    book.record("m", 3000, 1.0, 30, 1.0)
    book.record("m", 0, 0.0, 0, 0.0)  # a batch stopped before its first token is ignored
    speed = book.get("m")
    assert speed.prefill_tokens_per_s == 2000 and speed.decode_steps_per_s == 20 and speed.batches == 2
    assert book.get("other") is None


def test_a_job_thread_always_ends_the_stream_even_on_a_panic():
    class Panic(BaseException):  # what pyo3's PanicException is
        pass

    def work(emit):
        emit(1)
        emit(2)
        raise Panic("engine is unsendable")

    items = list(run_with_updates(work))
    assert items[:2] == [(UPDATE, 1), (UPDATE, 2)] and items[2][0] == ERROR and isinstance(items[2][1], Panic)
    assert list(run_with_updates(lambda emit: 42)) == [(DONE, 42)]
    stop, release = threading.Event(), threading.Event()

    def slow(emit):
        emit("started")
        release.wait(10)

    stream = run_with_updates(slow, stop_event=stop)
    assert next(stream) == (UPDATE, "started")
    stream.close()  # the page went away
    assert stop.is_set()
    release.set()


# ---- with a real (tiny) model ---------------------------------------------------------------------------------
def test_generation_reports_every_few_tokens_and_the_table_fills_task_by_task(
        tasks, eval_settings, tiny_session, tiny_model_dir, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(answers_module, "PROGRESS_EVERY_S", 0.0)
    messages, partials = [], []
    comparison = evaluate_systems(
        tasks[:3], [System.make()], model_id=str(tiny_model_dir), session_provider=lambda: tiny_session,
        gen=eval_gen_settings(1, 12), batch_rows=1, settings=eval_settings, cache=AnswerCache(tmp_path),
        progress=lambda fraction, message: messages.append((fraction, message)), on_partial=partials.append)
    token_counts = {m.split("tokens generated")[0].split(" · ")[-1] for _, m in messages if "tokens generated" in m}
    assert len(token_counts) > 3 * 2  # per token, not per answer
    assert any("tok/s" in m for _, m in messages) and any("ETA about" in m for _, m in messages)
    fractions = [f for f, _ in messages]
    assert fractions[-1] == pytest.approx(1.0) and max(fractions) <= 1.0
    assert [p.reports["base"]["tasks"] for p in partials] == [1, 2, 3]
    assert [len(p.tasks) for p in partials] == [1, 2, 3] and not any(p.complete for p in partials)
    assert comparison.complete and comparison.reports["base"]["tasks"] == 3
    assert partials[-1].reports["base"]["pass_at_1"] == comparison.reports["base"]["pass_at_1"]
    assert SPEEDS.get(str(tiny_model_dir)).batches >= 3  # what the next estimate is made from


def test_an_estimate_before_starting_counts_prompts_and_cached_answers(
        tasks, eval_settings, tiny_session, tiny_model_dir, tmp_path):  # noqa: F811
    cache = AnswerCache(tmp_path)
    common = dict(model_id=str(tiny_model_dir), session_provider=lambda: tiny_session, gen=eval_gen_settings(1, 8),
                  settings=eval_settings, cache=cache, batch_rows=2)
    SPEEDS.forget(str(tiny_model_dir))  # nothing measured yet: the estimate times a short batch itself
    plan = estimate_generation(tasks[:3], [System.make()], **common)
    assert plan.answers == 3 and plan.cached == 0 and plan.speed is not None and plan.upper_s > 0
    assert plan.prompt_tokens > 3 * 50  # the IaC-Eval system prompt and task, tokenized
    assert "on this machine" in plan.text() and SPEEDS.get(str(tiny_model_dir)).batches == 1
    evaluate_systems(tasks[:1], [System.make()], **common)
    again = estimate_generation(tasks[:3], [System.make()], **common)
    assert again.answers == 2 and again.cached == 1
    assert estimate_generation(tasks[:1], [System.make()], **common).text().startswith("All 1 answers are cached")
