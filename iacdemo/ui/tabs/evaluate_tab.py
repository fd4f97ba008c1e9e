"""Evaluate tab: IaC-Eval pass rates for base vs tuned vs retrieval-augmented, offline, with every answer.

The handlers translate the form into `evaluate_systems` / `evaluate_reference` calls and their
`Comparison` into views (`iacdemo.ui.evaluate_views`); generation, caching and scoring live in
`iacdemo.evaluation`. Generation uses the app's one shared model (`ctx.model_session`) with the picked
run's adapter attached, so evaluating never loads a second model.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import gradio as gr

from iacdemo.errors import ConfigError
from iacdemo.evaluation.answers import DEFAULT_MAX_NEW_TOKENS, System, estimate_generation, eval_gen_settings
from iacdemo.evaluation.comparison import (Comparison, evaluate_reference, evaluate_systems, list_comparisons,
                                           load_comparison, save_comparison)
from iacdemo.evaluation.eta import Forecast
from iacdemo.evaluation.live import DONE, ERROR, run_with_updates
from iacdemo.evaluation.tasks import Task, load_tasks, select_tasks
from iacdemo.number_input import parse_number
from iacdemo.settings import Settings
from iacdemo.terraform.real import mode_choices, resolve_mode
from iacdemo.terraform.schema import load_schema
from iacdemo.ui import evaluate_views as views
from iacdemo.ui.compare_views import default_adapter_run, labelled_adapter_runs
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.state import AppContext
from iacdemo.ui.stop_switches import StopSwitches

TAB_ID = "evaluate"
TITLE = "Evaluate"
BASE, BASE_RAG, TUNED, TUNED_RAG = "base", "base + RAG", "tuned", "tuned + RAG"
SYSTEM_CHOICES = (BASE, TUNED, BASE_RAG, TUNED_RAG)
DEFAULT_COUNT = 10
MAX_SAMPLES = 10
# A handler that lets any other exception escape never answers: a pyo3 panic is a BaseException, and
# Gradio then leaves the spinner running forever. Only these two may pass.
LET_THROUGH = (KeyboardInterrupt, SystemExit)


# ---- form -> evaluation ------------------------------------------------------------------------------------
def adapter_choices(settings: Settings, model_id: str | None = None) -> list[tuple[str, str]]:
    """Training runs that have an adapter, in the Compare tab's order and with its labels (runs of another
    base model last, saying so): (label, adapter folder)."""
    return [(label, str(run.adapter_path)) for label, run in labelled_adapter_runs(settings, model_id)]


def default_adapter(settings: Settings, model_id: str | None = None) -> str | None:
    """The Compare tab's default adapter as a folder; None when no run's adapter fits the loaded model."""
    best = default_adapter_run(settings, model_id)
    return str(best.adapter_path) if best is not None else None


def systems_from_form(picked: Sequence[str] | None, adapter: str | None) -> list[System]:
    """The systems to evaluate, in a fixed order; a tuned system needs an adapter."""
    picked = set(picked or [])
    unknown = picked - set(SYSTEM_CHOICES)
    if unknown:
        raise ConfigError(f"Unknown system(s): {', '.join(sorted(unknown))}.")
    if not picked:
        raise ConfigError("Pick at least one system to evaluate.")
    if picked & {TUNED, TUNED_RAG} and not (adapter or "").strip():
        raise ConfigError("Pick a tuned adapter (a training run) for the tuned systems, or untick them.")
    systems = []
    for choice in SYSTEM_CHOICES:
        if choice in picked:
            tuned = choice in (TUNED, TUNED_RAG)
            systems.append(System.make(adapter if tuned else None, rag=choice in (BASE_RAG, TUNED_RAG)))
    return systems


def tasks_from_form(ctx: AppContext, difficulties: Sequence[Any] | None, count: Any) -> list[Task]:
    """The first `count` tasks (0 = all) of the picked difficulty levels."""
    levels = [int(level) for level in difficulties or []]
    if not levels:
        raise ConfigError("Pick at least one difficulty level.")
    limit = parse_number("Number of tasks", count, low=0, integer=True, default=0)
    tasks = ctx.service("iac-eval-tasks", lambda: load_tasks(settings=ctx.settings))
    chosen = select_tasks(tasks, levels, limit or None)
    if not chosen:
        raise ConfigError("No task has the picked difficulty levels.")
    return chosen


def _selection(difficulties: Sequence[Any] | None, count: Any) -> dict:
    return {"difficulty": ",".join(str(d) for d in difficulties or []), "limit": count or None}


def _generation_form(ctx: AppContext, picked, adapter, difficulties, count, samples, max_new_tokens):
    systems = systems_from_form(picked, adapter)
    tasks = tasks_from_form(ctx, difficulties, count)
    n_samples = parse_number("Samples per task", samples, low=1, high=MAX_SAMPLES, integer=True)
    cap = ctx.settings.max_new_tokens_cap
    tokens = parse_number("Max new tokens", max_new_tokens, low=1, high=cap, integer=True)
    return systems, tasks, n_samples, eval_gen_settings(n_samples, tokens, settings=ctx.settings)


def run_generation(ctx: AppContext, picked: Sequence[str] | None, adapter: str | None,
                   difficulties: Sequence[Any] | None, count: Any, samples: Any, max_new_tokens: Any,
                   progress=None, stop_event: threading.Event | None = None, on_partial=None,
                   mode: str | None = None) -> Comparison:
    """Validate the form, generate and score, save; the Comparison. `on_partial` sees it task by task."""
    systems, tasks, n_samples, gen = _generation_form(ctx, picked, adapter, difficulties, count, samples,
                                                      max_new_tokens)
    comparison = evaluate_systems(tasks, systems, model_id=ctx.model_id,
                                  session_provider=lambda: ctx.model_session(progress), samples=n_samples,
                                  gen=gen, settings=ctx.settings, progress=progress, stop_event=stop_event,
                                  schema=_schema(ctx), selection=_selection(difficulties, count),
                                  on_partial=on_partial, mode=_mode(ctx, mode))
    save_comparison(comparison, ctx.settings)
    return comparison


def estimate_run(ctx: AppContext, picked: Sequence[str] | None, adapter: str | None,
                 difficulties: Sequence[Any] | None, count: Any, samples: Any, max_new_tokens: Any,
                 progress=None) -> Forecast:
    """How long "Run evaluation" with this form would take here (loads the model and times it if needed)."""
    systems, tasks, n_samples, gen = _generation_form(ctx, picked, adapter, difficulties, count, samples,
                                                      max_new_tokens)
    return estimate_generation(tasks, systems, model_id=ctx.model_id,
                               session_provider=lambda: ctx.model_session(progress), samples=n_samples,
                               gen=gen, settings=ctx.settings)


def stream_generation(ctx: AppContext, picked, adapter, difficulties, count, samples, max_new_tokens, *,
                      stop_event: threading.Event, mode: str | None = None):
    """Run an evaluation on its own thread; yields ("progress", (fraction, message)), ("partial", Comparison)
    while it runs, then ("done", Comparison) or ("error", exception). Nothing it raises escapes."""
    def work(emit):
        return run_generation(ctx, picked, adapter, difficulties, count, samples, max_new_tokens,
                              progress=lambda fraction, message: emit(("progress", (fraction, message))),
                              stop_event=stop_event, on_partial=lambda partial: emit(("partial", partial)),
                              mode=mode)

    for kind, value in run_with_updates(work, stop_event=stop_event, name="iacdemo-evaluate"):
        if kind in (DONE, ERROR):
            yield ("done" if kind == DONE else "error"), value
        else:
            yield value


def _mode(ctx: AppContext, mode: str | None) -> str:
    """The picked scoring mode (static when none is picked); real where unavailable is a clear error."""
    return resolve_mode(mode or "static", ctx.settings)


def run_reference(ctx: AppContext, difficulties: Sequence[Any] | None, count: Any, progress=None,
                  mode: str | None = None) -> Comparison:
    tasks = tasks_from_form(ctx, difficulties, count)
    comparison = evaluate_reference(tasks, settings=ctx.settings, progress=progress, schema=_schema(ctx),
                                    selection=_selection(difficulties, count), mode=_mode(ctx, mode))
    save_comparison(comparison, ctx.settings)
    return comparison


def _mode_choices(settings: Settings) -> list[tuple[str, str]]:
    return mode_choices(settings)


def _schema(ctx: AppContext):
    return load_schema(ctx.settings)


def comparison_views(comparison: Comparison | None, keep_selection: bool = False) -> list:
    """Values for: summary, results table, chart, task picker, task detail.

    `keep_selection`: while a run streams in, the task someone is reading stays picked and shown.
    """
    choices = views.task_choices(comparison)
    if keep_selection:
        return [views.summary_md(comparison), views.results_frame(comparison), views.chart_html(comparison),
                gr.update(choices=choices), gr.update()]
    first = choices[0][1] if choices else None
    return [views.summary_md(comparison), views.results_frame(comparison), views.chart_html(comparison),
            gr.update(choices=choices, value=first), views.task_detail_html(comparison, first)]


def history_update(settings: Settings, value: str | None = None) -> dict:
    return gr.update(choices=views.history_choices(list_comparisons(settings)), value=value)


# ---- per-visitor stop switches -------------------------------------------------------------------------------
def _session_key(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "default"


# ---- layout ----------------------------------------------------------------------------------------------------
def build(ctx: AppContext) -> None:
    settings = ctx.settings
    switches = ctx.service("evaluate-stop-switches", StopSwitches)
    gr.Markdown("Score models on IaC-Eval's tasks, offline: the first code block of each answer must plan "
                "(judged statically from the provider docs) and satisfy the task's Rego intent policy. "
                f"Answers come from the current model (`{ctx.model_id}`) and are cached: a rerun only scores them. "
                "On a CPU a run takes minutes; *Estimate time* says how long before you start.",
                elem_classes=["hide-in-present"])
    with gr.Row():
        with gr.Column(scale=3):
            systems = gr.CheckboxGroup(list(SYSTEM_CHOICES), value=[BASE], label="Systems",
                                       info="RAG: the top docs chunks go into IaC-Eval's RAG prompt",
                                       elem_id="eval-systems")
            with gr.Row(equal_height=True):
                adapter = gr.Dropdown(choices=adapter_choices(settings, ctx.model_id),
                                      value=default_adapter(settings, ctx.model_id),
                                      label="Tuned adapter (training run)", scale=4, elem_id="eval-adapter")
                refresh_adapters = gr.Button("↻", scale=0, min_width=50, elem_id="eval-adapter-refresh")
        with gr.Column(scale=3):
            difficulties = gr.CheckboxGroup(list(views.DIFFICULTY_LEVELS), value=list(views.DIFFICULTY_LEVELS),
                                            label="Difficulty levels", elem_id="eval-difficulty")
            count = gr.Number(value=DEFAULT_COUNT, precision=0, minimum=0, label="Number of tasks (0 = all)",
                              info="The first N tasks of the picked levels", elem_id="eval-count")
        with gr.Column(scale=2):
            samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Samples per task",
                                info="1 = greedy; more are sampled and give pass@k", elem_id="eval-samples")
            max_new_tokens = gr.Slider(16, settings.max_new_tokens_cap, value=DEFAULT_MAX_NEW_TOKENS, step=16,
                                       label="Max new tokens", elem_id="eval-max-tokens")
            scoring = gr.Radio(_mode_choices(settings), value="static", label="Scoring",
                               info="real: Terraform's own plan and OPA, where this machine has them",
                               elem_id="eval-mode")
    with gr.Row():
        run_btn = gr.Button("Run evaluation", variant="primary", elem_id="eval-run")
        reference_btn = gr.Button("Score reference answers", elem_id="eval-reference")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="eval-stop")
        estimate_btn = gr.Button("Estimate time", elem_id="eval-estimate-btn")
    estimate = gr.Markdown("", elem_id="eval-estimate")
    errors = error_box("eval-error")
    summary = gr.Markdown("", elem_id="eval-summary")
    table = gr.Dataframe(views.results_frame(None), label="Results per system", interactive=False,
                         elem_id="eval-table")
    chart = gr.HTML("", elem_id="eval-chart")
    with gr.Row():
        task_picker = gr.Dropdown(choices=[], label="Task (✓/✗ per system, in table order)", scale=1,
                                  elem_id="eval-task")
    detail = gr.HTML("", elem_id="eval-detail")
    with gr.Accordion("Earlier evaluations", open=False, elem_id="eval-history-box"):
        with gr.Row(equal_height=True):
            history = gr.Dropdown(choices=views.history_choices(list_comparisons(settings)), label="Evaluation",
                                  scale=4, elem_id="eval-history")
            refresh_history = gr.Button("↻", scale=0, min_width=50)
            open_btn = gr.Button("Open", scale=1, elem_id="eval-open")
    current = gr.State(None)

    view_outputs = [summary, table, chart, task_picker, detail]

    def unchanged() -> list:
        return [gr.update() for _ in view_outputs]

    def report_to(progress):
        return lambda fraction, message: progress(fraction, desc=message)

    def on_run(picked, adapter_dir, levels, n, n_samples, max_tokens, mode, request: gr.Request,
               progress=gr.Progress()):
        stop_event = switches.arm(_session_key(request))
        shown_partial = False
        for kind, value in stream_generation(ctx, picked, adapter_dir, levels, n, n_samples, max_tokens,
                                             stop_event=stop_event, mode=mode):
            if kind == "progress":
                progress(value[0], desc=value[1])
            elif kind == "partial":  # a task scored: the table fills while the run goes on
                yield [hide_error(), *comparison_views(value, keep_selection=shown_partial), gr.update(), gr.update()]
                shown_partial = True
            elif kind == "error":
                yield [show_error(value), *unchanged(), gr.update(), gr.update()]
            else:
                yield [hide_error(), *comparison_views(value), value, history_update(settings, value.id)]

    def on_estimate(picked, adapter_dir, levels, n, n_samples, max_tokens, progress=gr.Progress()):
        try:
            forecast = estimate_run(ctx, picked, adapter_dir, levels, n, n_samples, max_tokens,
                                    progress=report_to(progress))
        except LET_THROUGH:
            raise
        except BaseException as exc:  # noqa: BLE001
            return show_error(exc), gr.update()
        return hide_error(), forecast.text()

    def on_reference(levels, n, mode, progress=gr.Progress()):
        try:
            comparison = run_reference(ctx, levels, n, progress=report_to(progress), mode=mode)
        except LET_THROUGH:
            raise
        except BaseException as exc:  # noqa: BLE001
            return [show_error(exc), *unchanged(), gr.update(), gr.update()]
        return [hide_error(), *comparison_views(comparison), comparison, history_update(settings, comparison.id)]

    def on_stop(request: gr.Request):
        if switches.stop(_session_key(request)):
            gr.Info("Stopping after the current token; answers generated so far stay cached.")

    def on_pick(comparison, task_id):
        try:
            return hide_error(), views.task_detail_html(comparison, task_id)
        except Exception as exc:  # noqa: BLE001
            return show_error(exc), gr.update()

    def on_open(evaluation_id):
        try:
            if not evaluation_id:
                raise ConfigError("Pick an earlier evaluation to open.")
            comparison = load_comparison(evaluation_id, settings)
        except Exception as exc:  # noqa: BLE001
            return [show_error(exc), *unchanged(), gr.update()]
        return [hide_error(), *comparison_views(comparison), comparison]

    outputs = [errors, *view_outputs, current, history]
    run_btn.click(on_run, inputs=[systems, adapter, difficulties, count, samples, max_new_tokens, scoring],
                  outputs=outputs,
                  concurrency_limit=1, concurrency_id="evaluate-generate", api_visibility="private")
    reference_btn.click(on_reference, inputs=[difficulties, count, scoring], outputs=outputs, concurrency_limit=1,
                        concurrency_id="evaluate-reference", api_visibility="private")
    estimate_btn.click(on_estimate, inputs=[systems, adapter, difficulties, count, samples, max_new_tokens],
                       outputs=[errors, estimate], concurrency_limit=1, concurrency_id="evaluate-generate",
                       api_visibility="private")
    stop_btn.click(on_stop, api_visibility="private", show_progress="hidden")
    task_picker.change(on_pick, inputs=[current, task_picker], outputs=[errors, detail], api_visibility="private",
                       show_progress="hidden")
    open_btn.click(on_open, inputs=history, outputs=[errors, *view_outputs, current], api_visibility="private")
    refresh_history.click(lambda: history_update(settings), outputs=history, api_visibility="private",
                          show_progress="hidden")
    refresh_adapters.click(lambda: gr.update(choices=adapter_choices(settings, ctx.model_id)), outputs=adapter,
                           api_visibility="private", show_progress="hidden")
