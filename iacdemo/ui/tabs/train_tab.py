"""Train tab: the layout, wired to `TrainController` (which holds every handler, Gradio-free).

Functions here only turn the controller's plain results into component updates and its errors into
the red error box. The live panel is a generator polling the run folder every second (as FastChat and
LLaMA-Factory do); the controller's `StreamRegistry` gives one browser tab a single poller.
"""
from __future__ import annotations

import functools
from typing import Any

import gradio as gr
from gradio.context import Context

from iacdemo.ui import train_views as views
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.state import AppContext
from iacdemo.ui.train_controller import (KEEP, LiveView, RunsView, TrainController, delete_job, export_job,
                                          get_runner, model_choices, resolve_dataset, stop_job)

# the job functions under the names other modules and tests have used since they lived here
__all__ = ["TAB_ID", "TITLE", "build", "delete_job", "export_job", "get_runner", "resolve_dataset", "stop_job"]

TAB_ID = "train"
TITLE = "Train"
PRESET_LABEL = "Quick demo (CPU): fill the form"


# ---- controller results -> component updates -------------------------------------------------------------
def runs_updates(view: RunsView | None) -> list:
    """[table, run picker, overlay picker] updates (unchanged when `view` is None)."""
    if view is None:
        return [gr.update(), gr.update(), gr.update()]
    if view.choices is None:
        return [view.table, gr.update(), gr.update()]
    pick = dict(choices=view.choices) if view.selected is KEEP else dict(choices=view.choices, value=view.selected)
    return [view.table, gr.update(**pick), gr.update(choices=view.names)]


def live_updates(view: LiveView) -> list:
    """[stats, progress, plot, log, table, run picker, overlay picker] updates for one live view."""
    if view.axes is not None:
        plot = gr.update(**view.axes.as_props())
    else:
        plot = gr.update(value=view.points) if view.points is not None else gr.update()
    return [view.stats, view.progress, plot, view.log if view.log is not None else gr.update(),
            *runs_updates(view.runs)]


# ---- layout ------------------------------------------------------------------------------------------------
def _elem_id(name: str) -> str:
    return "train-" + name.replace("_", "-")


def _widget(spec: dict[str, Any], value: Any, interactive: bool = True):
    """One form widget from a field spec: the form is generated, never written field by field."""
    common = dict(label=spec["label"], info=views.field_info(spec), elem_id=_elem_id(spec["name"]),
                  interactive=interactive)
    if spec["type"] == "bool":
        return gr.Checkbox(value=bool(value), **common)
    if spec["choices"]:
        return gr.Dropdown(choices=list(spec["choices"]), value=value, **common)
    if spec["type"] in ("int", "float"):
        return gr.Number(value=value, step=views.number_step(spec), min_width=200, **common)
    return gr.Textbox(value=value, max_lines=1, min_width=200, **common)


def _guarded(fn, n_outputs: int):
    """A handler whose first output is the error box: on failure it shows the error and leaves the other
    `n_outputs - 1` outputs as they are (a raised exception would leave them half-updated). `wraps` keeps
    `fn`'s signature, where Gradio looks for a `gr.Progress` parameter to fill in."""
    @functools.wraps(fn)
    def handler(*args):
        try:
            updates = [hide_error(), *fn(*args)]
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps serving
            updates = [show_error(exc), *[gr.update() for _ in range(n_outputs - 1)]]
        return updates if n_outputs > 1 else updates[0]  # one output takes its value, not a list
    return handler


