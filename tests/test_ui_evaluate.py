"""The Evaluate tab's logic without a browser: form validation, runs through the app's shared model, views."""
from __future__ import annotations

import dataclasses
import html
import threading

import gradio as gr
import pytest

from iacdemo.errors import ConfigError
from iacdemo.evaluation.comparison import list_comparisons, load_comparison
from iacdemo.ui import evaluate_views as views
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs import evaluate_tab
from tests.ui_support import isolated_settings


@pytest.fixture(scope="module")
def ctx(settings, tiny_model_dir, tmp_path_factory):
    """The app context on the tiny model, with answers and results in a temporary cache."""
    local = isolated_settings(settings, tmp_path_factory.mktemp("ui-eval"), default_model=str(tiny_model_dir))
    return AppContext(local)


@pytest.fixture(scope="module")
def reference(ctx):
    return evaluate_tab.run_reference(ctx, [1, 2, 3, 4, 5, 6], 12)


@pytest.fixture(scope="module")
def generated(ctx):
    return evaluate_tab.run_generation(ctx, ["base"], None, [1, 2], 2, 2, 8)


def test_form_validation():
    with pytest.raises(ConfigError, match="at least one system"):
        evaluate_tab.systems_from_form([], None)
    with pytest.raises(ConfigError, match="tuned adapter"):
        evaluate_tab.systems_from_form(["base", "tuned + RAG"], "")
    with pytest.raises(ConfigError, match="Unknown system"):
        evaluate_tab.systems_from_form(["gpt-9"], None)
    systems = evaluate_tab.systems_from_form(["tuned + RAG", "base", "tuned"], "runs/r1/adapter")
    assert [s.label for s in systems] == ["base", "tuned:r1", "tuned:r1 + RAG"]
    assert [s.rag for s in systems] == [False, False, True] and systems[1].adapter == "runs/r1/adapter"


def test_task_selection(ctx):
    assert [t.difficulty for t in evaluate_tab.tasks_from_form(ctx, [2], 3)] == [2, 2, 2]
    assert len(evaluate_tab.tasks_from_form(ctx, [1, 2, 3, 4, 5, 6], 0)) == 344
    with pytest.raises(ConfigError, match="difficulty"):
        evaluate_tab.tasks_from_form(ctx, [], 3)
    with pytest.raises(ConfigError, match="whole number"):
        evaluate_tab.tasks_from_form(ctx, [1], 2.5)
    with pytest.raises(ConfigError, match="Samples per task"):
        evaluate_tab.run_generation(ctx, ["base"], None, [1], 1, 0, 8)


def test_reference_views(reference):
    report = reference.reports["reference"]
    assert report["tasks"] == 12 and reference.answers == "reference"
    table = views.results_frame(reference)
    assert list(table["system"]) == ["reference"] and list(table["mode"]) == [reference.mode]
    assert table.loc[0, "pass@1"] == views.pct(report["pass_at_1"])
    assert any(c.startswith("pass@1 d") for c in table.columns)
    summary = views.summary_md(reference)
    assert f"Mode: {reference.mode}" in summary and "reference programs" in summary

    chart = views.chart_html(reference)
    assert chart.count('class="eval-chart-row"') == len(views.METRICS)
    assert f'data-metric="pass@1" data-percent="{round(100 * report["pass_at_1"], 1)}"' in chart

    choices = views.task_choices(reference)
    assert len(choices) == 12 and choices[0][0].startswith("#0 · d")
    failing = next(f for f in report["failures"] if f["failed_rules"])
    detail = views.task_detail_html(reference, failing["task_id"])
    assert "Rego rules that failed" in detail and failing["failed_rules"][0] in detail
    assert "eval-badge" in detail and "plannable" in detail
    passing = next(t["id"] for t in reference.tasks if t["answers"]["reference"][0]["passed"])
    assert "PASS" in views.task_detail_html(reference, passing)


def test_scoring_again_on_another_thread_gives_the_same_results(ctx, reference):
    """A second "Score reference answers" click lands on another Gradio worker thread (issue 14, bug 1)."""
    box: dict = {}

    def again():
        try:
            box["comparison"] = evaluate_tab.run_reference(ctx, [1, 2, 3, 4, 5, 6], 12)
        except BaseException as exc:  # noqa: BLE001 - a pyo3 panic is a BaseException
            box["error"] = exc

    thread = threading.Thread(target=again)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    second = box["comparison"]
    assert second.reports["reference"]["pass_at_1"] == reference.reports["reference"]["pass_at_1"]

    def verdicts(comparison):
        return [(s["passed"], s["cause"], s["failed_rules"], s["error"])
                for t in comparison.tasks for s in t["answers"]["reference"]]

    assert verdicts(second) == verdicts(reference)


