"""Experiment tab: start an experiment config and read its report (table, findings, plots) when done.

Wiring only: starting, stopping and reading the report folder are `iacdemo.experiment.launcher`.
"""
from __future__ import annotations

import gradio as gr

from iacdemo.experiment.launcher import experiment_configs, experiment_status, start_experiment, stop_experiment
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.state import AppContext

TAB_ID = "experiment"
TITLE = "Experiment"
REFRESH_SECONDS = 3.0


def _view(path: str | None, ctx: AppContext):
    if not path:
        return "Pick an experiment config.", "", "", []
    status = experiment_status(path, ctx.settings)
    line = f"**{status.name}**: {status.state} · report folder `{status.report_dir}`"
    return line, status.log_tail, status.report_md or "_No report yet._", [str(p) for p in status.plots]


def build(ctx: AppContext) -> None:
    configs = [str(p) for p in experiment_configs()]
    gr.Markdown("Corpus slice → CPT → every system measured (base, tuned, better data, RAG, repair) → a report. "
                "Finished steps are cached: starting again continues where it stopped.")
    with gr.Row():
        picked = gr.Dropdown(configs, value=configs[0] if configs else None, label="Experiment config",
                             info="One of experiments/*.toml, or type the path of your own config",
                             allow_custom_value=True, elem_id="experiment-config", scale=4)
        start = gr.Button("Start / continue", variant="primary", elem_id="experiment-start", scale=1)
        stop = gr.Button("Stop", elem_id="experiment-stop", scale=1)
    errors = error_box("experiment-error")
    status = gr.Markdown(elem_id="experiment-status")
    log = gr.Textbox(label="Progress (log tail)", lines=8, max_lines=8, elem_id="experiment-log")
    report = gr.Markdown(elem_id="experiment-report")
    plots = gr.Gallery(label="Plots", columns=2, height="auto", elem_id="experiment-plots")
    outputs = [status, log, report, plots]

    def refresh(path):
        try:
            return (*_view(path, ctx), hide_error())
        except Exception as exc:
            return gr.update(), gr.update(), gr.update(), gr.update(), show_error(exc)

    def act(action, path):
        try:
            action(path, ctx.settings)
        except Exception as exc:
            return (*[gr.update()] * 4, show_error(exc))
        return refresh(path)

    start.click(lambda p: act(start_experiment, p), picked, outputs + [errors])
    stop.click(lambda p: act(stop_experiment, p), picked, outputs + [errors])
    picked.change(refresh, picked, outputs + [errors])
    gr.Timer(REFRESH_SECONDS).tick(refresh, picked, outputs + [errors], queue=False, show_progress="hidden")