def _progress(progress: gr.Progress):
    return lambda fraction, message: progress(fraction, desc=message)


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def build(ctx: AppContext) -> None:
    control = TrainController(ctx)
    settings = ctx.settings
    blocked = control.blocked()
    note = control.space_note()
    specs = {s["name"]: s for s in views.form_specs()}
    defaults = control.form_defaults()
    initial_runs = control.runs_view()

    gr.Markdown("LoRA continued pre-training on a docs corpus. The job runs as its own process "
                "(`python -m train.cpt`, shown under *Show command*); this page only watches it, so you "
                "can reload it or close it while it trains.", elem_classes=["hide-in-present"])
    if note:
        gr.Markdown(note, elem_id="train-space-note", elem_classes=["train-space-note"])

    widgets: dict[str, Any] = {}
    with gr.Row(equal_height=True):
        widgets["model"] = gr.Dropdown(choices=model_choices(settings), value=defaults["model"],
                                       allow_custom_value=True, label=specs["model"]["label"],
                                       info=specs["model"]["help"], elem_id="train-model", scale=3)
        widgets["dataset"] = gr.Dropdown(choices=control.datasets(), value=defaults["dataset"] or None,
                                         allow_custom_value=True, label=specs["dataset"]["label"],
                                         info="A corpus built in the Data tab (or its folder name).",
                                         elem_id="train-dataset", scale=4)
        with gr.Column(scale=2, min_width=200):
            preset_btn = gr.Button(PRESET_LABEL, elem_id="train-preset", interactive=not blocked)
            demo_data_btn = gr.Button("Build quick-demo dataset", size="sm", elem_id="train-build-demo-dataset",
                                      interactive=not blocked)
            refresh_data_btn = gr.Button("↻ Refresh datasets", size="sm", elem_id="train-refresh-datasets")
    for group, basic, advanced in views.grouped_specs():
        slug = group.lower().replace(" & ", "-").replace(" ", "-")
        with gr.Accordion(group, open=group in views.OPEN_GROUPS, elem_id=f"train-group-{slug}"):
            with gr.Row():
                for spec in basic:
                    widgets[spec["name"]] = _widget(spec, defaults[spec["name"]])
            if advanced:
                with gr.Accordion(f"More {group.lower()} settings", open=False, elem_id=f"train-group-{slug}-more"):
                    with gr.Row():
                        for spec in advanced:
                            widgets[spec["name"]] = _widget(spec, defaults[spec["name"]])
    form = [widgets[name] for name in views.form_names()]

    with gr.Accordion("Show command", open=False, elem_id="train-command-accordion"):
        command = gr.Textbox(value=control.command(defaults), label="Equivalent command line", lines=2,
                             interactive=False, buttons=["copy"], elem_id="train-command")
    with gr.Row():
        start_btn = gr.Button("Start", variant="primary", elem_id="train-start", interactive=not blocked)
        stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
        resume_btn = gr.Button("Resume selected run", elem_id="train-resume", interactive=not blocked)
    errors = error_box("train-error")
    with gr.Row():
        with gr.Column(scale=3):
            plot = gr.LinePlot(views.loss_frame([]), x="step", y="loss", color="series",
                               color_map=views.SERIES_COLORS, label="Loss", x_title="step", y_title="loss",
                               x_lim=list(views.x_range(0)), height=340, elem_id="train-loss-plot")
        with gr.Column(scale=2):
            stats = gr.HTML(views.stats_html(None), elem_id="train-stats")
            progress_bar = gr.HTML(views.progress_html(None), elem_id="train-progress")
            log_box = gr.HTML(views.log_html(""), label="Log (last lines)", elem_id="train-log")
    watched = gr.State(None)  # the run shown in the live panel (per browser tab)
    owned = gr.State([])  # runs started from this browser tab: on a Space only they may be stopped

    with gr.Accordion("Runs", open=True, elem_id="train-runs-accordion"):
        with gr.Row():
            run_pick = gr.Dropdown(choices=initial_runs.choices, label="Run", scale=4,
                                   info="Resume, watch, delete or export this run", elem_id="train-run-pick")
            with gr.Column(scale=1, min_width=180):
                watch_btn = gr.Button("Show in live panel", size="sm", elem_id="train-watch")
                refresh_runs_btn = gr.Button("↻ Refresh runs", size="sm", elem_id="train-refresh-runs")
        runs_table = gr.Dataframe(initial_runs.table, interactive=False, wrap=True, show_label=False,
                                  elem_id="train-runs")
        with gr.Row():
            overlay_pick = gr.Dropdown(choices=initial_runs.names, multiselect=True, label="Overlay loss curves of",
                                       scale=1, elem_id="train-overlay-pick")
        overlay_plot = gr.LinePlot(views.overlay_frame({}), x="step", y="loss", color="series",
                                   label="Runs compared", x_lim=list(views.x_range(0)), height=280,
                                   elem_id="train-overlay-plot")
        overlay_note = gr.Markdown("", elem_id="train-overlay-note")
        with gr.Row():
            with gr.Column(scale=1):
                confirm = gr.Checkbox(label="Yes, delete the selected run", value=False,
                                      elem_id="train-delete-confirm")
                delete_btn = gr.Button("Delete run", variant="stop", size="sm", elem_id="train-delete",
                                       interactive=not settings.on_space)
            with gr.Column(scale=2):
                export_name = gr.Textbox(label="Export folder name", placeholder="default: the run name",
                                         info=f"Merged model (merge_and_unload) saved in {settings.exports_dir}",
                                         max_lines=1, elem_id="train-export-name")
                export_btn = gr.Button("Export merged model", size="sm", elem_id="train-export",
                                       interactive=not settings.on_space)
        export_result = gr.Markdown("", elem_id="train-export-result")
    runs_outputs = [runs_table, run_pick, overlay_pick]

    # -- adapters from the controller's plain results to component updates -------------------------------
    def form_updates(values: dict[str, Any]) -> list:
        datasets = gr.update(choices=control.datasets(), value=values["dataset"])
        return [datasets if name == "dataset" else values[name] for name in views.form_names()]

    def on_preset(progress=gr.Progress()):
        values = control.preset(_progress(progress))
        return [*form_updates(values), control.command(values)]

    def on_demo_dataset(progress=gr.Progress()):
        path = control.demo_dataset(_progress(progress))  # first: the choices must include it
        return [gr.update(choices=control.datasets(), value=path)]

    def on_start(*args):
        *values, owned_runs = args
        name, owned_runs = control.start(views.values_from_widgets(values), owned_runs)
        return [name, owned_runs, runs_updates(control.runs_view(selected=name))[1]]

    def on_stream(run_name, request: gr.Request):
        for view in control.stream(run_name, _session(request)):
            yield live_updates(view)

    def on_overlay(names):
        view = control.overlay(names)
        return [gr.update(value=view.frame), view.note]

    def on_overlay_axes(names):
        try:
            return gr.update(**control.overlay(names).axes.as_props())
        except Exception:  # noqa: BLE001 - the points step already showed the error
            return gr.update()

    def on_stop(owned_runs):
        control.stop(owned_runs)
        return []

    def on_delete(name, confirmed):
        return [False, *runs_updates(control.delete(name, confirmed))]

    def on_export(name, folder, progress=gr.Progress()):
        return [control.export(name, folder, _progress(progress))]

    def on_load():
        """A (re)loaded page shows the running job, else the newest run's final state."""
        name = control.run_to_show()
        return [name, gr.update(choices=control.datasets()), *runs_updates(control.runs_view(selected=name))]

    def refresh_lists():
        """Datasets and runs as they are now: corpora get built and runs finish while a page is open."""
        control.warm_jobs()
        return [gr.update(choices=control.datasets()), *runs_updates(control.runs_view())]

    # -- wiring ------------------------------------------------------------------------------------------
    quiet = dict(api_visibility="private", show_progress="hidden")
    private = dict(api_visibility="private")
    gr.on([w.input for w in form], lambda *values: control.command(views.values_from_widgets(values)),
          inputs=form, outputs=command, trigger_mode="always_last", **quiet)
    preset_btn.click(_guarded(on_preset, 1 + len(form) + 1), outputs=[errors, *form, command], concurrency_limit=1,
                     concurrency_id="corpus-build", **private)
    demo_data_btn.click(_guarded(on_demo_dataset, 2), outputs=[errors, widgets["dataset"]], concurrency_limit=1,
                        concurrency_id="corpus-build", **private
                        ).then(lambda *values: control.command(views.values_from_widgets(values)), inputs=form,
                               outputs=command, **quiet)
    refresh_data_btn.click(lambda: gr.update(choices=control.datasets()), outputs=widgets["dataset"], **quiet)

    stream = dict(fn=on_stream, inputs=watched, outputs=[stats, progress_bar, plot, log_box, *runs_outputs],
                  concurrency_limit=None, concurrency_id="train-stream", **quiet)
    start_btn.click(_guarded(on_start, 4), inputs=[*form, owned], outputs=[errors, watched, owned, run_pick],
                    concurrency_limit=1, concurrency_id="train-start", **private).then(**stream)
    resume_btn.click(_guarded(lambda picked, owned_runs: control.resume(picked, owned_runs), 3),
                     inputs=[run_pick, owned], outputs=[errors, watched, owned],
                     concurrency_limit=1, concurrency_id="train-start", **private).then(**stream)
    stop_btn.click(_guarded(on_stop, 1), inputs=owned, outputs=[errors], **private)
    watch_btn.click(lambda name: name, inputs=run_pick, outputs=watched, **quiet).then(**stream)
    gr.on(triggers=None, fn=on_load, outputs=[watched, widgets["dataset"], *runs_outputs], **quiet).then(**stream)
    if isinstance(Context.block, gr.Tab):  # opening the tab re-reads what may have changed meanwhile
        Context.block.select(refresh_lists, outputs=[widgets["dataset"], *runs_outputs], **quiet)

    refresh_runs_btn.click(lambda: runs_updates(control.runs_view()), outputs=runs_outputs, **quiet)
    overlay_pick.change(_guarded(on_overlay, 3), inputs=overlay_pick, outputs=[errors, overlay_plot, overlay_note],
                        **quiet).then(on_overlay_axes, inputs=overlay_pick, outputs=overlay_plot, **quiet)
    delete_btn.click(_guarded(on_delete, 5), inputs=[run_pick, confirm], outputs=[errors, confirm, *runs_outputs],
                     **private)
    export_btn.click(_guarded(on_export, 2), inputs=[run_pick, export_name], outputs=[errors, export_result],
                     concurrency_limit=1, concurrency_id="train-export", **private)