def test_generated_run_through_the_shared_model(ctx, generated):
    assert ctx.model_loaded  # the one shared session was used (loaded on first need)
    assert generated.model_id == ctx.model_id and generated.labels == ["base"]
    report = generated.reports["base"]
    assert report["samples_per_task"] == 2 and "pass_at_2" in report
    table = views.results_frame(generated)
    assert "pass@2" in table.columns and table.loc[0, "samples/task"] == 2
    detail = views.task_detail_html(generated, generated.tasks[0]["id"])
    assert detail.count('class="eval-sample"') == 2 and "sample 2 of 2" in detail
    assert "Full answer" in detail and "new tokens" in detail
    assert "greedy" not in views.summary_md(generated) and "sampled" in views.summary_md(generated)


def test_a_run_streams_progress_and_each_scored_task_before_it_ends(ctx):
    items = list(evaluate_tab.stream_generation(ctx, ["base"], None, [1], 3, 1, 8, stop_event=threading.Event()))
    kinds = [kind for kind, _ in items]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and "error" not in kinds
    partials = [value for kind, value in items if kind == "partial"]
    assert [len(p.tasks) for p in partials] == [1, 2, 3]
    assert "Running" in views.summary_md(partials[0]) and len(views.results_frame(partials[0])) == 1
    later = evaluate_tab.comparison_views(partials[1], keep_selection=True)  # someone reading a task keeps it
    assert len(later[3]["choices"]) == 2 and "value" not in later[3] and later[4] == gr.update()
    assert all(isinstance(value[0], float) and isinstance(value[1], str) for kind, value in items if kind == "progress")


def test_a_panic_during_a_run_ends_it_with_a_message(ctx, monkeypatch):
    class PanicException(BaseException):  # pyo3's panics are BaseExceptions, past any `except Exception`
        pass

    def panic(*args, **kwargs):
        raise PanicException("regoruspy::Engine is unsendable, but sent to another thread")

    monkeypatch.setattr(evaluate_tab, "evaluate_systems", panic)
    items = list(evaluate_tab.stream_generation(ctx, ["base"], None, [1], 1, 1, 8, stop_event=threading.Event()))
    assert items[-1][0] == "error" and "unsendable" in str(items[-1][1])


def test_chart_shows_long_system_names_in_full_in_their_legend_colours(generated):
    """Issue 14: labels were cut ("tuned:smollm2-135m-instru…") and colours did not match the legend."""
    long_name = "tuned:smollm2-135m-instruct-quick-demo-with-a-long-run-name + RAG"
    systems = [{"label": "base", "adapter": None, "rag": False}, {"label": long_name, "adapter": "x", "rag": True}]
    comparison = dataclasses.replace(generated, systems=systems,
                                     reports={"base": generated.reports["base"], long_name: generated.reports["base"]})
    chart = views.chart_html(comparison)
    colours = views.system_colours(comparison.labels)
    assert len(set(colours.values())) == 2
    legend, bars = chart.split('class="eval-chart-group"', 1)
    for label in comparison.labels:
        assert f"background:{colours[label]};margin-right:6px" in legend and html.escape(label) in legend
        assert bars.count(f"background:{colours[label]};border-radius") == len(views.METRICS)
        assert bars.count(f'<span class="eval-chart-label" style="flex:0 0 34%;overflow-wrap:anywhere;'
                          f'font-size:0.9em">{html.escape(label)}</span>') == len(views.METRICS)
    assert "…" not in chart and "(lower is better)" in chart
    assert views.chart_html(None) == ""


def test_badges_for_a_sample_without_code():
    assert views.check_badges({"has_code": False, "check": {}}) == [("no code", "error")]
    html = views.task_detail_html(None, 3)
    assert html == ""


def test_history_lists_and_reopens(ctx, reference, generated):
    metas = list_comparisons(ctx.settings)
    ids = [m["id"] for m in metas]
    assert reference.id in ids and generated.id in ids
    choices = views.history_choices(metas)
    assert any(value == reference.id and "reference programs" in label for label, value in choices)
    assert load_comparison(generated.id, ctx.settings).tasks == generated.tasks


def test_views_update_every_output(reference):
    summary, table, chart, picker, detail = evaluate_tab.comparison_views(reference)
    assert "Mode:" in summary and len(table) == 1 and chart.count("eval-chart-row") == len(views.METRICS)
    assert picker["value"] == reference.tasks[0]["id"] and len(picker["choices"]) == 12
    assert f"Task #{reference.tasks[0]['id']}" in detail


def test_tab_builds(ctx):
    with gr.Blocks() as demo:
        evaluate_tab.build(ctx)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"eval-run", "eval-reference", "eval-table", "eval-chart", "eval-task", "eval-detail",
            "eval-history"} <= ids
